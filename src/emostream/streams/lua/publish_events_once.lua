-- publish_events_once: cluster commit, step 1, in the events stream's slot: the events whose ids are in neither guard.
-- KEYS: events stream, guard of the current bucket, guard of the previous one
-- ARGV: MAXLEN of the stream, guard expiry (unix s), schema version, then per event: its id, its JSON
-- Returns the number of events published now.
local published = 0
for a = 4, #ARGV, 2 do
  local id = ARGV[a]
  if redis.call('SISMEMBER', KEYS[2], id) == 0 and redis.call('SISMEMBER', KEYS[3], id) == 0 then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'v', ARGV[3], 'data', ARGV[a + 1])
    redis.call('SADD', KEYS[2], id)
    published = published + 1
  end
end
redis.call('EXPIREAT', KEYS[2], ARGV[2])
return published

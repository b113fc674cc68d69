-- count_dropped: faces a classifier dropped, each event id counted once (the "seen" set events use too).
-- KEYS: seen, state
-- ARGV: reason, source, event_id...
-- Returns the number of ids not seen before.
local n = 0
for i = 3, #ARGV do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then n = n + 1 end
end
redis.call('HSETNX', KEYS[2], 'source', ARGV[2])
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'dropped', n)
  redis.call('HINCRBY', KEYS[2], 'dropped:' .. ARGV[1], n)
end
return n

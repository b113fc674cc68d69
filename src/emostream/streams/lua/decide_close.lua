-- decide_close: cluster close, step 1, in the session's slot: flag the session summarised and store what to publish.
-- KEYS: state, closing
-- ARGV: now, events, dropped (as the summary counted them), the stored summary to publish
-- Returns 1: flagged now; 0: flagged before (finish that close); -1: counted meanwhile (build the summary again).
if redis.call('HEXISTS', KEYS[1], 'summarised') == 1 then return 0 end
local held = redis.call('HMGET', KEYS[1], 'events', 'dropped')
if (held[1] or '0') ~= ARGV[2] or (held[2] or '0') ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[1], 'summarised', ARGV[1])
redis.call('SET', KEYS[2], ARGV[4])
return 1

-- write_track: compare-and-set of one track's document, with its outbox events and the session's media clock.
-- KEYS: track_state (active), track_ended, outbox, track_clock
-- ARGV: track, expected document ('' = absent), new document ('' = remove from active),
--       final document for the ended hash ('' = none), last offset, outbox events...
-- Returns -1 if the track has ended, 0 if its document changed meanwhile, 1 if written.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return -1 end
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
local clock = tonumber(redis.call('GET', KEYS[4]) or '-1')
if tonumber(ARGV[5]) > clock then redis.call('SET', KEYS[4], ARGV[5]) end
for i = 6, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
return 1

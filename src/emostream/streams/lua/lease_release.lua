-- lease_release: give our lease up and mark the epoch released (the next owner logs it so).
-- KEYS: lease, epoch
-- ARGV: token
-- Returns 1 if released, 0 if it was not ours.
local held = redis.call('GET', KEYS[1])
if (not held) or string.match(held, '^(.*) %d+$') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'released', '1')
return 1

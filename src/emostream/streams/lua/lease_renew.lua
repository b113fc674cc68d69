-- lease_renew: push our lease's deadline on.
-- KEYS: lease
-- ARGV: token, now_ms, lease_ms
-- Returns 1 if renewed, 0 if the lease is no longer ours.
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local token = string.match(held, '^(.*) %d+$')
if token ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. (tonumber(ARGV[2]) + tonumber(ARGV[3])), 'PX', 3 * tonumber(ARGV[3]))
return 1

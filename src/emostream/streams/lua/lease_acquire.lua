-- lease_acquire: take a source's lease if free (or ours from before a restart), bumping its epoch (the fencing token).
-- KEYS: lease, epoch
-- ARGV: token, member, now_ms, lease_ms
-- Returns {epoch, previous token, how it ended: 'released' | 'expired' | 'restarted' | ''}, or nil if held by another.
local held = redis.call('GET', KEYS[1])
local how = ''
if held then
  local token, deadline = string.match(held, '^(.*) (%d+)$')
  local member = string.match(token or '', '^(.*) [^ ]*$')
  if tonumber(deadline) > tonumber(ARGV[3]) and member ~= ARGV[2] then return nil end
  how = (member == ARGV[2]) and 'restarted' or 'expired'
end
local previous = redis.call('HGET', KEYS[2], 'owner') or ''
if how == '' and previous ~= '' then
  how = (redis.call('HGET', KEYS[2], 'released') == '1') and 'released' or 'expired'
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. (tonumber(ARGV[3]) + tonumber(ARGV[4])), 'PX', 3 * tonumber(ARGV[4]))
local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'released', '0')
return {epoch, previous, how}

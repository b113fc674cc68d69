-- count_events: one call per session and batch; every key is the session's, so one cluster slot.
-- KEYS: seen, state, emotions, minutes, buckets, tracks
-- ARGV: source, fence, number of groups G, then 5 per group (events alike in label, minute, bucket
--       and track): label, minute field, bucket field, track field, track id; then 4 per event:
--       event_id, group (1..G), weight, offset.
-- Returns -1 if ``fence`` is below the session's (a newer owner of the source counts it),
-- else one 1 (counted) or 0 (a duplicate) per event.
local fence = tonumber(ARGV[2])
if fence > 0 then
  local held = tonumber(redis.call('HGET', KEYS[2], 'fence') or '0')
  if fence < held then return -1 end
  if fence > held then redis.call('HSET', KEYS[2], 'fence', ARGV[2]) end
end
local groups = tonumber(ARGV[3])
local first_event = 4 + 5 * groups
local ids = {}
for i = first_event, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
-- Two calls per thousand events, not one per event: which ids are known, then add them all.
local known = {}
for c = 1, #ids, 1000 do
  local chunk = {unpack(ids, c, math.min(c + 999, #ids))}
  local reply = redis.call('SMISMEMBER', KEYS[1], unpack(chunk))
  for j = 1, #reply do known[c + j - 1] = reply[j] end
  redis.call('SADD', KEYS[1], unpack(chunk))
end
local fresh, here, n = {}, {}, 0
local weight, faces, first, last, first_s, last_s = {}, {}, {}, {}, {}, {}
local clock, clock_s = nil, nil
for k, id in ipairs(ids) do
  if known[k] == 1 or here[id] then
    fresh[k] = 0
  else
    here[id] = true
    fresh[k] = 1
    n = n + 1
    local i = first_event + 4 * (k - 1)
    local g, off = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 3])
    weight[g] = (weight[g] or 0) + tonumber(ARGV[i + 2])
    faces[g] = (faces[g] or 0) + 1
    if (not clock) or off > clock then clock, clock_s = off, ARGV[i + 3] end
    local t = ARGV[3 + 5 * g]
    if (not first[t]) or off < first[t] then first[t], first_s[t] = off, ARGV[i + 3] end
    if (not last[t]) or off > last[t] then last[t], last_s[t] = off, ARGV[i + 3] end
  end
end
if n == 0 then return fresh end
local function num(v) return string.format('%.17g', v) end
redis.call('HINCRBY', KEYS[2], 'events', n)
redis.call('HSETNX', KEYS[2], 'source', ARGV[1])
local counts, times, track_faces = {}, {}, {}
for g, w in pairs(weight) do
  local at = 4 + 5 * (g - 1)
  local label, t = ARGV[at], ARGV[at + 4]
  counts[label] = (counts[label] or 0) + faces[g]
  times[label] = (times[label] or 0) + w
  track_faces[t] = (track_faces[t] or 0) + faces[g]
  redis.call('HINCRBYFLOAT', KEYS[4], ARGV[at + 1], num(w))
  redis.call('HINCRBYFLOAT', KEYS[5], ARGV[at + 2], num(w))
  redis.call('HINCRBYFLOAT', KEYS[6], ARGV[at + 3], num(w))
end
for label, c in pairs(counts) do
  redis.call('HINCRBY', KEYS[3], 'count:' .. label, c)
  redis.call('HINCRBYFLOAT', KEYS[3], 'time:' .. label, num(times[label]))
end
local stored = tonumber(redis.call('HGET', KEYS[2], 'clock') or '')
if (not stored) or clock > stored then redis.call('HSET', KEYS[2], 'clock', clock_s) end
for t, c in pairs(track_faces) do
  redis.call('HINCRBY', KEYS[6], t .. ':n', c)
  local old = redis.call('HMGET', KEYS[6], t .. ':first', t .. ':last')
  if (not old[1]) or first[t] < tonumber(old[1]) then redis.call('HSET', KEYS[6], t .. ':first', first_s[t]) end
  if (not old[2]) or last[t] > tonumber(old[2]) then redis.call('HSET', KEYS[6], t .. ':last', last_s[t]) end
end
return fresh

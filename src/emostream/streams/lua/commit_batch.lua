-- commit_batch: one Redis, a classifier batch at once: each face acknowledged, then its event or its place in a
-- drop notice written only if that XACK acknowledged it (exactly once, whoever else holds the face).
-- KEYS: every stream the batch touches (ARGV refers to them by index).
-- ARGV: group, schema version, events maxlen, lifecycle maxlen, the dropped type, number of events, then per event
--       (faces key, entry id, events key, JSON); number of notices, then per notice (lifecycle key, JSON before
--       the ids, JSON after them, count, then per face: faces key, entry id, "event id").
-- Returns {classified, dropped}: the faces this call acknowledged.
local group, v, events_maxlen, lifecycle_maxlen, dropped_type = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local i, classified, dropped = 7, 0, 0
for _ = 1, tonumber(ARGV[6]) do
  local faces, id = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
  if redis.call('XACK', faces, group, id) == 1 then
    redis.call('XADD', KEYS[tonumber(ARGV[i + 2])], 'MAXLEN', '~', events_maxlen, '*', 'v', v, 'data', ARGV[i + 3])
    redis.call('XDEL', faces, id)
    classified = classified + 1
  end
  i = i + 4
end
local notices = tonumber(ARGV[i])
i = i + 1
for _ = 1, notices do
  local lifecycle, head, tail, n = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local ids = {}
  for _ = 1, n do
    local faces, id = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
    if redis.call('XACK', faces, group, id) == 1 then
      ids[#ids + 1] = ARGV[i + 2]
      redis.call('XDEL', faces, id)
    end
    i = i + 3
  end
  if #ids > 0 then
    redis.call('XADD', lifecycle, 'MAXLEN', '~', lifecycle_maxlen, '*', 'v', v, 'type', dropped_type,
      'data', head .. table.concat(ids, ',') .. tail)
    dropped = dropped + #ids
  end
end
return {classified, dropped}

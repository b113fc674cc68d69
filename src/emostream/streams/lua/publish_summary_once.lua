-- publish_summary_once: cluster close, step 2, in the sessions stream's slot: append unless the guard is set.
-- KEYS: sessions stream, guard
-- ARGV: guard expiry (s), maxlen, then the entry's field/value pairs
-- Returns 1 if appended now, 0 if published before.
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
return 1

-- KEYS: the probe hash. ARGV: its time to live in milliseconds. Answers only where the
-- store's scripts would run: a replica refuses the write (READONLY), a full server the
-- HSET (OOM), a busy one the script (BUSY); a PING would pass on each of them.
redis.call('HSET', KEYS[1], 'probe', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1

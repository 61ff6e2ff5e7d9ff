-- KEYS: window hash. ARGV: sample JSON. A fingerprint not (or no longer) known is ignored.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'sample', ARGV[1]) end
return 0

-- KEYS: silenced hash, its zset rule -> last added. ARGV: ttl (ms), cutoff (a rule last
-- added before it is forgotten), then per rule: id, count, first, last. Every rule in one
-- script: the mapping is added atomically, in one round trip.
local h, seen, ttl, cutoff = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
for i = 3, #ARGV - 3, 4 do
  local rule, first, last = ARGV[i], ARGV[i + 2], ARGV[i + 3]
  redis.call('HINCRBY', h, 'c:' .. rule, ARGV[i + 1])
  local old = redis.call('HMGET', h, 'f:' .. rule, 'l:' .. rule)
  if not old[1] or tonumber(first) < tonumber(old[1]) then
    redis.call('HSET', h, 'f:' .. rule, first)
  end
  if not old[2] or tonumber(last) > tonumber(old[2]) then
    redis.call('HSET', h, 'l:' .. rule, last)
    redis.call('ZADD', seen, last, rule)
  end
end
for _, rule in ipairs(redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. cutoff)) do
  redis.call('HDEL', h, 'c:' .. rule, 'f:' .. rule, 'l:' .. rule)
end
redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. cutoff)
redis.call('PEXPIRE', h, ttl)
redis.call('PEXPIRE', seen, ttl)
return 0

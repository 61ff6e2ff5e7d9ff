-- A process checks in (erralert._stores.fleet): it is live until the store's clock passes
-- `now + live_for`, and takes or renews its service's claim lease if nobody else holds it.
-- Keys under the hash tag {erralert:fleet}, so one Redis Cluster slot holds the fleet.
-- KEYS: members hash (id -> info JSON), the service's zset (id -> live until), its lease,
-- then one zset per robot the member posts to (id -> live until).
-- ARGV: id, info JSON, live_for (seconds), lease (milliseconds), ttl (ms) of the zsets.
-- Returns {holds lease (0/1), live processes of the service, the store's time (text), then
-- per robot its live processes}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local id, info, expires = ARGV[1], ARGV[2], now + tonumber(ARGV[3])
local members, service, lease, ttl = KEYS[1], KEYS[2], KEYS[3], ARGV[5]
local gone = redis.call('ZRANGEBYSCORE', service, '-inf', '(' .. now)
if #gone > 0 then
  redis.call('ZREM', service, unpack(gone))
  redis.call('HDEL', members, unpack(gone))
end
redis.call('HSET', members, id, info)
redis.call('ZADD', service, string.format('%.17g', expires), id)
redis.call('PEXPIRE', members, ttl)
redis.call('PEXPIRE', service, ttl)
local holds = 0
local holder = redis.call('GET', lease)
if not holder or holder == id then
  redis.call('SET', lease, id, 'PX', ARGV[4])
  holds = 1
end
local out = {holds, redis.call('ZCARD', service), string.format('%.17g', now)}
for i = 4, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. now)
  redis.call('ZADD', KEYS[i], string.format('%.17g', expires), id)
  redis.call('PEXPIRE', KEYS[i], ttl)
  out[#out + 1] = redis.call('ZCARD', KEYS[i])
end
return out

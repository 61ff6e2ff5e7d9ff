-- Run after common.lua, whose helpers are put before it (see
-- erralert._stores.redis_scripts).
-- KEYS: ends, dueq, dues, seq, dueh. ARGV: now, limit, ttl (ms), window-key prefix.
-- Settles up to `limit` ended windows with repeats, then pops up to `limit` digests:
-- {digest, its history (nil: filed by an earlier version), digest, history, ...}.
local ends, dueq, dues, seq, hist = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, limit, ttl, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local ended = redis.call('ZRANGEBYSCORE', ends, '-inf', ARGV[1], 'LIMIT', 0, limit)
for _, fp in ipairs(ended) do
  -- built here rather than passed in KEYS (unknown until the zset is read); it carries the
  -- namespace's hash tag, so it is in the same cluster slot as the KEYS
  local w = prefix .. fp
  local st = redis.call('HMGET', w, unpack(FIELDS))
  if st[7] and tonumber(st[4]) > 0 and now >= tonumber(st[3]) then
    settle(fp, w, st, tonumber(st[1]), ends, dueq, dues, seq, hist, ttl)
  else
    redis.call('ZREM', ends, fp)  -- expired, or settled by a hit already
  end
end
local ids = redis.call('ZRANGE', dueq, 0, limit - 1)
local out = {}
for _, id in ipairs(ids) do
  local payload = redis.call('HGET', dues, id)
  if payload then
    out[#out + 1] = payload
    out[#out + 1] = redis.call('HGET', hist, id)
  end
  redis.call('HDEL', dues, id)
  redis.call('HDEL', hist, id)
  redis.call('ZREM', dueq, id)
end
-- nothing due: any history left was filed for a digest an earlier version claimed
if redis.call('ZCARD', dueq) == 0 then redis.call('DEL', hist) end
return out

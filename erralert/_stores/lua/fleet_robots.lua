-- Who posts to each robot now. KEYS: members hash, then one zset per robot.
-- Returns per robot: the number of its live members, then their info JSON (false for a
-- member whose info is gone).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i = 2, #KEYS do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[i], now, '+inf')
  out[#out + 1] = #ids
  if #ids > 0 then
    for _, info in ipairs(redis.call('HMGET', KEYS[1], unpack(ids))) do out[#out + 1] = info end
  end
end
return out

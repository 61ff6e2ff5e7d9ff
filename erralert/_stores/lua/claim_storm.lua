-- Run after pacing.lua, whose helpers are put before it (see
-- erralert._stores.redis_scripts).
-- KEYS: storm, booked. ARGV: now, force (1/0), depth, ttl, then limit, period pairs.
-- Returns {0} (no summary), {1, nb} (gathering until nb), or {2, slot, field, value, ...}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local now, nb = tonumber(ARGV[1]), redis.call('HGET', KEYS[1], 'nb')
if now < tonumber(nb) and ARGV[2] ~= '1' then return {1, nb} end
local pile = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
local slot = reserve(KEYS[2], now, -1, 0, -1, read_rates(5), tonumber(ARGV[3]), ARGV[4])
local out = {2, f(slot)}
for _, v in ipairs(pile) do out[#out + 1] = v end
return out

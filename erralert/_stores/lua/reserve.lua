-- Run after pacing.lua, whose helpers are put before it (see
-- erralert._stores.redis_scripts).
-- KEYS: booked. ARGV: now, horizon, keep, max_waiting, depth, ttl, then limit, period pairs.
local slot = reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
                     tonumber(ARGV[4]), read_rates(7), tonumber(ARGV[5]), ARGV[6])
if slot == nil then return false end
return f(slot)

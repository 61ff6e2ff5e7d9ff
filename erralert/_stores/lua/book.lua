-- Add sends booked elsewhere (by a process while Redis was down: erralert._stores.degraded)
-- to a channel's ledger, in time order, keeping the last `depth` as `reserve` does.
-- KEYS: booked. ARGV: depth, ttl (ms), then the times.
local times = {}
for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do times[#times + 1] = tonumber(v) end
for i = 3, #ARGV do times[#times + 1] = tonumber(ARGV[i]) end
table.sort(times)
local first = math.max(1, #times - tonumber(ARGV[1]) + 1)
redis.call('DEL', KEYS[1])
for i = first, #times do redis.call('RPUSH', KEYS[1], string.format('%.17g', times[i])) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return #times - first + 1

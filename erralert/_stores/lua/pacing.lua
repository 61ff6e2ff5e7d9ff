-- The outbox's per-channel state, under a hash tag of its own per channel ("lane"):
-- `booked` — a list of the sends booked (times, ascending, the last `depth` kept);
-- `storm` — a hash: the storm summary being gathered (since, until, nb = claimable from,
-- window, total, sample, n = groups listed; per error `c:<fp>` its count, `m:<fp>` its
-- [title, culprit] as JSON, `t:<fp>` its type, and for a listed new error `f:<fp>` its
-- follow-up, erralert._stores.piles.followup_record as JSON: its presence marks the error
-- new). `reserve` is erralert._core.pacing.reserve, rule for rule.
local function f(x) return string.format('%.17g', x) end
local function next_slot(ts, rates, earliest)
  local t, n = earliest, #ts
  if n > 0 and ts[n] > t then t = ts[n] end
  for _, r in ipairs(rates) do
    if n >= r[1] then
      local free = ts[n - r[1] + 1] + r[2]
      if free > t then t = free end
    end
  end
  return t
end
-- horizon < 0: unlimited; max_waiting < 0: no limit. Returns the slot or nil.
local function reserve(key, now, horizon, keep, max_waiting, rates, depth, ttl)
  if #rates == 0 then return now end
  local times = {}
  for i, v in ipairs(redis.call('LRANGE', key, 0, -1)) do times[i] = tonumber(v) end
  if max_waiting >= 0 then
    local waiting = 0
    for i = #times, 1, -1 do
      if times[i] > now then waiting = waiting + 1 else break end
    end
    if waiting >= max_waiting then return nil end
  end
  local slot = next_slot(times, rates, now)
  if horizon >= 0 then
    local stop = now + horizon
    if slot > stop then return nil end
    local trial = {}
    for i, v in ipairs(times) do trial[i] = v end
    trial[#trial + 1] = slot
    for _ = 1, keep do
      local extra = next_slot(trial, rates, now)
      if extra > stop then return nil end
      trial[#trial + 1] = extra
    end
  end
  redis.call('RPUSH', key, f(slot))
  redis.call('LTRIM', key, -depth, -1)
  redis.call('PEXPIRE', key, ttl)
  return slot
end
local function read_rates(first)
  local rates = {}
  for i = first, #ARGV, 2 do rates[#rates + 1] = {tonumber(ARGV[i]), tonumber(ARGV[i + 1])} end
  return rates
end

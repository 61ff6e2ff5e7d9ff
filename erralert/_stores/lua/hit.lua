-- Run after common.lua, whose helpers are put before it (see
-- erralert._stores.redis_scripts).
-- KEYS: window hash, ends, dueq, dues, seq, dueh. ARGV: now, window, ttl (ms), fingerprint,
-- the source (the counting process; '': unknown), then the release (absent: none). Returns {start, end, length} (the open window, as text)
-- for a repeat; for an alert {total, is_new} and the history before it: since, latest,
-- first release, last release (nil: none) — and since after it.
local w, ends, dueq, dues, seq, hist = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, len, ttl, fp = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local src, rel = ARGV[5], ARGV[6]
local st = redis.call('HMGET', w, unpack(FIELDS))
local total = tonumber(st[7]) or 0
if st[7] then
  local wlen, start, stop = tonumber(st[1]), tonumber(st[2]), tonumber(st[3])
  local count = tonumber(st[4])
  if now >= stop and count > 0 then
    start, stop = settle(fp, w, st, len, ends, dueq, dues, seq, hist, ttl)
    wlen, count = len, 0
  end
  if now < stop then
    -- a repeat; a time before the start (clocks disagree between hosts) goes to bucket 0
    local bucket = math.floor((now - start) * 10 / wlen)
    if bucket >= 10 then bucket = 9 elseif bucket < 0 then bucket = 0 end
    redis.call('HINCRBY', w, 'h' .. bucket, 1)
    redis.call('HINCRBY', w, 'total', 1)
    redis.call('HINCRBY', w, 'count', 1)
    if count == 0 then
      redis.call('HSET', w, 'first', ARGV[1], 'last', ARGV[1])
      -- the window's first repeat: from now on its end is a deadline
      redis.call('ZADD', ends, f(stop), fp)
      redis.call('PEXPIRE', ends, ttl)
    elseif now > tonumber(st[6]) then
      redis.call('HSET', w, 'last', ARGV[1])
    elseif now < tonumber(st[5]) then
      redis.call('HSET', w, 'first', ARGV[1])
    end
    note(w, st, ARGV[1], ARGV[1], rel)
    note_origin(w, st, start, src, rel)
    redis.call('PEXPIRE', w, ttl)
    return {f(start), f(stop), f(wlen)}
  end
end
-- no window open: open one at `now` and alert
local before = {total, st[7] and 0 or 1, st[19] or '0', false, st[21], st[22]}
if st[7] then before[4] = latest_of(st) end
local since = note(w, st, ARGV[1], ARGV[1], rel)
total = total + 1
redis.call('HSET', w, 'window', ARGV[2], 'start', ARGV[1], 'end', f(now + len),
           'total', total, unpack(ZEROS))
redis.call('PEXPIRE', w, ttl)
before[1] = total
before[7] = since
return before

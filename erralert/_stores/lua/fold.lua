-- Run after common.lua, whose helpers are put before it (see
-- erralert._stores.redis_scripts).
-- KEYS: window hash, ends, dueq, dues, seq, dueh. ARGV: now, ttl (ms), fingerprint, then the
-- batch: window start, window end, count, first, last, h0..h9, source (the counting
-- process; '': unknown), release (absent: none).
-- `WindowSlot.fold`, rule for rule: into its window while the hash still has it; else,
-- after settling an ended window, into the open window (first bucket) or, when none is
-- open, as a digest of its own. Either way the batch joins the history (after a settling:
-- that digest is of what came before).
local w, ends, dueq, dues, seq, hist = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, ttl, fp = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local bstart, bend, n = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local src, rel = ARGV[19], ARGV[20]
local st = redis.call('HMGET', w, unpack(FIELDS))
local function merge(early, count, stop)
  if early then
    redis.call('HINCRBY', w, 'h0', n)
  else
    for i = 0, 9 do
      local v = tonumber(ARGV[9 + i])
      if v > 0 then redis.call('HINCRBY', w, 'h' .. i, v) end
    end
  end
  redis.call('HINCRBY', w, 'count', n)
  redis.call('HINCRBY', w, 'total', n)
  if count == 0 then
    redis.call('HSET', w, 'first', ARGV[7], 'last', ARGV[8])
    redis.call('ZADD', ends, f(stop), fp)
    redis.call('PEXPIRE', ends, ttl)
  else
    if tonumber(ARGV[7]) < tonumber(st[5]) then redis.call('HSET', w, 'first', ARGV[7]) end
    if tonumber(ARGV[8]) > tonumber(st[6]) then redis.call('HSET', w, 'last', ARGV[8]) end
  end
  redis.call('PEXPIRE', w, ttl)
end
if n <= 0 then return 0 end
local total = tonumber(st[7]) or 0
if st[7] then
  local start, stop, count = tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
  if start == bstart and stop == bend then
    note(w, st, ARGV[7], ARGV[8], rel)
    merge(false, count, stop)
    note_origin(w, st, start, src, rel)
    return 0
  end
  if now >= stop and count > 0 then
    start, stop = settle(fp, w, st, tonumber(st[1]), ends, dueq, dues, seq, hist, ttl)
    count = 0
  end
  if now < stop then
    note(w, st, ARGV[7], ARGV[8], rel)
    merge(true, count, stop)
    note_origin(w, st, start, src, rel)  -- after a settling: another window's are none
    return 0
  end
end
-- no window open (or the fingerprint forgotten): the repeats are a digest of their own
local since, seen, frel, lrel = note(w, st, ARGV[7], ARGV[8], rel)
total = total + n
local mine = {f(bend - bstart), ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], tostring(total),
              st[8]}
for i = 0, 9 do mine[9 + i] = ARGV[9 + i] end
mine[19], mine[20], mine[21], mine[22] = since, seen, frel, lrel
if st[7] then
  redis.call('HSET', w, 'total', total)
else
  -- remembered, so that `total` goes on from here, with no window ever opened (as a new
  -- WindowSlot has none): the batch's may not have ended yet, but the next hit alerts
  redis.call('HSET', w, 'window', '0', 'start', '-inf', 'end', '-inf', 'total', total,
             unpack(ZEROS))
end
redis.call('PEXPIRE', w, ttl)
local origins = origins_of(nil, f(bstart))
add_origin(origins, src, rel)
push_due(fp, mine, origins, dueq, dues, seq, hist, ttl)
return 1

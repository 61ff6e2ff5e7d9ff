-- Shared Lua helpers. `f` writes a double so that Python's float() reads back the same
-- double (Lua's tostring keeps only 14 digits). `push_due` files a digest of the window in
-- `st` (the fields read by HMGET below) under a fresh id, oldest window end first.
local function f(x) return string.format('%.17g', x) end
local FIELDS = {'window', 'start', 'end', 'count', 'first', 'last', 'total', 'sample',
                'h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9',
                'since', 'seen', 'frel', 'lrel', 'orig'}
local ZEROS = {'count', 0, 'h0', 0, 'h1', 0, 'h2', 0, 'h3', 0, 'h4', 0, 'h5', 0, 'h6', 0,
               'h7', 0, 'h8', 0, 'h9', 0}
-- the latest occurrence of the fingerprint in `st`: a hash written by an earlier version
-- has no `seen`, and then its latest known one stands in
local function latest_of(st)
  if st[20] then return st[20] end
  if st[6] and tonumber(st[6]) > tonumber(st[2]) then return st[6] end
  return st[2]
end
-- `WindowSlot._seen`: occurrences from `first` to `last` (text) under release `rel` (nil:
-- none) join the history of hash `w` (`st`: its fields before). Returns the history after:
-- since, seen, first release, last release (false: none).
local function note(w, st, first, last, rel)
  if not st[7] then
    if rel then
      redis.call('HSET', w, 'since', first, 'seen', last, 'frel', rel, 'lrel', rel)
    else
      redis.call('HSET', w, 'since', first, 'seen', last)
    end
    return first, last, rel or false, rel or false
  end
  local since, seen, lrel = st[19] or '0', latest_of(st), st[22]
  if tonumber(last) >= tonumber(seen) then
    seen, lrel = last, rel or false
    if rel then
      redis.call('HSET', w, 'seen', last, 'lrel', rel)
    else
      redis.call('HSET', w, 'seen', last)
      redis.call('HDEL', w, 'lrel')
    end
  end
  if tonumber(first) < tonumber(since) then
    since = first
    redis.call('HSET', w, 'since', first)
  end
  return since, seen, st[21], lrel
end
-- `Origins` (erralert._stores.origins), rule for rule: where the repeats of a window came
-- from, kept in its field 'orig' as JSON tagged with its start (`w`, as f() writes it);
-- origins tagged with another start are an earlier window's, and read as none.
local MAX_SOURCES, MAX_RELEASES = 64, 8
local function origins_of(text, start)
  if text then
    local ok, o = pcall(cjson.decode, text)
    if ok and type(o) == 'table' and o.w == start then
      o.p, o.h, o.r, o.m = o.p or {}, o.h or {}, o.r or {}, o.m or ''
      return o
    end
  end
  return {w = start, p = {}, h = {}, r = {}, m = ''}
end
local function has(list, value)
  for _, kept in ipairs(list) do
    if kept == value then return true end
  end
  return false
end
local function put(o, list, value, bound, flag)
  if has(list, value) then return false end
  if #list < bound then
    list[#list + 1] = value
    return true
  end
  if string.find(o.m, flag, 1, true) then return false end
  o.m = o.m .. flag
  return true
end
-- `Origins.add`: one more occurrence (or batch) from process `src` ('': unknown) under
-- release `rel` (nil: unknown). Returns whether anything changed.
local function add_origin(o, src, rel)
  local changed = false
  if src ~= '' and not has(o.p, src) then
    changed = put(o, o.p, src, MAX_SOURCES, 'p')
    local at = string.find(src, '@', 1, true)
    local host = at and string.sub(src, at + 1) or ''
    changed = put(o, o.h, host, MAX_SOURCES, 'h') or changed
  end
  if rel and put(o, o.r, rel, MAX_RELEASES, 'r') then changed = true end
  return changed
end
-- the occurrence (or batch) joins the origins of the window of hash `w` that opened at
-- `start` (a number; `st`: its fields before)
local function note_origin(w, st, start, src, rel)
  local o = origins_of(st[23], f(start))
  if add_origin(o, src, rel) then redis.call('HSET', w, 'orig', cjson.encode(o)) end
end
-- `o`: the origins of the window filed (see `origins_of`)
local function push_due(fp, st, o, dueq, dues, seq, hist, ttl)
  local id = string.format('%016d', redis.call('INCR', seq))
  local parts = {st[4], st[7], st[5], st[6], st[1], st[2], st[3]}
  for i = 9, 18 do parts[#parts + 1] = st[i] or '0' end
  parts[#parts + 1] = tostring(#fp)
  -- the fingerprint and the sample (JSON, may be absent) close the record unseparated:
  -- the length before them says where the fingerprint ends
  local payload = table.concat(parts, ' ') .. ' ' .. fp .. (st[8] or '')
  redis.call('ZADD', dueq, st[3], id)
  redis.call('HSET', dues, id, payload)
  local history = {s = st[19] or '0'}
  if st[21] then history.f = st[21] end
  if st[22] then history.l = st[22] end
  if #o.p > 0 or #o.r > 0 then  -- as `origins.record_of` files them
    history.o = {hosts = #o.h, processes = #o.p, releases = o.r, more = o.m}
  end
  redis.call('HSET', hist, id, cjson.encode(history))
  redis.call('PEXPIRE', dueq, ttl)
  redis.call('PEXPIRE', dues, ttl)
  redis.call('PEXPIRE', hist, ttl)
  redis.call('PEXPIRE', seq, ttl)
end
-- settle the ended window `st` of hash `w` (count > 0): digest, then the next window
-- opens at once where it ended, empty, of length `len`
local function settle(fp, w, st, len, ends, dueq, dues, seq, hist, ttl)
  push_due(fp, st, origins_of(st[23], f(tonumber(st[2]))), dueq, dues, seq, hist, ttl)
  local start = tonumber(st[3])
  redis.call('HSET', w, 'window', f(len), 'start', st[3], 'end', f(start + len), unpack(ZEROS))
  redis.call('ZREM', ends, fp)
  return start, start + len
end

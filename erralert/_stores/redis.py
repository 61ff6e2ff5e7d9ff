"""The service-wide store: window state in Redis (``redis://host:6379/0``).

Every process on every host that points at the same Redis (and namespace) shares the
counts, so a service alerts once per window however many hosts it runs on, and each due
digest is handed to exactly one of them. Needs the ``redis`` package
(``pip install 'erralert[redis]'``).

One round trip per decision: ``hit`` is a Lua script run atomically by Redis (EVALSHA),
implementing ``WindowSlot.record`` rule for rule — the cross-check test feeds the same
random hits to both and compares every answer. Floats travel as ``repr`` text and are
written back with ``%.17g``, so the Lua side computes on the very same doubles as Python.

Keys (all under the hash tag ``{erralert:<namespace>}``, so one namespace lives in one
Redis Cluster slot and every script touches a single slot):

* ``…:w:<fingerprint>`` — hash: the window (``window start end count first last total``,
  histogram ``h0``…``h9``, ``sample``) and the fingerprint's history (``since`` and
  ``seen``: its first and latest occurrence; ``frel`` and ``lrel``: their releases, absent
  when none); expires ``retention`` seconds after its last hit, which bounds what is
  remembered (``total``, the history, ``is_new``);
* ``…:ends`` — zset fingerprint → window end, for windows holding repeats (what
  ``claim_due`` must settle);
* ``…:dueq`` / ``…:dues`` — zset id → window end and hash id → digest: the digests due,
  oldest first; ``…:dueh`` — hash id → the history a digest carries (JSON; apart from
  ``…:dues`` so that an earlier version still reads the digests); ``…:seq`` — the id
  counter. These expire after ``retention`` seconds without writes;
* ``…:silenced`` — hash: per routing rule id, the occurrences it silenced (``c:<rule>``)
  and when they were first and last added (``f:<rule>``, ``l:<rule>``); ``…:silenced:seen``
  — zset rule id → last added, so that a rule that silenced nothing for ``retention``
  seconds is forgotten. Both expire like the digests.

Outage: when Redis cannot be reached (connection refused, timeout) the store falls back to
an in-process ``MemoryStore`` — alerting keeps working, one warning is logged — and tries
Redis again at most every ``retry_after`` seconds; when it answers, one line is logged and
Redis is used again. Counts kept in memory during the outage are *not* merged into Redis:
the windows the fallback holds are handed over as digests by the next ``claim_due`` (or
``drain``), and a fingerprint alerted during the outage may be alerted again by Redis.
Silenced counts added during an outage wait in the process and are added to Redis when it
is back (lost only if the process ends first).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from erralert._core import pacing
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.notice import Occurrences
from erralert._core.safelog import safe_logger
from erralert._grouping.throttle import BUCKETS, repeat_in
from erralert._stores.base import (
    MAX_STORM_GROUPS,
    OTHER_ERRORS,
    Batch,
    Due,
    Hit,
    Pile,
    Silenced,
    StormEntry,
)
from erralert._stores.history import History, status_of
from erralert._stores.memory import MemoryStore
from erralert._stores.piles import PileState, followup_record
from erralert.channels.base import Rate

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.retry import Retry
except ImportError:  # pragma: no cover - exercised only without the extra installed
    redis = None  # type: ignore[assignment]

__all__ = ["RedisStore", "mask_url_password"]

logger = safe_logger()

_MAX_DEFERRED = 10_000  # windows whose repeats may wait for Redis to come back

_OUTAGE = (RedisConnectionError, RedisTimeoutError) if redis is not None else ()

# Shared Lua helpers. `f` writes a double so that Python's float() reads back the same
# double (Lua's tostring keeps only 14 digits). `push_due` files a digest of the window in
# `st` (the fields read by HMGET below) under a fresh id, oldest window end first.
_LUA_COMMON = """
local function f(x) return string.format('%.17g', x) end
local FIELDS = {'window', 'start', 'end', 'count', 'first', 'last', 'total', 'sample',
                'h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9',
                'since', 'seen', 'frel', 'lrel'}
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
local function push_due(fp, st, dueq, dues, seq, hist, ttl)
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
  redis.call('HSET', hist, id, cjson.encode(history))
  redis.call('PEXPIRE', dueq, ttl)
  redis.call('PEXPIRE', dues, ttl)
  redis.call('PEXPIRE', hist, ttl)
  redis.call('PEXPIRE', seq, ttl)
end
-- settle the ended window `st` of hash `w` (count > 0): digest, then the next window
-- opens at once where it ended, empty, of length `len`
local function settle(fp, w, st, len, ends, dueq, dues, seq, hist, ttl)
  push_due(fp, st, dueq, dues, seq, hist, ttl)
  local start = tonumber(st[3])
  redis.call('HSET', w, 'window', f(len), 'start', st[3], 'end', f(start + len), unpack(ZEROS))
  redis.call('ZREM', ends, fp)
  return start, start + len
end
"""

# KEYS: window hash, ends, dueq, dues, seq, dueh. ARGV: now, window, ttl (ms), fingerprint,
# then the release (absent: none). Returns {start, end, length} (the open window, as text)
# for a repeat; for an alert {total, is_new} and the history before it: since, latest,
# first release, last release (nil: none) — and since after it.
_HIT = (
    _LUA_COMMON
    + """
local w, ends, dueq, dues, seq, hist = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, len, ttl, fp = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local rel = ARGV[5]
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
"""
)

# KEYS: window hash, ends, dueq, dues, seq, dueh. ARGV: now, ttl (ms), fingerprint, then the
# batch: window start, window end, count, first, last, h0..h9, release (absent: none).
# `WindowSlot.fold`, rule for rule: into its window while the hash still has it; else,
# after settling an ended window, into the open window (first bucket) or, when none is
# open, as a digest of its own. Either way the batch joins the history (after a settling:
# that digest is of what came before).
_FOLD = (
    _LUA_COMMON
    + """
local w, ends, dueq, dues, seq, hist = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, ttl, fp = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local bstart, bend, n = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
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
    note(w, st, ARGV[7], ARGV[8], ARGV[19])
    merge(false, count, stop)
    return 0
  end
  if now >= stop and count > 0 then
    start, stop = settle(fp, w, st, tonumber(st[1]), ends, dueq, dues, seq, hist, ttl)
    count = 0
  end
  if now < stop then
    note(w, st, ARGV[7], ARGV[8], ARGV[19])
    merge(true, count, stop)
    return 0
  end
end
-- no window open (or the fingerprint forgotten): the repeats are a digest of their own
local since, seen, frel, lrel = note(w, st, ARGV[7], ARGV[8], ARGV[19])
total = total + n
local mine = {f(bend - bstart), ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], tostring(total),
              st[8]}
for i = 0, 9 do mine[9 + i] = ARGV[9 + i] end
mine[19], mine[20], mine[21], mine[22] = since, seen, frel, lrel
if st[7] then
  redis.call('HSET', w, 'total', total)
else
  -- remembered as a closed window, so that `total` goes on from here
  redis.call('HSET', w, 'window', mine[1], 'start', ARGV[4], 'end', ARGV[5], 'total', total,
             unpack(ZEROS))
end
redis.call('PEXPIRE', w, ttl)
push_due(fp, mine, dueq, dues, seq, hist, ttl)
return 1
"""
)

# KEYS: ends, dueq, dues, seq, dueh. ARGV: now, limit, ttl (ms), window-key prefix.
# Settles up to `limit` ended windows with repeats, then pops up to `limit` digests:
# {digest, its history (nil: filed by an earlier version), digest, history, ...}.
_CLAIM = (
    _LUA_COMMON
    + """
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
"""
)

# The outbox's per-channel state, under a hash tag of its own per channel ("lane"):
# `booked` — a list of the sends booked (times, ascending, the last `depth` kept);
# `storm` — a hash: the storm summary being gathered (since, until, nb = claimable from,
# window, total, sample, n = groups listed; per error `c:<fp>` its count, `m:<fp>` its
# [title, culprit] as JSON, `t:<fp>` its type, and for a listed new error `f:<fp>` its
# follow-up, erralert._stores.piles.followup_record as JSON: its presence marks the error
# new). `reserve` is erralert._core.pacing.reserve, rule for rule.
_LUA_PACING = """
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
"""

# KEYS: booked. ARGV: now, horizon, keep, max_waiting, depth, ttl, then limit, period pairs.
_RESERVE = (
    _LUA_PACING
    + """
local slot = reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
                     tonumber(ARGV[4]), read_rates(7), tonumber(ARGV[5]), ARGV[6])
if slot == nil then return false end
return f(slot)
"""
)

# KEYS: storm. ARGV: now, gather, fingerprint, [title, culprit] JSON, count, window,
# sample JSON, max groups, other-errors key, ttl, type, follow-up JSON ('' unless new).
_ADD_TO_STORM = """
local key, now, fp = KEYS[1], tonumber(ARGV[1]), ARGV[3]
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'since', ARGV[1], 'until', ARGV[1], 'window', ARGV[6],
             'nb', string.format('%.17g', now + tonumber(ARGV[2])), 'sample', ARGV[7],
             'total', 0, 'n', 0)
end
if redis.call('HEXISTS', key, 'c:' .. fp) == 0 then
  if tonumber(redis.call('HGET', key, 'n')) >= tonumber(ARGV[8]) then
    fp = ARGV[9]  -- beyond the listed errors: counted together
    redis.call('HSETNX', key, 'm:' .. fp, '["other errors",""]')
  else
    redis.call('HSET', key, 'm:' .. fp, ARGV[4])
    redis.call('HINCRBY', key, 'n', 1)
  end
end
if fp ~= ARGV[9] then
  if ARGV[11] ~= '' then redis.call('HSETNX', key, 't:' .. fp, ARGV[11]) end
  -- at most one per listed error: bounded like the list
  if ARGV[12] ~= '' then redis.call('HSETNX', key, 'f:' .. fp, ARGV[12]) end
end
redis.call('HINCRBY', key, 'c:' .. fp, ARGV[5])
redis.call('HINCRBY', key, 'total', ARGV[5])
if now > tonumber(redis.call('HGET', key, 'until')) then
  redis.call('HSET', key, 'until', ARGV[1])
end
redis.call('PEXPIRE', key, ARGV[10])
return 0
"""

# KEYS: storm, booked. ARGV: now, force (1/0), depth, ttl, then limit, period pairs.
# Returns {0} (no summary), {1, nb} (gathering until nb), or {2, slot, field, value, ...}.
_CLAIM_STORM = (
    _LUA_PACING
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local now, nb = tonumber(ARGV[1]), redis.call('HGET', KEYS[1], 'nb')
if now < tonumber(nb) and ARGV[2] ~= '1' then return {1, nb} end
local pile = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
local slot = reserve(KEYS[2], now, -1, 0, -1, read_rates(5), tonumber(ARGV[3]), ARGV[4])
local out = {2, f(slot)}
for _, v in ipairs(pile) do out[#out + 1] = v end
return out
"""
)

# KEYS: window hash. ARGV: sample JSON. A fingerprint not (or no longer) known is ignored.
_PUT_SAMPLE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'sample', ARGV[1]) end
return 0
"""

# KEYS: silenced hash, its zset rule -> last added. ARGV: ttl (ms), cutoff (a rule last
# added before it is forgotten), then per rule: id, count, first, last. Every rule in one
# script: the mapping is added atomically, in one round trip.
_COUNT_SILENCED = """
local h, seen, ttl, cutoff = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
for i = 3, #ARGV - 3, 4 do
  local rule, first, last = ARGV[i], ARGV[i + 2], ARGV[i + 3]
  redis.call('HINCRBY', h, 'c:' .. rule, ARGV[i + 1])
  local old = redis.call('HMGET', h, 'f:' .. rule, 'l:' .. rule)
  if not old[1] or tonumber(first) < tonumber(old[1]) then
    redis.call('HSET', h, 'f:' .. rule, first)
  end
  if not old[2] or tonumber(last) > tonumber(old[2]) then
    redis.call('HSET', h, 'l:' .. rule, last)
    redis.call('ZADD', seen, last, rule)
  end
end
for _, rule in ipairs(redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. cutoff)) do
  redis.call('HDEL', h, 'c:' .. rule, 'f:' .. rule, 'l:' .. rule)
end
redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. cutoff)
redis.call('PEXPIRE', h, ttl)
redis.call('PEXPIRE', seen, ttl)
return 0
"""


def mask_url_password(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for errors and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))
    except ValueError:
        return "<unparsable redis URL>"


class RedisStore:
    """``Store`` shared by every process and host that uses the same Redis and namespace.

    Thread-safe (redis-py's connection pool; the outage state behind a lock) and fork-safe
    (the pool re-opens its connections in a child). Commands are never retried by the
    client: a retried ``hit`` whose first attempt did run would count twice, or turn the
    alert it made into a repeat."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "erralert",
        retention: float = 7 * 24 * 3600.0,
        timeout: float = 2.0,
        retry_after: float = 5.0,
    ) -> None:
        if redis is None:
            raise ConfigError(
                "store redis:// needs the redis package: pip install 'erralert[redis]'"
            )
        masked = mask_url_password(url)
        if not namespace or "{" in namespace or "}" in namespace:
            # braces would end the hash tag early and scatter the keys over cluster slots
            raise ConfigError(
                f"redis store: namespace must be non-empty and without braces: {namespace!r}"
            )
        for name, value in (
            ("retention", retention),
            ("timeout", timeout),
            ("retry_after", retry_after),
        ):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"redis store: {name} must be positive seconds, got {value!r}")
        self.url = masked  # never the password
        self.namespace = namespace
        self.retention = float(retention)
        self.timeout = float(timeout)
        self.retry_after = float(retry_after)
        try:
            self._client: Any = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        except ValueError as exc:
            raise ConfigError(f"redis store {masked!r}: {str(exc).replace(url, masked)}") from None
        tag = "{erralert:" + namespace + "}"
        self._prefix = f"{tag}:w:"
        self._shared = [
            f"{tag}:ends",
            f"{tag}:dueq",
            f"{tag}:dues",
            f"{tag}:seq",
            f"{tag}:dueh",
        ]
        self._silenced_keys = [f"{tag}:silenced", f"{tag}:silenced:seen"]
        self._ttl = str(max(1, int(self.retention * 1000)))  # PEXPIRE: whole milliseconds
        self._hit = self._client.register_script(_HIT)
        self._claim = self._client.register_script(_CLAIM)
        self._fold = self._client.register_script(_FOLD)
        self._put_sample = self._client.register_script(_PUT_SAMPLE)
        self._reserve = self._client.register_script(_RESERVE)
        self._add_to_storm = self._client.register_script(_ADD_TO_STORM)
        self._claim_storm = self._client.register_script(_CLAIM_STORM)
        self._count_silenced = self._client.register_script(_COUNT_SILENCED)
        self._lock = threading.Lock()
        self._fallback: MemoryStore | None = None  # set while Redis is unreachable
        self._retry_at = 0.0  # time.monotonic() when Redis may be tried again
        self._leftover: list[Due] = []  # the fallback's digests, after Redis came back
        # repeats of Redis windows counted during an outage, folded in when it is back
        self._deferred: dict[tuple[str, float], Batch] = {}
        # silenced counts added during an outage, per rule id, added to Redis when it is back
        self._held_silenced: dict[str, Silenced] = {}

    @classmethod
    def from_url(cls, url: str, *, namespace: str | None = None) -> RedisStore:
        """``redis://[[user]:password@]host[:port][/db]`` (``rediss://`` for TLS); options
        ``?namespace=<name>&retention=<seconds>&timeout=<seconds>``. ``namespace``: the
        default when the URL names none (the alerter passes its ``service``)."""
        masked = mask_url_password(url)
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (only to have a bad port raise ValueError here)
        except ValueError:
            raise ConfigError(f"redis store: malformed URL {masked!r}") from None
        if parts.scheme.lower() not in ("redis", "rediss"):
            raise ConfigError(f"not a redis store URL: {masked!r} (expected redis://host:6379/0)")
        if not parts.hostname:
            raise ConfigError(f"redis store URL needs a host: {masked!r}")
        db = parts.path.lstrip("/")
        if db and not db.isdigit():
            raise ConfigError(f"redis store: database must be a number, got {db!r} in {masked!r}")
        options: dict[str, Any] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "namespace":
                options[name] = value
            elif name in ("retention", "timeout"):
                try:
                    options[name] = float(value)
                except ValueError:
                    raise ConfigError(
                        f"redis store: {name} must be a number of seconds, got {value!r}"
                    ) from None
            else:
                raise ConfigError(f"redis store: unknown option {name!r} in {masked!r}")
        if namespace and "namespace" not in options:
            options["namespace"] = namespace
        plain = urlunsplit(parts._replace(query=urlencode([])))
        return cls(plain, **options)

    # -- Store -----------------------------------------------------------------------------
    def hit(self, key: str, now: float, window: float, release: str | None = None) -> Hit:
        """Record one occurrence and decide: one EVALSHA, atomic across every host."""
        if not window > 0:  # also refuses NaN; checked here so a refusal leaves no trace
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        fallback = self._outage(now)
        if fallback is not None:
            return fallback.hit(key, now, window, release)
        keys = [self._prefix + key, *self._shared]
        args = [repr(now), repr(window), self._ttl, key]
        if release is not None:
            args.append(release)
        try:
            answer = self._hit(keys=keys, args=args)
        except _OUTAGE as exc:
            return self._fail(exc).hit(key, now, window, release)
        if isinstance(answer[0], bytes):  # a repeat: the window that is open
            start, end, length = answer
            return repeat_in(float(start), float(end), float(length))
        total, is_new, since, latest, first_release, last_release, since_now = answer
        before = (
            None
            if is_new
            else History(
                first_seen=float(since),
                last_seen=float(latest),
                total=int(total) - 1,
                first_release=_text(first_release),
                last_release=_text(last_release),
            )
        )
        occurrences = Occurrences(
            count=1,
            total=int(total),
            first_seen=now,
            last_seen=now,
            window=window,
            is_new=before is None,
            window_start=now,
            window_end=now + window,  # the same double the script stored
            status=status_of(before, release),
            since=float(since_now),
            previous=None if before is None else before.last_seen,
            first_release=release if before is None else before.first_release,
            last_release=None if before is None else before.last_release,
        )
        return Hit(alert=True, occurrences=occurrences)

    def fold(self, batches: Sequence[Batch], now: float) -> None:
        """Add repeats counted in a process (see ``WindowSlot.fold``): one script per batch,
        atomic each, all sent in one pipeline — one round trip per fold."""
        if not batches:
            return
        fallback = self._outage(now)
        if fallback is not None:
            self._defer(batches, fallback, now)
            return
        pipe = self._client.pipeline(transaction=False)
        for batch in batches:
            args = [
                repr(now),
                self._ttl,
                batch.key,
                repr(batch.window_start),
                repr(batch.window_end),
                str(batch.count),
                repr(batch.first_seen),
                repr(batch.last_seen),
                *(str(n) for n in batch.histogram),
            ]
            if batch.release is not None:
                args.append(batch.release)
            self._fold(keys=[self._prefix + batch.key, *self._shared], args=args, client=pipe)
        try:
            pipe.execute()
        except _OUTAGE as exc:
            # whether any script ran is unknown; folding them again when Redis is back may
            # count a batch twice, dropping them would lose it: overstate, never hide
            self._defer(batches, self._fail(exc), now)

    def _defer(self, batches: Sequence[Batch], fallback: MemoryStore, now: float) -> None:
        """During an outage: repeats of a window the fallback opened go to the fallback;
        repeats of a Redis window wait (merged per window, bounded) to be folded into
        Redis when it is back — the fallback knows neither their window nor their sample,
        and would hand them out as a digest a second."""
        own = [b for b in batches if fallback.has_window(b.key, b.window_start)]
        if own:
            fallback.fold(own, now)
        with self._lock:
            for batch in batches:
                if fallback.has_window(batch.key, batch.window_start):
                    continue
                slot = (batch.key, batch.window_start)
                kept = self._deferred.get(slot)
                if kept is not None:
                    self._deferred[slot] = kept.merged(batch)
                elif len(self._deferred) < _MAX_DEFERRED:
                    self._deferred[slot] = batch
                else:  # too many windows waiting: the fallback reports them, unsampled
                    fallback.fold([batch], now)

    def put_sample(self, key: str, sample: Event) -> None:
        """Keep ``sample`` (as JSON) in ``key``'s window, to show with its digests."""
        text = _encode(sample.to_dict())
        fallback = self._outage(None)
        if fallback is not None:
            fallback.put_sample(key, sample)
            return
        try:
            self._put_sample(keys=[self._prefix + key], args=[text])
        except _OUTAGE as exc:
            self._fail(exc).put_sample(key, sample)

    def claim_due(self, now: float, limit: int = 1000) -> list[Due]:
        """Settle the windows that ended by ``now`` and hand over up to ``limit`` digests,
        oldest first, each removed as it is handed over (no other caller gets it). During
        and just after an outage, the fallback's digests come along."""
        if limit <= 0:
            return []
        fallback = self._outage(now)
        local = self._take_leftover()
        if fallback is not None:
            return local + fallback.claim_due(now, limit)
        try:
            payloads = self._claim(
                keys=self._shared, args=[repr(now), str(limit), self._ttl, self._prefix]
            )
        except _OUTAGE as exc:
            return local + self._fail(exc).claim_due(now, limit)
        pairs = zip(payloads[::2], payloads[1::2], strict=True)  # digest, its history
        return local + [_load_due(payload, history) for payload, history in pairs]

    def drain(self, now: float) -> list[Due]:
        """Nothing from Redis — its open windows stay for the other hosts; only the counts
        kept in this process during an outage (the fallback's, and repeats of Redis windows
        still waiting for Redis), which no one else can see."""
        with self._lock:
            fallback, self._fallback = self._fallback, None
            leftover, self._leftover = self._leftover, []
            deferred, self._deferred = list(self._deferred.values()), {}
        if fallback is None:
            return leftover
        if deferred:  # Redis is still down at shutdown: report them from here
            fallback.fold(deferred, now)
        return leftover + fallback.drain(now)

    def reserve(
        self,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        horizon: float,
        *,
        keep: int = 0,
        max_waiting: int | None = None,
    ) -> float | None:
        """Book one send to ``lane`` over the sends every host booked: one EVALSHA."""
        if not rates:
            return now
        fallback = self._outage(now)
        if fallback is not None:
            return fallback.reserve(lane, now, rates, horizon, keep=keep, max_waiting=max_waiting)
        args = [
            repr(now),
            repr(horizon) if math.isfinite(horizon) else "-1",
            str(keep),
            str(-1 if max_waiting is None else max_waiting),
            str(pacing.depth(rates)),
            self._ttl,
            *_rate_args(rates),
        ]
        try:
            slot = self._reserve(keys=[self._lane(lane) + ":booked"], args=args)
        except _OUTAGE as exc:
            return self._fail(exc).reserve(
                lane, now, rates, horizon, keep=keep, max_waiting=max_waiting
            )
        return None if slot is None else float(slot)

    def add_to_storm(
        self, lane: str, entry: StormEntry, sample: Event, now: float, gather: float
    ) -> None:
        """Fold ``entry`` into ``lane``'s storm summary: one EVALSHA."""
        fallback = self._outage(now)
        if fallback is not None:
            fallback.add_to_storm(lane, entry, sample, now, gather)
            return
        event = sample.to_dict()
        args = [
            repr(now),
            repr(gather),
            entry.fingerprint,
            _encode([entry.title, entry.culprit, entry.code]),
            str(entry.count),
            repr(entry.window),
            _encode(event),
            str(MAX_STORM_GROUPS),
            OTHER_ERRORS,
            self._ttl,
            entry.type,
            _encode(followup_record(entry, event)) if entry.is_new else "",
        ]
        try:
            self._add_to_storm(keys=[self._lane(lane) + ":storm"], args=args)
        except _OUTAGE as exc:
            self._fail(exc).add_to_storm(lane, entry, sample, now, gather)

    def claim_storm(
        self,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        *,
        force: bool = False,
        followups: int = 0,
    ) -> Pile | float | None:
        """Take ``lane``'s storm summary with a slot booked for it: one EVALSHA, so exactly
        one host gets it. During an outage, the fallback's summary (if any)."""
        fallback = self._outage(now)
        if fallback is not None:
            return fallback.claim_storm(lane, now, rates, force=force, followups=followups)
        base = self._lane(lane)
        args = [
            repr(now),
            "1" if force else "0",
            str(max(1, pacing.depth(rates))),
            self._ttl,
            *_rate_args(rates),
        ]
        try:
            answer = self._claim_storm(keys=[base + ":storm", base + ":booked"], args=args)
        except _OUTAGE as exc:
            return self._fail(exc).claim_storm(lane, now, rates, force=force, followups=followups)
        state = int(answer[0])
        if state == 0:
            return None
        if state == 1:
            return float(answer[1])
        return _load_pile(float(answer[1]), answer[2:], followups)

    def next_due(self) -> float | None:
        """None: other hosts open windows at any time; the worker polls ``claim_due``."""
        return None

    def count_silenced(self, counts: Mapping[str, int], now: float) -> None:
        """Add silenced occurrences per rule id: one EVALSHA for the whole mapping. While
        Redis is down they wait in this process (never raising) and are added when it is
        back."""
        added = {rule: Silenced(count, now, now) for rule, count in counts.items() if count > 0}
        if not added:
            return
        if self._outage(now) is not None:
            self._hold_silenced(added)
            return
        self._push_silenced(added, now)

    def silenced(self) -> dict[str, Silenced]:
        """Every rule's silenced occurrences, as every host of the namespace added them (and
        the counts still waiting in this process for Redis): one HGETALL, tried even during
        an outage. Raises redis' ``ConnectionError`` / ``TimeoutError`` when Redis cannot be
        reached: the totals are unknown then, and no fallback can stand in for them."""
        try:
            flat = self._client.hgetall(self._silenced_keys[0])
        except _OUTAGE as exc:
            self._fail(exc)
            raise
        totals = _load_silenced(flat)
        with self._lock:
            held = dict(self._held_silenced)
        for rule, record in held.items():
            kept = totals.get(rule)
            totals[rule] = record if kept is None else kept.merged(record)
        return totals

    def close(self) -> None:
        """Release this process's connections (a later call re-opens them)."""
        self._client.close()

    def _push_silenced(self, added: Mapping[str, Silenced], now: float) -> None:
        args = [self._ttl, repr(now - self.retention)]
        for rule, record in added.items():
            args += [rule, str(record.count), repr(record.first_seen), repr(record.last_seen)]
        try:
            self._count_silenced(keys=self._silenced_keys, args=args)
        except _OUTAGE as exc:
            # whether the script ran is unknown; adding them again when Redis is back may
            # count them twice, dropping them would lose them: overstate, never hide
            self._fail(exc)
            self._hold_silenced(added)

    def _hold_silenced(self, added: Mapping[str, Silenced]) -> None:
        """During an outage: keep ``added`` in this process (one record per rule)."""
        with self._lock:
            held = self._held_silenced
            for rule, record in added.items():
                kept = held.get(rule)
                held[rule] = record if kept is None else kept.merged(record)

    def _lane(self, lane: str) -> str:
        # a hash tag per channel: its two keys share a cluster slot, channels spread out
        return "{erralert:" + self.namespace + ":lane:" + lane + "}"

    # -- outage ----------------------------------------------------------------------------
    def _outage(self, now: float | None) -> MemoryStore | None:
        """The fallback while Redis is down; None when Redis is to be used. During an
        outage, a call with a ``now`` at least ``retry_after`` seconds after the last
        attempt probes Redis (one PING) and, if it answers, ends the outage."""
        if self._fallback is None:  # the common case, without the lock
            return None
        with self._lock:
            fallback = self._fallback
            if fallback is None or now is None or time.monotonic() < self._retry_at:
                return fallback
            self._retry_at = time.monotonic() + self.retry_after
            try:
                self._client.ping()
            except _OUTAGE:
                return fallback
            self._fallback = None
            # not merged into Redis: the fallback's open windows become digests at `now`,
            # handed over by the next claim_due (or drain)
            self._leftover.extend(fallback.drain(now))
            deferred, self._deferred = list(self._deferred.values()), {}
            held, self._held_silenced = self._held_silenced, {}
        logger.warning("erralert: redis store %s is reachable again; using it", self.url)
        if deferred:  # the repeats of Redis windows counted during the outage
            self.fold(deferred, now)
        if held:  # the silenced counts added during the outage
            if self._fallback is None:
                self._push_silenced(held, now)
            else:  # down again already (the fold failed): no second wait for a timeout
                self._hold_silenced(held)
        return None

    def _fail(self, exc: Exception) -> MemoryStore:
        """Redis just failed: switch to (or keep) the in-process fallback."""
        with self._lock:
            self._retry_at = time.monotonic() + self.retry_after
            if self._fallback is None:
                self._fallback = MemoryStore()
                logger.warning(
                    "erralert: redis store %s is unreachable (%s); counting in this process "
                    "until it is back (retrying every %g s)",
                    self.url,
                    type(exc).__name__,
                    self.retry_after,
                )
            return self._fallback

    def _take_leftover(self) -> list[Due]:
        if not self._leftover:
            return []
        with self._lock:
            leftover, self._leftover = self._leftover, []
        return leftover


# -- wire format ---------------------------------------------------------------------------

# one encoder, built once (json.dumps builds a new one per call when given separators)
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _rate_args(rates: Sequence[Rate]) -> list[str]:
    return [part for rate in rates for part in (str(rate.limit), repr(rate.period))]


def _load_pile(slot: float, flat: list[bytes], followups: int) -> Pile:
    """A storm hash as HGETALL returns it (field, value, …) → the claimed ``Pile``, with
    up to ``followups`` of its new errors."""
    fields = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat) - 1, 2)}
    groups: dict[str, list[Any]] = {}
    records: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        if name.startswith("c:"):
            fp = name[2:]
            # [title, culprit, code]; an earlier version wrote no code
            title, culprit, *rest = json.loads(fields.get("m:" + fp, b'["?", ""]'))
            kind = fields.get("t:" + fp, b"").decode()
            code = str(rest[0]) if rest else ""
            groups[fp] = [title, culprit, int(value), kind, "f:" + fp in fields, code]
        elif name.startswith("f:"):
            # unreadable (written by another version): no follow-up for it, still listed
            with contextlib.suppress(ValueError):
                records[name[2:]] = json.loads(value)
    try:
        sample = json.loads(fields.get("sample", b"null"))
    except ValueError:
        sample = None
    pile = PileState(
        since=float(fields["since"]),
        not_before=float(fields["nb"]),
        window=float(fields["window"]),
        sample=sample,
        until=float(fields["until"]),
        total=int(fields["total"]),
        groups=groups,
        followups=records,
    )
    return pile.claimed(slot, followups)


def _load_silenced(flat: dict[bytes, bytes]) -> dict[str, Silenced]:
    """The silenced hash as HGETALL returns it → rule id → ``Silenced``."""
    fields = {name.decode(): value for name, value in flat.items()}
    out = {}
    for name, value in fields.items():
        if name.startswith("c:"):
            rule = name[2:]
            out[rule] = Silenced(
                count=int(value),
                first_seen=float(fields.get("f:" + rule, b"0")),
                last_seen=float(fields.get("l:" + rule, b"0")),
            )
    return out


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _load_due(payload: bytes, history: bytes | None) -> Due:
    """A digest as the Lua ``push_due`` wrote it: 17 numbers, the fingerprint's length in
    bytes, then the fingerprint and the sample JSON (possibly empty) back to back; and its
    history (JSON ``{"s": since, "f": first release, "l": last release}``; None when an
    earlier version filed the digest)."""
    *head, rest = payload.split(b" ", 18)
    count, total, first, last, window, start, end = head[:7]
    histogram = tuple(int(x) for x in head[7 : 7 + BUCKETS])
    size = int(head[7 + BUCKETS])
    key, sample = rest[:size].decode(), rest[size:]
    past = {} if history is None else json.loads(history)
    occurrences = Occurrences(
        count=int(count),
        total=int(total),
        first_seen=float(first),
        last_seen=float(last),
        window=float(window),
        is_new=False,
        window_start=float(start),
        window_end=float(end),
        histogram=histogram,
        status="recurring",
        since=float(past.get("s", 0.0)),
        first_release=past.get("f"),
        last_release=past.get("l"),
    )
    return Due(key=key, sample=_load_sample(sample), occurrences=occurrences)


def _load_sample(text: bytes) -> Event | None:
    if not text:
        return None
    try:
        return Event.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError):
        # written by another erralert version, say: the digest still goes out, sampleless
        return None

"""The service-wide store: window state in Redis (``redis://host:6379/0``).

Every process on every host that points at the same Redis (and namespace) shares the
counts, so a service alerts once per window however many hosts it runs on, and each due
digest is handed to exactly one of them. Needs the ``redis`` package
(``pip install 'erralert[redis]'``).

One round trip per decision: ``hit`` is a Lua script run atomically by Redis (EVALSHA),
implementing ``WindowSlot.record`` rule for rule — the cross-check test feeds the same
random hits to both and compares every answer. Floats travel as ``repr`` text and are
written back with ``%.17g``, so the Lua side computes on the very same doubles as Python.
The scripts are ``erralert/_stores/lua/*.lua`` (loaded by ``erralert._stores.redis_scripts``);
their arguments and replies are encoded and read back in ``erralert._stores.redis_wire``.

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

A channel's keys are not in the namespace: its hash tag is ``{erralert:lane:<lane>}``, the
lane being a digest of the robot's URL (``Channel.key``), so that every service posting to
one robot books its sends under one budget and gathers one storm summary:

* ``…:booked`` — the sends booked under the platform's rates;
* ``…:storm`` — hash: the storm summary being gathered (``erralert._stores.piles``).

Outage: when Redis cannot be reached (connection refused, timeout) or refuses commands for
a while (``READONLY`` after a failover, ``LOADING``, ``OOM``, ``BUSY`` …: see
``erralert._stores.redis_errors``) the store falls back to an in-process ``MemoryStore``
and tries Redis again at most every ``retry_after`` seconds (see
``erralert._stores.redis_outage`` for what is kept, and what is lost, meanwhile).
Meanwhile each process books sends under its share of every robot's budget, and the sends
it booked are added to Redis' ledgers when it is back (``erralert._stores.degraded``).

The fleet's check-ins, the claim lease and who posts to which robot are
``erralert._stores.redis_fleet``'s (keys under ``{erralert:fleet}``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from erralert._core import pacing
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.notice import Occurrences
from erralert._core.pacing import Rate
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
from erralert._stores.codec import encode
from erralert._stores.degraded import DegradedLedger
from erralert._stores.fleet import Member, RobotUse
from erralert._stores.history import History, status_of
from erralert._stores.memory import MemoryStore
from erralert._stores.piles import followup_record
from erralert._stores.redis_calls import Script, evalsha_each, probe
from erralert._stores.redis_clock import StoreClock
from erralert._stores.redis_connect import adopt, connect
from erralert._stores.redis_errors import REDIS_ERRORS
from erralert._stores.redis_fleet import RedisFleet
from erralert._stores.redis_outage import Backlog, Outage
from erralert._stores.redis_scripts import script
from erralert._stores.redis_urls import mask_url_password, store_options
from erralert._stores.redis_wire import load_due, load_pile, load_silenced, rate_args, text_of
from erralert._stores.windows import repeat_in

try:
    import redis
except ImportError:  # pragma: no cover - exercised only without the extra installed
    redis = None  # type: ignore[assignment]

__all__ = ["RedisStore", "mask_url_password"]


class RedisStore:
    """``Store`` shared by every process and host that uses the same Redis and namespace.

    Thread-safe (redis-py's connection pool; the outage state behind a lock) and fork-safe
    (the pool re-opens its connections in a child). Commands are never retried by the
    client: a retried ``hit`` whose first attempt did run would count twice, or turn the
    alert it made into a repeat. ``outage``: whether Redis is being stood in for, and what
    waits for it (``erralert._stores.redis_outage.Outage``)."""

    shared = True

    def __init__(
        self,
        url: str | Any,
        *,
        namespace: str = "erralert",
        retention: float = 7 * 24 * 3600.0,
        timeout: float = 2.0,
        retry_after: float = 5.0,
        clock: str = "store",
    ) -> None:
        """``url``: a store URL without erralert's own options (``from_url`` reads those;
        the forms and connection options: ``erralert._stores.redis_urls``), or a
        ``redis.Redis`` / ``redis.cluster.RedisCluster`` object the app built, used as it
        is — its timeouts and retries (``timeout`` is then not used)."""
        if redis is None:
            raise ConfigError(
                "store redis:// needs the redis package: pip install 'erralert[redis]'"
            )
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
        self.namespace = namespace
        self.retention = float(retention)
        self.timeout = float(timeout)
        self.retry_after = float(retry_after)
        if isinstance(url, str):
            self.url = mask_url_password(url)  # never the password
            self._client: Any = connect(url, self.timeout)
        else:
            self.url = adopt(url)
            self._client = url
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
        self._hit = Script(self._client, script("hit"))
        self._claim = Script(self._client, script("claim"))
        self._fold = Script(self._client, script("fold"))
        self._put_sample = Script(self._client, script("put_sample"))
        self._reserve = Script(self._client, script("reserve"))
        self._add_to_storm = Script(self._client, script("add_to_storm"))
        self._claim_storm = Script(self._client, script("claim_storm"))
        self._count_silenced = Script(self._client, script("count_silenced"))
        # what tells that an outage is over: a write, where the store's scripts write
        self._probe = probe(self._client, f"{tag}:probe")
        # whether Redis is stood in for, and what waits for it
        self.outage = Outage(self.url, self.retry_after)
        self._book = Script(self._client, script("book"))
        # check-ins, and whether this process claims (see erralert._stores.fleet)
        self._fleet = RedisFleet(self._client, namespace, self._ttl)
        # what this process books while Redis is down: its share of each robot's budget
        self._degraded = DegradedLedger(self._fleet.roll.sharing)
        # this host's clock against Redis' (see erralert._stores.redis_clock)
        self._clock = StoreClock(self.url, correct=clock == "store")

    @classmethod
    def from_url(cls, url: str, *, namespace: str | None = None) -> RedisStore:
        """A store URL (``redis://``, ``rediss://``, ``redis+sentinel://``,
        ``redis+cluster://``, ``valkey…``: see ``erralert._stores.redis_urls``) with
        erralert's options ``?namespace=<name>&retention=<seconds>&timeout=<seconds>``
        ``&clock=store|local`` (``erralert._stores.redis_clock``)
        besides the connection's. ``namespace``: the default when the URL names none (the
        alerter passes its ``service``)."""
        connection, options = store_options(url)
        if namespace and "namespace" not in options:
            options["namespace"] = namespace
        return cls(connection, **options)

    # -- Store -----------------------------------------------------------------------------
    def hit(
        self,
        key: str,
        now: float,
        window: float,
        release: str | None = None,
        source: str | None = None,
    ) -> Hit:
        """Record one occurrence and decide: one EVALSHA, atomic across every host."""
        if not window > 0:  # also refuses NaN; checked here so a refusal leaves no trace
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        fallback = self._stand_in(now)
        if fallback is not None:
            return fallback.hit(key, now, window, release, source)
        clock = self._clock
        keys = [self._prefix + key, *self._shared]
        args = [repr(clock.store(now)), repr(window), self._ttl, key, source or ""]
        if release is not None:
            args.append(release)
        try:
            answer = self._hit(keys=keys, args=args)
        except REDIS_ERRORS as exc:
            return self.outage.fail(exc).hit(key, now, window, release, source)
        if isinstance(answer[0], bytes):  # a repeat: the window that is open
            start, end, length = answer
            return repeat_in(clock.local(float(start)), clock.local(float(end)), float(length))
        total, is_new, since, latest, first_release, last_release, since_now = answer
        before = (
            None
            if is_new
            else History(
                first_seen=clock.local(float(since)),
                last_seen=clock.local(float(latest)),
                total=int(total) - 1,
                first_release=text_of(first_release),
                last_release=text_of(last_release),
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
            since=clock.local(float(since_now)),
            previous=None if before is None else before.last_seen,
            first_release=release if before is None else before.first_release,
            last_release=None if before is None else before.last_release,
        )
        return Hit(alert=True, occurrences=occurrences)

    def fold(self, batches: Sequence[Batch], now: float) -> None:
        """Add repeats counted in a process (see ``WindowSlot.fold``): one script per batch,
        atomic each, all sent in one pipeline — one round trip per fold (two more when the
        server lost its scripts: SCRIPT LOAD, and the batches it refused sent again)."""
        if not batches:
            return
        fallback = self._stand_in(now)
        if fallback is not None:
            self.outage.defer(batches, fallback, now)
            return
        at = self._clock.store
        calls = []
        for batch in batches:
            args = [
                repr(at(now)),
                self._ttl,
                batch.key,
                repr(at(batch.window_start)),
                repr(at(batch.window_end)),
                str(batch.count),
                repr(at(batch.first_seen)),
                repr(at(batch.last_seen)),
                *(str(n) for n in batch.histogram),
                batch.source or "",
            ]
            if batch.release is not None:
                args.append(batch.release)
            calls.append(([self._prefix + batch.key, *self._shared], args))
        try:
            replies = evalsha_each(self._client, self._fold, calls)
        except REDIS_ERRORS as exc:
            # whether any script ran is unknown; folding them again when Redis is back may
            # count a batch twice, dropping them would lose it: overstate, never hide
            self.outage.defer(batches, self.outage.fail(exc), now)
            return
        failed = [(b, r) for b, r in zip(batches, replies, strict=True) if isinstance(r, Exception)]
        if failed:  # error replies: those scripts stopped at (or before) their first write
            self.outage.defer([b for b, _ in failed], self.outage.fail(failed[0][1]), now)

    def put_sample(self, key: str, sample: Event) -> None:
        """Keep ``sample`` (as JSON) in ``key``'s window, to show with its digests."""
        text = encode(sample.to_dict())
        fallback = self._fallback(None)
        if fallback is not None:
            fallback.put_sample(key, sample)
            return
        try:
            self._put_sample(keys=[self._prefix + key], args=[text])
        except REDIS_ERRORS as exc:
            self.outage.fail(exc).put_sample(key, sample)

    def claim_due(self, now: float, limit: int = 1000) -> list[Due]:
        """Settle the windows that ended by ``now`` and hand over up to ``limit`` digests,
        oldest first, each removed as it is handed over (no other caller gets it). During
        and just after an outage, the fallback's digests come along."""
        if limit <= 0:
            return []
        fallback = self._fallback(now)
        local = self.outage.take_leftover()
        if fallback is not None:
            return local + fallback.claim_due(now, limit)
        roll = self._fleet.roll
        member = roll.check_in_due(now)
        if member is not None:
            try:
                self._check_in(member, now)
            except REDIS_ERRORS as exc:
                return local + self.outage.fail(exc).claim_due(now, limit)
        if not roll.may_claim(now):  # another process of the service holds the lease
            return local
        clock = self._clock
        try:
            payloads = self._claim(
                keys=self._shared,
                args=[repr(clock.store(now)), str(limit), self._ttl, self._prefix],
            )
        except REDIS_ERRORS as exc:
            return local + self.outage.fail(exc).claim_due(now, limit)
        pairs = zip(payloads[::2], payloads[1::2], strict=True)  # digest, its history
        return local + [clock.local_due(load_due(payload, history)) for payload, history in pairs]

    def drain(self, now: float) -> list[Due]:
        """Nothing from Redis — its open windows stay for the other hosts; only the counts
        kept in this process during an outage (the fallback's, and repeats of Redis windows
        still waiting for Redis), which no one else can see."""
        return self.outage.drain(now)

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
        fallback = self._stand_in(now)
        if fallback is not None:
            return self._degraded.reserve(
                fallback, lane, now, rates, horizon, keep=keep, max_waiting=max_waiting
            )
        settling = self._degraded.settling(lane, now)
        if settling is not None:  # just after an outage: still on this process's share
            slot = self._degraded.reserve(
                settling, lane, now, rates, horizon, keep=keep, max_waiting=max_waiting
            )
            if slot is not None:
                self._push_booked({lane: (pacing.depth(rates), [slot])})
            return slot
        clock = self._clock
        args = [
            repr(clock.store(now)),
            repr(horizon) if math.isfinite(horizon) else "-1",
            str(keep),
            str(-1 if max_waiting is None else max_waiting),
            str(pacing.depth(rates)),
            self._ttl,
            *rate_args(rates),
        ]
        try:
            slot = self._reserve(keys=[self._lane(lane) + ":booked"], args=args)
        except REDIS_ERRORS as exc:
            fallback = self.outage.fail(exc)
            return self._degraded.reserve(
                fallback, lane, now, rates, horizon, keep=keep, max_waiting=max_waiting
            )
        return None if slot is None else clock.local(float(slot))

    def add_to_storm(
        self, lane: str, entry: StormEntry, sample: Event, now: float, gather: float
    ) -> None:
        """Fold ``entry`` into ``lane``'s storm summary: one EVALSHA."""
        fallback = self._fallback(now)
        if fallback is None:  # (a MemoryStore with nothing in it is falsy: no `or` here)
            fallback = self._degraded.settling(lane, now)
        if fallback is not None:
            fallback.add_to_storm(lane, entry, sample, now, gather)
            return
        event = sample.to_dict()
        args = [
            repr(self._clock.store(now)),
            repr(gather),
            entry.fingerprint,
            encode([entry.title, entry.culprit, entry.code]),
            str(entry.count),
            repr(entry.window),
            encode(event),
            str(MAX_STORM_GROUPS),
            OTHER_ERRORS,
            self._ttl,
            entry.type,
            encode(followup_record(entry, event)) if entry.is_new else "",
        ]
        try:
            self._add_to_storm(keys=[self._lane(lane) + ":storm"], args=args)
        except REDIS_ERRORS as exc:
            self.outage.fail(exc).add_to_storm(lane, entry, sample, now, gather)

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
        fallback = self._fallback(now)
        if fallback is not None:
            return self._degraded.claim_storm(
                fallback, lane, now, rates, force=force, followups=followups
            )
        gathered = self._degraded.gathered(lane)
        if gathered is not None:  # after an outage: a summary gathered in it is claimed there
            result = self._degraded.claim_storm(
                gathered, lane, now, rates, force=force, followups=followups
            )
            if isinstance(result, Pile):
                self._push_booked({lane: (pacing.depth(rates), [result.slot])})
            if result is not None:
                return result
        base = self._lane(lane)
        clock = self._clock
        args = [
            repr(clock.store(now)),
            "1" if force else "0",
            str(max(1, pacing.depth(rates))),
            self._ttl,
            *rate_args(rates),
        ]
        try:
            answer = self._claim_storm(keys=[base + ":storm", base + ":booked"], args=args)
        except REDIS_ERRORS as exc:
            fallback = self.outage.fail(exc)
            return self._degraded.claim_storm(
                fallback, lane, now, rates, force=force, followups=followups
            )
        state = int(answer[0])
        if state == 0:
            return None
        if state == 1:
            return clock.local(float(answer[1]))
        return clock.local_pile(load_pile(float(answer[1]), answer[2:], followups))

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
        if self._fallback(now) is not None:
            self.outage.hold_silenced(added)
            return
        self._push_silenced(added, now)

    def silenced(self) -> dict[str, Silenced]:
        """Every rule's silenced occurrences, as every host of the namespace added them (and
        the counts still waiting in this process for Redis): one HGETALL, tried even during
        an outage. Raises redis' ``ConnectionError`` / ``TimeoutError`` when Redis cannot be
        reached: the totals are unknown then, and no fallback can stand in for them."""
        try:
            flat = self._client.hgetall(self._silenced_keys[0])
        except REDIS_ERRORS as exc:
            self.outage.fail(exc)
            raise
        totals = {rule: self._clock.local_silenced(r) for rule, r in load_silenced(flat).items()}
        for rule, record in self.outage.held_silenced().items():
            kept = totals.get(rule)
            totals[rule] = record if kept is None else kept.merged(record)
        return totals

    def join(self, member: Member) -> None:
        """Check in as ``member`` from now on (see ``erralert._stores.fleet``): only the
        holder of the service's lease claims digests; the others only fold their counts."""
        self._fleet.roll.join(member)

    def robots(self, lanes: Sequence[str]) -> dict[str, RobotUse]:
        """Who posts to each of ``lanes`` (every namespace's live members): one EVALSHA.
        Raises redis' errors when Redis cannot be reached, like ``silenced``."""
        try:
            return self._fleet.robots(lanes)
        except REDIS_ERRORS as exc:
            self.outage.fail(exc)
            raise

    def close(self) -> None:
        """Leave the fleet (another process takes the lease at once) and release this
        process's connections (a later call re-opens them, and checks in again)."""
        member = self._fleet.roll.member
        if member is not None and not self.outage.active:
            self._fleet.roll.join(member)  # a later call checks in afresh
            # if it cannot be told, its membership and lease expire by themselves
            with contextlib.suppress(*REDIS_ERRORS):
                self._fleet.leave(member)
        self._client.close()

    def _push_silenced(self, added: Mapping[str, Silenced], now: float) -> None:
        at = self._clock.store
        args = [self._ttl, repr(at(now) - self.retention)]
        for rule, record in added.items():
            first, last = repr(at(record.first_seen)), repr(at(record.last_seen))
            args += [rule, str(record.count), first, last]
        try:
            self._count_silenced(keys=self._silenced_keys, args=args)
        except REDIS_ERRORS as exc:
            # whether the script ran is unknown; adding them again when Redis is back may
            # count them twice, dropping them would lose them: overstate, never hide
            self.outage.fail(exc)
            self.outage.hold_silenced(added)

    def _check_in(self, member: Member, now: float) -> None:
        """Check in (one round trip); the answer says how far this host's clock is off —
        its wall clock, read around the call: a caller's ``now`` may be a moment it chose
        (``claim_due`` is asked for what was due a little earlier)."""
        before = time.time()
        roll = self._fleet.check_in(member, now)
        if roll.clock is not None:
            self._clock.observe(roll.clock, (before + time.time()) / 2)

    def _stand_in(self, now: float) -> MemoryStore | None:
        """The fallback while Redis is down, or when a member's first check-in finds it
        down; None when Redis is to be used."""
        fallback = self._fallback(now)
        return fallback if fallback is not None else self._measure(now)

    def _measure(self, now: float) -> MemoryStore | None:
        """A member's first call: check in first, so that its very first times are in the
        store's clock. The fallback if Redis cannot be reached, else None."""
        member = self._fleet.roll.member
        if self._clock.measured or member is None:
            return None
        try:
            self._check_in(member, now)
        except REDIS_ERRORS as exc:
            return self.outage.fail(exc)
        return None

    def _push_booked(self, booked: Mapping[str, tuple[int, list[float]]]) -> None:
        """Add sends booked on this process's share to the channels' ledgers: those of an
        outage when it is over, each one while its lane settles after it."""
        for lane, (depth, times) in booked.items():
            if not times:
                continue
            try:
                self._book(
                    keys=[self._lane(lane) + ":booked"],
                    args=[str(depth), self._ttl, *(repr(self._clock.store(t)) for t in times)],
                )
            except REDIS_ERRORS as exc:
                self.outage.fail(exc)
                return

    def _lane(self, lane: str) -> str:
        # a hash tag per channel: its two keys share a cluster slot, channels spread out.
        # Not in the namespace: a robot's budget is shared by every service posting to it
        return "{erralert:lane:" + lane + "}"

    def _fallback(self, now: float | None) -> MemoryStore | None:
        """The in-process fallback while Redis is down; None when Redis is to be used. An
        outage that ends here (see ``Outage.check``) has its backlog added to Redis."""
        state = self.outage.check(now, self._probe)
        if not isinstance(state, Backlog):
            return state
        assert now is not None  # only a call with a time probes Redis
        self._push_booked(self._degraded.take(now))  # first: later sends must see them
        if state.batches:  # the repeats of Redis windows counted during the outage
            self.fold(state.batches, now)
        if state.silenced:  # the silenced counts added during the outage
            if not self.outage.active:
                self._push_silenced(state.silenced, now)
            else:  # down again already (the fold failed): no second wait for a timeout
                self.outage.hold_silenced(state.silenced)
        return None

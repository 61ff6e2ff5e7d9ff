"""The delivery worker: one background thread per process that renders notices for each
channel, paces them, folds the surplus of a storm into one summary, sends, judges and
retries.

The worker runs an asyncio loop so that every channel has its own lane: a slow or dead
endpoint delays only its own messages. Pacing and storms go through a ``Ledger`` — the
alerter's store — keyed by a digest of the channel's URL: each message books its send
slot there when it is queued (``erralert._core.pacing.reserve``), and a message that cannot get
a slot within ``max_delay`` is folded into the channel's storm summary there. With a
shared store (SQLite, Redis) every process of the app therefore paces each channel under
one budget, and a storm yields one summary between them, sent by whichever process
claims it; with ``memory://`` the same happens within the process.

A new error must not hide in a storm: the store keeps the alerts of new errors folded into
a summary, and the process that claims it queues, right after the summary, the full alerts
(mentions included) of the ``storm_followups`` new errors with the most occurrences. They
book their sends like any message but are never folded again: they wait for the channel's
budget instead, so the platform's limit holds.

Capture threads never wait for the worker; they append to a thread-safe inbox and wake
the loop. After ``fork()`` the child starts a fresh worker on
its first message; at interpreter exit, if no thread can be started any more (Python
3.12+ refuses new threads during shutdown), the same loop runs inline in the exiting
thread for a bounded time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import math
import os
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from erralert._core.notice import Notice, Occurrences, Storm, culprit_code, error_type
from erralert._core.pacing import Rate, RollingLimiter
from erralert._core.safelog import safe_logger
from erralert._delivery.spool import Spool, Spooled
from erralert._stores.base import Followup, Ledger, Pile, StormEntry
from erralert._stores.memory import MemoryStore
from erralert.channels.base import Channel, Judgement, Message, Verdict

__all__ = ["Outbox"]

logger = safe_logger()

Render = Callable[[Notice, Channel], Message]
_Sender = Callable[[httpx.Request], Awaitable[httpx.Response]]
Tick = Callable[[float], None]

_TICK_SECONDS = 1.0  # how often the worker asks the throttle for due digests
# a storm summary waits this long for more of the burst before it goes out, so that one
# summary covers the storm instead of a summary of one error followed by another
_STORM_GATHER = 3.0
_BACKOFF_BASE = 1.0
# A failing channel is probed at most this far apart: after an outage, chat hears from us
# within this long of its recovery (and a dead endpoint gets one request per 30 s).
_BACKOFF_CAP = 30.0


@dataclass(slots=True)
class _Item:
    notice: Notice | None  # None: a storm summary (see `pile`)
    units: int  # outstanding units this item settles when it is done
    enqueued: float  # loop time
    not_before: float  # loop time of its booked slot (or of its retry)
    seq: int
    pile: Pile | None = None
    message: Message | None = None
    attempts: int = 0
    spool_ids: list[int] = field(default_factory=list)  # its rows in the spool

    def __lt__(self, other: _Item) -> bool:  # the lane's heap: earliest slot first
        return (self.not_before, self.seq) < (other.not_before, other.seq)


class _Lane:
    """One channel's queue (its booked sends, earliest first) and storm bookkeeping."""

    def __init__(self, channel: Channel, index: int, key: str) -> None:
        self.channel = channel
        self.index = index
        self.key = key
        self.rates = tuple(_with_margin(rate) for rate in channel.pacing)
        # a send may start this much after its slot; later, it books another (half the
        # margin: the other half absorbs the network's jitter)
        self.tolerance = (
            min(
                (
                    margin.period - rate.period
                    for margin, rate in zip(self.rates, channel.pacing, strict=True)
                ),
                default=0.0,
            )
            / 2
        )
        # when this process's sends may have reached the platform at the latest (their
        # answers), under the platform's own rates: see _run_lane
        self.arrivals = RollingLimiter(channel.pacing)
        self.queue: list[_Item] = []
        self.piled = 0  # units folded into the storm summary, not yet settled
        self.storm_at: float | None = None  # loop time to claim the storm summary
        self.local_storm = False  # the store failed: this summary is in the local ledger
        self.blocked_until = 0.0  # paused: failing (circuit open) or asked to wait (429)
        self.failures = 0  # consecutive failed attempts (the circuit breaker's count)
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class Outbox:
    """Queue, pace, deliver. Thread-safe ``submit``/``flush``/``close``."""

    def __init__(
        self,
        channels: Sequence[Channel],
        render: Render,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        max_queue: int = 1000,
        max_delay: float = 60.0,
        max_age: float = 600.0,
        tick: Tick | None = None,
        ledger: Ledger | None = None,
        spool: Spool | None = None,
        storm_followups: int = 5,
    ) -> None:
        self.channels = tuple(channels)
        self._spool = spool
        # how many new errors folded into a storm get their full alert after its summary
        self._followups = max(0, storm_followups)
        # bookings and storm summaries: shared through the alerter's store; the private
        # memory ledger stands in when the store fails (pacing locally beats not pacing)
        self._local: Ledger = MemoryStore()
        self._ledger: Ledger = ledger if ledger is not None else self._local
        # the ledger key per channel: the same webhook is the same platform budget in every
        # process (a digest: the URL holds the secret)
        self._keys = [c.key for c in self.channels]
        self._seq = itertools.count()
        self._render = render
        self._transport = transport
        self._timeout = timeout
        self._max_queue = max_queue
        self._max_delay = max_delay
        self._max_age = max_age
        self._tick = tick
        self.delivered = 0
        self.failed = 0  # refused by the platform (not retried)
        self.lost = 0  # given up after max_age of failures
        self._reset()
        _live_outboxes.add(self)

    def _reset(self) -> None:
        # everything a forked child must not share with its parent
        self._inbox: collections.deque[Notice] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._outstanding = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._closed = False
        self._hurry = False  # shutting down: claim storm summaries without waiting
        # when the first final flush for what is queued now stops waiting (see close)
        self._final_deadline: float | None = None
        self._poke_pending = False  # a wake-up is scheduled on the loop
        self._adopted: list[Spooled] = []  # taken from the spool, not yet in their lanes
        # notices folded into storm summaries by `submit` (the inbox was full), per channel
        self._overflow = [0] * len(self.channels)
        self._overflow_local: set[int] = set()
        self._pid = os.getpid()

    # -- capture side (any thread) ---------------------------------------------------------
    def submit(self, notice: Notice) -> None:
        """Queue ``notice`` for its channels. Never blocks, never raises."""
        if self._closed:
            return
        if self._pid != os.getpid():  # forked without the at-fork hook (e.g. os.fork in C)
            self._reset()
        targets = len(self._targets(notice))
        if not targets:
            return
        with self._cond:
            self._outstanding += targets
        self._final_deadline = None  # something new: worth a wait of its own
        if len(self._inbox) < self._max_queue:
            self._inbox.append(notice)
        else:
            # The worker is not keeping up (a storm of distinct errors, a starved thread):
            # rather than let the inbox hold every event, fold this one into its channels'
            # storm summaries now — a few counters in the store instead of a whole event.
            for index in self._targets(notice):
                local = self._fold_into_storm(self._keys[index], notice)
                with self._cond:
                    self._overflow[index] += 1
                    if local:
                        self._overflow_local.add(index)
        self._ensure_worker()
        self._poke()

    def start(self) -> None:
        """Make sure the worker (and its 1 s tick) runs even before a first message: a
        process that only counts repeats in a shared store must still fold them in and
        may claim the digests. Cheap when it already runs; never raises."""
        if self._closed or self._worker_alive():
            return
        if self._pid != os.getpid():
            self._reset()
        self._ensure_worker()

    def flush(self, timeout: float = 10.0, *, final: bool = False) -> bool:
        """Wait until everything queued so far is delivered (or given up). True if so.
        ``final``: the process is ending — storm summaries go out without gathering more."""
        deadline = time.monotonic() + max(0.0, timeout)
        if final and self._final_deadline is None:
            self._final_deadline = deadline
        if final and not self._hurry:
            self._hurry = True
            self._poke()
        if threading.current_thread() is self._thread:
            return False  # the worker cannot wait for itself
        if self._closed:
            # close() has had its flush; a later one (an ASGI lifespan's, an atexit hook's)
            # must not start delivering again behind the stopped worker
            return self._outstanding == 0
        if self._outstanding and not self._worker_alive():
            self._run_inline(deadline)
        with self._cond:
            while self._outstanding > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Flush for at most ``timeout`` seconds, then stop the worker.

        A shutdown waits once: after a final flush (the end of an ASGI lifespan, then the
        atexit hook closes), it waits no longer than that flush did for the same messages,
        even while that flush still waits in another thread."""
        if self._closed:
            return self._outstanding == 0
        wait = timeout
        if self._final_deadline is not None:
            wait = max(0.0, min(timeout, self._final_deadline - time.monotonic()))
        done = self.flush(wait, final=True)
        if not done:
            # nothing is dropped silently: say what a shutdown leaves undelivered
            logger.warning(
                "erralert: closing with %d message(s) undelivered after %.1f s",
                self._outstanding,
                wait,
            )
        self._closed = True
        self._stopping = True
        self._poke()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        return done

    @property
    def outstanding(self) -> int:
        return self._outstanding

    # -- worker lifecycle --------------------------------------------------------------------
    def _worker_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ensure_worker(self) -> None:
        if self._worker_alive() or self._stopping:
            return
        with self._cond:
            if self._worker_alive():
                return
            thread = threading.Thread(target=self._thread_main, name="erralert-outbox", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # interpreter shutdown: flush()/close() will deliver inline instead
                return
            self._thread = thread

    def _poke(self) -> None:
        # One wake-up in flight is enough: the loop routes everything in the inbox when it
        # runs. Without this, a storm of captures would queue a callback (and write to the
        # loop's self-pipe) per message while the worker is busy.
        if self._poke_pending:
            return
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            self._poke_pending = True
            try:
                loop.call_soon_threadsafe(self._woken, wake)
            except RuntimeError:  # loop closed meanwhile
                self._poke_pending = False

    def _woken(self, wake: asyncio.Event) -> None:
        self._poke_pending = False  # first: a message submitted from now on pokes again
        wake.set()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main(deadline=None))
        except Exception:  # the worker must never take the app down with it
            logger.exception("erralert: delivery worker stopped")

    def _run_inline(self, deadline: float) -> None:
        """Deliver in the calling thread until idle or ``deadline`` (monotonic)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._main(deadline=deadline))
        else:  # called from inside a running loop: it cannot be blocked to deliver
            logger.warning("erralert: cannot deliver inline from a running event loop")

    async def _main(self, deadline: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        lanes = [_Lane(c, i, self._keys[i]) for i, c in enumerate(self.channels)]
        async with self._client() as send:
            self._poke_pending = False  # a wake-up scheduled on a previous loop never ran
            self._loop = loop
            for lane in lanes:
                lane.task = asyncio.create_task(self._run_lane(lane, send))
            self._adopt(lanes)  # what a process that died left in the spool
            ticker = asyncio.create_task(self._ticker(lanes)) if deadline is None else None
            try:
                while not self._stopping:
                    self._route(lanes)
                    if self._hurry:
                        for lane in lanes:
                            lane.wake.set()  # claim storm summaries now
                    if deadline is not None and (
                        self._outstanding == 0 or time.monotonic() >= deadline
                    ):
                        break
                    self._wake.clear()
                    if self._inbox:
                        # more arrived while routing: route it, but let the lanes and the
                        # tick run first — a storm of captures must not starve them
                        await asyncio.sleep(0)
                        continue
                    wait = 0.05 if deadline is not None else None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                self._route(lanes)
            finally:
                self._loop = None
                if ticker is not None:
                    ticker.cancel()
                for lane in lanes:
                    if lane.task is not None:
                        lane.task.cancel()
                await asyncio.gather(
                    *(lane.task for lane in lanes if lane.task is not None),
                    *([ticker] if ticker is not None else []),
                    return_exceptions=True,
                )

    async def _ticker(self, lanes: list[_Lane]) -> None:
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            self._adopt(lanes)  # another process on the spool may have died meanwhile
            if self._tick is not None:
                try:
                    self._tick(time.time())
                except Exception:
                    logger.exception("erralert: digest tick failed")

    # -- routing and storms ------------------------------------------------------------------
    def _targets(self, notice: Notice) -> Sequence[int]:
        if notice.channels is None:
            return range(len(self.channels))
        return [i for i in notice.channels if 0 <= i < len(self.channels)]

    def _route(self, lanes: list[_Lane]) -> None:
        if self._adopted:
            self._adopt(lanes)
        loop_now = asyncio.get_running_loop().time()
        if any(self._overflow):
            with self._cond:
                overflow, self._overflow = self._overflow, [0] * len(self.channels)
                local, self._overflow_local = self._overflow_local, set()
            for lane, folded in zip(lanes, overflow, strict=True):
                if folded:
                    self._piled(lane, folded, loop_now, local=lane.index in local)
        routed: list[tuple[int, Notice]] = []
        while self._inbox:
            notice = self._inbox.popleft()
            routed.extend((index, notice) for index in self._targets(notice))
        if not routed:
            return
        # durable before the first attempt: one transaction for everything routed now
        ids = self._spool_rows([(self._keys[index], notice) for index, notice in routed])
        for (index, notice), spool_id in zip(routed, ids, strict=True):
            self._enqueue(lanes[index], notice, loop_now, spool_id)

    def _spool_rows(self, rows: Sequence[tuple[str, Notice]]) -> Sequence[int | None]:
        """Write ``rows`` to the spool (if any): their ids, or Nones when there is no spool
        or it failed (then delivery goes on without it, and says so)."""
        if self._spool is None:
            return [None] * len(rows)
        try:
            return self._spool.add(rows)
        except Exception as exc:
            logger.error("erralert: could not write to the spool: %s: %s", type(exc).__name__, exc)
            return [None] * len(rows)

    def _unspool(self, ids: Sequence[int]) -> None:
        if self._spool is not None and ids:
            try:
                self._spool.remove(ids)
            except Exception as exc:  # sent again after a restart: at least once
                logger.error(
                    "erralert: could not delete from the spool: %s: %s", type(exc).__name__, exc
                )

    def adopt(self) -> int:
        """Take over what processes that are gone left in the spool (any thread): they are
        outstanding from now on — ``flush`` waits for them — and sent by the worker, oldest
        first, marked late. How many."""
        if self._spool is None:
            return 0
        try:
            orphans = self._spool.adopt(self._keys, keep=self._max_queue)
        except Exception as exc:
            logger.error("erralert: could not read the spool: %s: %s", type(exc).__name__, exc)
            return 0
        if orphans:
            logger.warning("erralert: sending %d message(s) left in the spool", len(orphans))
            with self._cond:
                self._outstanding += len(orphans)
                self._adopted.extend(orphans)
            self._poke()
        return len(orphans)

    def _adopt(self, lanes: list[_Lane]) -> None:
        """Queue the adopted messages in their lanes (the worker's loop)."""
        if self._spool is None:
            return
        if not self._adopted:
            self.adopt()
        with self._cond:
            orphans, self._adopted = self._adopted, []
        if not orphans:
            return
        by_key = {lane.key: lane for lane in lanes}
        loop_now, wall = asyncio.get_running_loop().time(), time.time()
        for orphan in orphans:
            lane = by_key[orphan.lane]
            # its age counts from when it was first queued, for max_age
            enqueued = loop_now - max(0.0, wall - orphan.created)
            slot = self._reserve(lane, 0.0, math.inf) if lane.rates else None
            item = _Item(
                orphan.notice, 1, enqueued, loop_now if slot is None else slot, next(self._seq)
            )
            item.spool_ids = [orphan.id]
            self._push(lane, item)

    def _finish(self, item: _Item) -> None:
        """``item`` is done with (delivered, refused or given up): out of the spool too."""
        self._unspool(item.spool_ids)
        self._done(item.units)

    def _enqueue(
        self, lane: _Lane, notice: Notice, now: float, spool_id: int | None = None
    ) -> None:
        """Book a slot for ``notice`` within ``max_delay`` (after any wait the platform
        imposed, keeping one slot for a storm summary), or fold it into the storm."""
        blocked = max(0.0, lane.blocked_until - now)
        horizon = max(0.0, self._max_delay - blocked)
        slot: float | None = None
        if lane.rates:
            slot = self._reserve(lane, blocked, horizon, keep=1, max_waiting=self._max_queue - 1)
        elif len(lane.queue) < self._max_queue - 1:  # unpaced: only the queue's size limits
            slot = now
        if slot is not None:
            item = _Item(notice, 1, now, slot, next(self._seq))
            if spool_id is not None:
                item.spool_ids = [spool_id]
            self._push(lane, item)
            return
        local = self._fold_into_storm(lane.key, notice)
        # folded: the summary that will carry it is spooled when it is claimed
        self._unspool([] if spool_id is None else [spool_id])
        self._piled(lane, 1, now, local=local)

    def _fold_into_storm(self, key: str, notice: Notice) -> bool:
        """Add ``notice`` to the storm summary of channel ``key`` (any thread). True when
        the store failed and the summary is kept in this process instead."""
        event = notice.event
        entry = StormEntry(
            fingerprint=event.fingerprint or event.title,
            title=event.title,
            culprit=event.culprit,
            count=notice.occurrences.count,
            window=notice.occurrences.window,
            type=error_type(event),
            code=culprit_code(event),
            is_new=notice.kind == "alert" and notice.occurrences.is_new,
            # the notice's own data for this channel, rendered when it is followed up
            mentions=notice.mentions,
            extra_mentions=next((e for k, e in notice.extra_mentions if k == key), ()),
        )
        gather = min(_STORM_GATHER, self._max_delay)
        try:
            self._ledger.add_to_storm(key, entry, notice.event, time.time(), gather)
        except Exception:
            logger.exception("erralert: the store refused a storm entry; kept in this process")
            self._local.add_to_storm(key, entry, notice.event, time.time(), gather)
            return True
        return False

    def _piled(self, lane: _Lane, units: int, now: float, *, local: bool) -> None:
        """``units`` went into the lane's storm summary: claim it when its gathering ends."""
        lane.piled += units
        lane.local_storm = lane.local_storm or local
        if lane.storm_at is None:
            lane.storm_at = now + min(_STORM_GATHER, self._max_delay)
        lane.wake.set()

    def _reserve(
        self,
        lane: _Lane,
        delay: float,
        horizon: float,
        *,
        keep: int = 0,
        max_waiting: int | None = None,
    ) -> float | None:
        """Book a send ``delay`` seconds from now: the slot in loop time, or None."""
        # The ledger counts in wall-clock time (shared between processes), the lane in loop
        # time: both read now, together, so that the slot converts without drift.
        loop_now, wall = asyncio.get_running_loop().time(), time.time()
        try:
            slot = self._ledger.reserve(
                lane.key, wall + delay, lane.rates, horizon, keep=keep, max_waiting=max_waiting
            )
        except Exception:
            # the shared store failed: pace within this process rather than not at all
            logger.exception("erralert: could not book a send in the store; pacing locally")
            slot = self._local.reserve(
                lane.key, wall + delay, lane.rates, horizon, keep=keep, max_waiting=max_waiting
            )
        return None if slot is None else loop_now + max(0.0, slot - wall)

    def _claim_storm(self, lane: _Lane, now: float, force: bool) -> None:
        """Take the lane's storm summary if its gathering is over (or ``force``)."""
        now, wall = asyncio.get_running_loop().time(), time.time()
        ledger: Ledger = self._local if lane.local_storm else self._ledger
        try:
            result = ledger.claim_storm(
                lane.key, wall, lane.rates, force=force, followups=self._followups
            )
        except Exception:
            logger.exception("erralert: could not claim the storm summary; retrying")
            lane.storm_at = now + _TICK_SECONDS
            return
        if isinstance(result, Pile):
            item = _Item(None, lane.piled, now, now + max(0.0, result.slot - wall), next(self._seq))
            item.pile = result
            followups = [_followup_notice(f, lane) for f in result.followups]
            # the summary and its follow-ups: durable in one transaction
            spool_id, *followup_ids = self._spool_rows(
                [(lane.key, self._notice(item)), *((lane.key, n) for n in followups)]
            )
            if spool_id is not None:
                item.spool_ids = [spool_id]
            self._push(lane, item)
            self._follow_up(lane, followups, followup_ids, after=item.not_before)
        elif result is None:
            # another process claimed it (and sends it): our share of it is settled
            self._done(lane.piled)
        else:
            lane.storm_at = now + max(0.0, result - wall)
            return
        lane.piled = 0
        lane.storm_at = None
        lane.local_storm = False

    def _follow_up(
        self,
        lane: _Lane,
        notices: Sequence[Notice],
        spool_ids: Sequence[int | None],
        *,
        after: float,
    ) -> None:
        """Queue the full alerts of new errors a storm summary (sent at ``after``) folded:
        outstanding from now on, each booked under the channel's rates with no horizon —
        like an adopted message, never folded into a storm again."""
        if not notices:
            return
        with self._cond:
            self._outstanding += len(notices)
        now = asyncio.get_running_loop().time()
        blocked = max(0.0, lane.blocked_until - now)
        for notice, spool_id in zip(notices, spool_ids, strict=True):
            slot = self._reserve(lane, blocked, math.inf) if lane.rates else None
            item = _Item(notice, 1, now, max(after, now if slot is None else slot), next(self._seq))
            if spool_id is not None:
                item.spool_ids = [spool_id]
            self._push(lane, item)

    def _push(self, lane: _Lane, item: _Item) -> None:
        heapq.heappush(lane.queue, item)
        lane.wake.set()

    # -- delivery -----------------------------------------------------------------------------
    async def _run_lane(self, lane: _Lane, send: _Sender) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if lane.storm_at is not None and (now >= lane.storm_at or self._hurry):
                self._claim_storm(lane, now, force=self._hurry)
                continue
            due = lane.storm_at
            if lane.queue:
                head = lane.queue[0].not_before
                head = max(head, lane.blocked_until)
                due = head if due is None else min(due, head)
            if due is None:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            if due > now:
                lane.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.wake.wait(), due - now)
                continue
            if not lane.queue or max(lane.queue[0].not_before, lane.blocked_until) > now:
                continue  # what was due was the storm claim (handled above)
            item = heapq.heappop(lane.queue)
            if now - item.enqueued >= self._max_age:  # waited out a long outage
                self._lose(lane, item, "the channel kept failing")
                continue
            if item.message is None:
                # render before judging lateness: a first render compiles the template,
                # which can take longer than the margin a slot allows. In a thread of the
                # loop's pool: a custom template may take up to its allowance
                # (_render.allowance.MAX_RENDER_SECONDS), and the other channels' lanes deliver
                # meanwhile instead of waiting for it.
                try:
                    item.message = await self._render_aside(self._notice(item), lane.channel)
                except Exception as exc:  # a bug in a channel or template: report it
                    logger.exception("erralert: could not render for %s", lane.channel.name)
                    self._refuse(lane, item, f"{type(exc).__name__}: {exc}")
                    continue
                now = loop.time()
            if lane.rates and now - item.not_before > lane.tolerance:
                # Too late for its slot (the lane was busy, or the loop was): sent now, it
                # could land within the period of the sends booked after it. Book anew.
                slot = self._reserve(lane, 0.0, math.inf)
                item.not_before = now if slot is None else slot
                self._push(lane, item)
                continue
            wait = lane.arrivals.delay(now) if lane.rates else 0.0
            if wait > 0:
                # Platforms count a send when it arrives, which may be as late as its
                # answer (a slow first connection, a busy server): slots a margin apart
                # can still land closer than the period. Nothing starts until the sends
                # it is counted with are a full period behind it by their answers.
                item.not_before = now + wait
                self._push(lane, item)
                continue
            await self._attempt(lane, item, send)

    async def _render_aside(self, notice: Notice, channel: Channel) -> Message:
        """The message, rendered in a thread of the loop's pool; here when no thread can be
        started any more (at interpreter exit, after concurrent.futures has shut down)."""
        loop = asyncio.get_running_loop()
        try:
            rendering = loop.run_in_executor(None, self._render, notice, channel)
        except RuntimeError:
            return self._render(notice, channel)
        return await rendering

    async def _attempt(self, lane: _Lane, item: _Item, send: _Sender) -> None:
        channel = lane.channel
        assert item.message is not None  # rendered by the lane before its slot
        try:
            judgement = await self._deliver(channel, item.message, send)
        except Exception as exc:  # a bug in a channel: report, don't loop
            logger.exception("erralert: could not deliver to %s", channel.name)
            judgement = Judgement(Verdict.FAIL, f"{type(exc).__name__}: {exc}")
        # refused or not, it may have been counted; and it arrived by now at the latest
        lane.arrivals.record(asyncio.get_running_loop().time())
        item.attempts += 1
        if judgement.verdict is Verdict.OK:
            self.delivered += 1
            if lane.failures:
                logger.warning(
                    "erralert: %s accepts messages again (after %d failed attempt(s))",
                    channel.name,
                    lane.failures,
                )
                lane.failures = 0
            self._finish(item)
            return
        if judgement.verdict is not Verdict.RETRY:
            self._refuse(lane, item, judgement.reason or "gave up")
            return
        # The channel is failing (down, overloaded, throttling us): a circuit breaker per
        # channel. The whole lane pauses — exponentially longer while failures go on,
        # capped, or as long as the platform asked — and then the oldest message probes
        # it; no other message is tried meanwhile, and no other channel waits.
        # Waits count from the answer, not from the attempt: Retry-After is relative to it.
        now = asyncio.get_running_loop().time()
        lane.failures += 1
        pause = _backoff(lane.failures)
        if judgement.retry_after is not None:
            pause = max(pause, judgement.retry_after)
        lane.blocked_until = now + pause
        if now - item.enqueued >= self._max_age:
            self._lose(lane, item, judgement.reason or judgement.verdict.value)
            return
        self._push(lane, item)  # keeps its place: the oldest goes first when the lane resumes
        if lane.failures == 1 or lane.failures % 10 == 0:
            logger.warning(
                "erralert: %s answered %s; pausing it %.1f s (%d failure(s) in a row, "
                "%d message(s) waiting)",
                channel.name,
                judgement.reason or judgement.verdict.value,
                pause,
                lane.failures,
                len(lane.queue),
            )

    def _lose(self, lane: _Lane, item: _Item, reason: str) -> None:
        """Give up on ``item`` after ``max_age`` of failures: counted, logged, never silent."""
        self.lost += item.units
        logger.error(
            "erralert: %s: gave up on the %s %r after %.0f s of failures (%s); "
            "%d message(s) lost so far",
            lane.channel.name,
            item.message.kind if item.message else "message",
            item.message.title if item.message else "?",
            self._max_age,
            reason,
            self.lost,
        )
        self._finish(item)

    def _refuse(self, lane: _Lane, item: _Item, reason: str) -> None:
        self.failed += 1
        logger.error(
            "erralert: %s refused the %s %r: %s",
            lane.channel.name,
            item.message.kind if item.message else "message",
            item.message.title if item.message else "?",
            reason,
        )
        self._finish(item)

    def _notice(self, item: _Item) -> Notice:
        if item.notice is not None:
            return item.notice
        pile = item.pile
        assert pile is not None
        event = pile.sample
        if event is None:  # its sample could not be read back: the summary still goes out
            from erralert._core.stand_in import stand_in_event

            event = stand_in_event("error storm", now=pile.since)
        occurrences = Occurrences(
            count=pile.total,
            total=pile.total,
            first_seen=pile.since,
            last_seen=pile.until,
            window=pile.window,
            is_new=False,
            status="recurring",
        )
        storm = Storm(
            groups=pile.groups,
            total=pile.total,
            since=pile.since,
            until=pile.until,
            followups=len(pile.followups),
        )
        return Notice("storm", event, occurrences, storm=storm, created_at=pile.until)

    async def _deliver(self, channel: Channel, message: Message, send: _Sender) -> Judgement:
        if channel.local:
            channel.deliver_locally(message)
            return Judgement.ok()
        request = channel.build_request(message, time.time())
        try:
            response = await send(request)
        except httpx.TimeoutException:
            return Judgement(Verdict.RETRY, "timed out")
        except httpx.TransportError as exc:
            return Judgement(Verdict.RETRY, f"{type(exc).__name__}: {_masked(exc, channel)}")
        return channel.judge(response)

    def _done(self, units: int) -> None:
        with self._cond:
            self._outstanding = max(0, self._outstanding - units)
            if self._outstanding == 0:
                self._cond.notify_all()

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[_Sender]:
        transport = self._transport
        timeout = httpx.Timeout(self._timeout)
        if transport is None or isinstance(transport, httpx.AsyncBaseTransport):
            async with httpx.AsyncClient(
                transport=transport, timeout=timeout, follow_redirects=False
            ) as client:

                async def send_async(request: httpx.Request) -> httpx.Response:
                    response = await client.send(request)
                    await response.aread()
                    return response

                yield send_async
        else:
            # a sync-only transport (e.g. httpx.HTTPTransport): run it off the loop
            with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as sync:

                async def send_sync(request: httpx.Request) -> httpx.Response:
                    def call() -> httpx.Response:
                        response = sync.send(request)
                        response.read()
                        return response

                    return await asyncio.to_thread(call)

                yield send_sync


def _followup_notice(followup: Followup, lane: _Lane) -> Notice:
    """The alert of a new error that was folded into ``lane``'s storm, as it would have been
    sent (a new error's occurrences, its mentions on this channel), for this channel only."""
    seen = followup.event.timestamp
    occurrences = Occurrences(
        count=1,
        total=1,
        first_seen=seen,
        last_seen=seen,
        window=followup.window,
        is_new=True,
        window_start=seen,
        window_end=seen + followup.window,
        status="new",
        since=seen,
        first_release=followup.event.release,
    )
    extra = ((lane.key, followup.extra_mentions),) if followup.extra_mentions else ()
    return Notice(
        "alert",
        followup.event,
        occurrences,
        created_at=seen,
        channels=(lane.index,),
        mentions=followup.mentions,
        extra_mentions=extra,
    )


def _with_margin(rate: Rate) -> Rate:
    """The platform counts messages when they arrive, we when we send them: a request that
    is slow to connect lands later than the next one, so keep a little more apart than the
    limit strictly needs (2 %, at least 0.25 s: on a busy host the local inbox, counting
    at arrival like the platforms do, saw 5-per-second sends 0.15 s apart arrive closer)."""
    return Rate(rate.limit, rate.period + max(0.25, rate.period * 0.02))


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter in its upper half: 1, 2, 4 … capped."""
    base: float = min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** max(0, attempt - 1))
    return base * random.uniform(0.5, 1.0)


def _masked(exc: Exception, channel: Channel) -> str:
    # httpx errors can quote the URL; never let the token reach a log line
    return str(exc).replace(channel.url, channel.masked_url)


_live_outboxes: weakref.WeakSet[Outbox] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for outbox in list(_live_outboxes):
        outbox._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""The outbox: what capture threads hand their notices to, and the delivery worker that
renders them for each channel, paces them, folds the surplus of a storm into one summary,
sends, judges and retries.

Capture threads never wait for the worker; they append to a thread-safe inbox and wake its
loop (``worker``). On the loop, ``dispatch`` books each message a send slot in its
channel's lane through the alerter's store (``booking``), so that with a shared store every
process of the app paces each channel under one budget; a message that cannot get a slot
within ``max_delay`` is folded into the channel's storm summary (``storms``), and a storm
yields one summary between the processes, sent by whichever claims it. A failing channel
pauses its own lane only (``lanes``: the circuit breaker). With a spool, messages survive
the process (``spool``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from erralert._core.notice import Notice
from erralert._core.safelog import safe_logger
from erralert._delivery.booking import Bookings
from erralert._delivery.clock import SYSTEM_CLOCK, Clock
from erralert._delivery.dispatch import Dispatcher, Limits, Render
from erralert._delivery.http import ProxyRoutes, open_sender
from erralert._delivery.spool import Spool, Spooled
from erralert._delivery.stats import Stats, channel_labels, stats_of
from erralert._delivery.storms import fold_into_storm
from erralert._delivery.tally import Tally
from erralert._delivery.worker import Worker
from erralert._stores.base import Ledger
from erralert.channels.base import Channel

__all__ = ["Backlog", "Outbox", "Tick"]

logger = safe_logger()

Tick = Callable[[float], None]

_TICK_SECONDS = 1.0  # how often the worker asks the throttle for due digests


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits for the worker: notices in its inbox, and per channel the notices folded
    into storm summaries at capture because the inbox was full."""

    queued: int
    folded: tuple[int, ...]


class Outbox:
    """Queue, pace, deliver. Thread-safe ``submit``/``flush``/``close``; a ``Sink``."""

    def __init__(
        self,
        channels: Sequence[Channel],
        render: Render,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
        max_queue: int = 1000,
        max_delay: float = 60.0,
        max_age: float = 600.0,
        tick: Tick | None = None,
        ledger: Ledger | None = None,
        spool: Spool | None = None,
        storm_followups: int = 5,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.channels = tuple(channels)
        self._spool = spool
        # bookings and storm summaries: shared through the alerter's store
        self._bookings = Bookings(ledger)
        # the ledger key per channel: the same webhook is the same platform budget in every
        # process (a digest: the URL holds the secret)
        self._keys = [c.key for c in self.channels]
        self._labels = channel_labels(self.channels)  # (name, platform): for stats()
        self._render = render
        # each channel's way out (proxy or none, CA bundle), checked now: a proxy that
        # cannot work is a ConfigError at configuration time, not a worker that stops
        self._routes = ProxyRoutes(proxy=proxy, ca_bundle=ca_bundle, transport=transport)
        self._routes.check(self.channels)
        self._timeout = timeout
        # how many new errors folded into a storm get their full alert after its summary
        self._limits = Limits(max_queue, max_delay, max_age, max(0, storm_followups))
        self._tick = tick
        self._clock = clock
        self._tally = Tally(len(self.channels))
        self._lock = threading.Lock()
        self._forget()
        self.worker = Worker(self._serve, clock, self._forget)

    def _forget(self) -> None:
        # everything a forked child must not share with its parent (the worker resets its own)
        self._tally.reset()
        self._submitted: collections.deque[Notice] = collections.deque()
        self._closed = False
        self._hurry = False  # shutting down: claim storm summaries without waiting
        # when the first final flush for what is queued now stops waiting (see close)
        self._final_deadline: float | None = None
        self._adopted: list[Spooled] = []  # taken from the spool, not yet in their lanes
        # notices folded into storm summaries by `submit` (the inbox was full), per channel
        self._overflow = [0] * len(self.channels)
        self._overflow_local: set[int] = set()

    # -- capture side (any thread) ---------------------------------------------------------
    def submit(self, notice: Notice) -> None:
        """Queue ``notice`` for its channels. Never blocks, never raises."""
        if self._closed:
            return
        if self.worker.forked():
            self.worker.after_fork()
        targets = self._targets(notice)
        if not targets:
            return
        self._tally.submitted(notice.kind, targets)
        self._final_deadline = None  # something new: worth a wait of its own
        if len(self._submitted) < self._limits.max_queue:
            self._submitted.append(notice)
        else:
            # The worker is not keeping up (a storm of distinct errors, a starved thread):
            # rather than let the inbox hold every event, fold this one into its channels'
            # storm summaries now — a few counters in the store instead of a whole event.
            for index in targets:
                local = fold_into_storm(
                    self._bookings,
                    self._keys[index],
                    notice,
                    self._clock.wall(),
                    self._limits.max_delay,
                )
                self._tally.count(index, "folded")
                with self._lock:
                    self._overflow[index] += 1
                    if local:
                        self._overflow_local.add(index)
        self.worker.ensure()
        self.worker.poke()

    def start(self) -> None:
        """Make sure the worker (and its 1 s tick) runs even before a first message: a
        process that only counts repeats in a shared store must still fold them in and
        may claim the digests. Cheap when it already runs; never raises."""
        if self._closed or self.worker.alive():
            return
        if self.worker.forked():
            self.worker.after_fork()
        self.worker.ensure()

    def flush(self, timeout: float = 10.0, *, final: bool = False) -> bool:
        """Wait until everything queued so far is delivered (or given up). True if so.
        ``final``: the process is ending — storm summaries go out without gathering more."""
        deadline = time.monotonic() + max(0.0, timeout)
        if final and self._final_deadline is None:
            self._final_deadline = deadline
        if final and not self._hurry:
            self._hurry = True
            self.worker.poke()
        if self.worker.is_current():
            return False  # the worker cannot wait for itself
        if self._closed:
            # close() has had its flush; a later one (an ASGI lifespan's, an atexit hook's)
            # must not start delivering again behind the stopped worker
            return self._tally.outstanding == 0
        if self._tally.outstanding and not self.worker.alive():
            self.worker.run_inline(deadline)
        return self._tally.wait(deadline)

    def close(self, timeout: float = 10.0) -> bool:
        """Flush for at most ``timeout`` seconds, then stop the worker.

        A shutdown waits once: after a final flush (the end of an ASGI lifespan, then the
        atexit hook closes), it waits no longer than that flush did for the same messages,
        even while that flush still waits in another thread."""
        if self._closed:
            return self._tally.outstanding == 0
        wait = timeout
        if self._final_deadline is not None:
            wait = max(0.0, min(timeout, self._final_deadline - time.monotonic()))
        done = self.flush(wait, final=True)
        if not done:
            # nothing is dropped silently: say what a shutdown leaves undelivered
            logger.warning(
                "erralert: closing with %d message(s) undelivered after %.1f s",
                self._tally.outstanding,
                wait,
            )
        self._closed = True
        self.worker.stop(timeout=1.0)
        return done

    def adopt(self) -> int:
        """Take over what processes that are gone left in the spool (any thread): they are
        outstanding from now on — ``flush`` waits for them — and sent by the worker, oldest
        first, marked late. How many."""
        if self._spool is None:
            return 0
        try:
            orphans = self._spool.adopt(self._keys, keep=self._limits.max_queue)
        except Exception as exc:
            logger.error("erralert: could not read the spool: %s: %s", type(exc).__name__, exc)
            return 0
        if orphans:
            logger.warning("erralert: sending %d message(s) left in the spool", len(orphans))
            lanes = {key: index for index, key in enumerate(self._keys)}
            for orphan in orphans:
                self._tally.add(lanes[orphan.lane], 1)
            with self._lock:
                self._adopted.extend(orphans)
            self.worker.poke()
        return len(orphans)

    @property
    def outstanding(self) -> int:
        """Messages (one per channel) not yet delivered, refused or given up."""
        return self._tally.outstanding

    @property
    def delivered(self) -> int:
        """Messages the platforms accepted (``stats().sent``)."""
        return self._tally.total("sent")

    @property
    def failed(self) -> int:
        """Refused by the platform (not retried: ``stats().refused``)."""
        return self._tally.total("refused")

    @property
    def lost(self) -> int:
        """Given up after ``max_age`` of failures, or not renderable (``stats().lost``)."""
        return self._tally.total("lost")

    def stats(self) -> Stats:
        """What delivery did since the process started, per channel and in total."""
        return stats_of(self._labels, self._tally.read())

    @property
    def routes(self) -> ProxyRoutes:
        """Each channel's way out (``routes.route(channel)``: its proxy, or none), as every
        send of this outbox goes."""
        return self._routes

    def backlog(self) -> Backlog:
        return Backlog(len(self._submitted), tuple(self._overflow))

    # -- the worker's loop -----------------------------------------------------------------
    async def _serve(self, wake: asyncio.Event, deadline: float | None) -> None:
        dispatcher = Dispatcher(
            self.channels,
            self._render,
            limits=self._limits,
            bookings=self._bookings,
            spool=self._spool,
            tally=self._tally,
            clock=self._clock,
            hurry=lambda: self._hurry,
        )
        async with open_sender(self._routes, self._timeout, self.channels) as send:
            dispatcher.start(send)
            self._adopt(dispatcher)  # what a process that died left in the spool
            ticker = asyncio.create_task(self._ticker(dispatcher)) if deadline is None else None
            try:
                while not self.worker.stopping:
                    self._route(dispatcher)
                    if self._hurry:
                        dispatcher.wake_all()  # claim storm summaries now
                    if deadline is not None and (
                        self._tally.outstanding == 0 or time.monotonic() >= deadline
                    ):
                        break
                    wake.clear()
                    if self._submitted:
                        # more arrived while routing: route it, but let the lanes and the
                        # tick run first — a storm of captures must not starve them
                        await asyncio.sleep(0)
                        continue
                    wait = 0.05 if deadline is not None else None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), wait)
                self._route(dispatcher)
            finally:
                if ticker is not None:
                    ticker.cancel()
                await dispatcher.stop(*([ticker] if ticker is not None else []))

    async def _ticker(self, dispatcher: Dispatcher) -> None:
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            self._adopt(dispatcher)  # another process on the spool may have died meanwhile
            if self._tick is not None:
                try:
                    self._tick(self._clock.wall())
                except Exception:
                    logger.exception("erralert: digest tick failed")

    def _targets(self, notice: Notice) -> Sequence[int]:
        if notice.channels is None:
            return range(len(self.channels))
        return [i for i in notice.channels if 0 <= i < len(self.channels)]

    def _route(self, dispatcher: Dispatcher) -> None:
        if self._adopted:
            self._adopt(dispatcher)
        if any(self._overflow):
            with self._lock:
                overflow, self._overflow = self._overflow, [0] * len(self.channels)
                local, self._overflow_local = self._overflow_local, set()
            dispatcher.pile(overflow, local)
        routed: list[tuple[int, Notice]] = []
        while self._submitted:
            notice = self._submitted.popleft()
            routed.extend((index, notice) for index in self._targets(notice))
        if routed:
            dispatcher.route(routed)

    def _adopt(self, dispatcher: Dispatcher) -> None:
        """Queue the adopted messages in their lanes (the worker's loop)."""
        if self._spool is None:
            return
        if not self._adopted:
            self.adopt()
        with self._lock:
            orphans, self._adopted = self._adopted, []
        if orphans:
            dispatcher.adopt(orphans)

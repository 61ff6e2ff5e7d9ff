"""The delivery worker: one background thread per process that renders notices for each
channel, paces them, folds the surplus of a storm into one summary, sends, judges and
retries.

The worker runs an asyncio loop so that every channel has its own lane: a slow or dead
endpoint delays only its own messages. Capture threads never wait for it; they append to
a thread-safe inbox and wake the loop. After ``fork()`` the child starts a fresh worker on
its first message; at interpreter exit, if no thread can be started any more (Python
3.12+ refuses new threads during shutdown), the same loop runs inline in the exiting
thread for a bounded time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from erralert.channels.base import Channel, Judgement, Message, Rate, Verdict
from erralert.notice import Notice, Occurrences, Storm, StormGroup
from erralert.pacing import RollingLimiter

__all__ = ["Outbox"]

logger = logging.getLogger("erralert")

Render = Callable[[Notice, Channel], Message]
_Sender = Callable[[httpx.Request], Awaitable[httpx.Response]]
Tick = Callable[[float], None]

_TICK_SECONDS = 1.0  # how often the worker asks the throttle for due digests
# a storm summary waits this long for more of the burst before it goes out, so that one
# summary covers the storm instead of a summary of one error followed by another
_STORM_GATHER = 3.0
_BACKOFF_BASE = 1.0
_BACKOFF_CAP = 120.0


@dataclass(slots=True)
class _Group:
    title: str
    culprit: str
    count: int


@dataclass(slots=True)
class _Fold:
    """The errors folded into one storm message while the channel had no room."""

    groups: dict[str, _Group] = field(default_factory=dict)  # by fingerprint
    first: Notice | None = None
    since: float = 0.0
    until: float = 0.0
    total: int = 0

    def add(self, notice: Notice) -> None:
        if self.first is None:
            self.first = notice
            self.since = notice.created_at
        self.until = max(self.until, notice.created_at)
        self.total += notice.occurrences.count
        if notice.storm is not None:  # a storm folded into a storm keeps its groups
            for g in notice.storm.groups:
                self._add(g.fingerprint or g.title, g.title, g.culprit, g.count)
        else:
            event = notice.event
            key = event.fingerprint or event.title
            self._add(key, event.title, event.culprit, notice.occurrences.count)

    def _add(self, key: str, title: str, culprit: str, count: int) -> None:
        group = self.groups.get(key)
        if group is None:
            self.groups[key] = _Group(title, culprit, count)
        else:
            group.count += count

    def notice(self) -> Notice:
        assert self.first is not None
        groups = sorted(
            (
                StormGroup(g.title, g.culprit, g.count, fingerprint=k)
                for k, g in self.groups.items()
            ),
            key=lambda g: -g.count,
        )
        occ = Occurrences(
            count=self.total,
            total=self.total,
            first_seen=self.since,
            last_seen=self.until,
            window=self.first.occurrences.window,
            is_new=False,
        )
        storm = Storm(groups=tuple(groups), total=self.total, since=self.since, until=self.until)
        return Notice("storm", self.first.event, occ, storm=storm, created_at=self.until)


@dataclass(slots=True)
class _Item:
    notice: Notice | None  # None: the lane's storm summary
    units: int  # outstanding units this item settles when it is done
    enqueued: float  # loop time
    fold: _Fold | None = None
    message: Message | None = None
    attempts: int = 0
    not_before: float = 0.0


class _Lane:
    """One channel's queue, pacing and storm fold."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.limiter = RollingLimiter([_with_margin(rate) for rate in channel.pacing])
        self.queue: collections.deque[_Item] = collections.deque()
        self.storm: _Item | None = None  # the storm item waiting in `queue`, if any
        self.blocked_until = 0.0  # the platform asked us to wait (429 / throttle codes)
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
    ) -> None:
        self.channels = tuple(channels)
        self._render = render
        self._transport = transport
        self._timeout = timeout
        self._max_queue = max_queue
        self._max_delay = max_delay
        self._max_age = max_age
        self._tick = tick
        self.delivered = 0
        self.failed = 0
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
        self._inbox.append(notice)
        self._ensure_worker()
        self._poke()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is delivered (or given up). True if so."""
        deadline = time.monotonic() + max(0.0, timeout)
        if threading.current_thread() is self._thread:
            return False  # the worker cannot wait for itself
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
        """Flush for at most ``timeout`` seconds, then stop the worker."""
        if self._closed:
            return self._outstanding == 0
        done = self.flush(timeout)
        if not done:
            # nothing is dropped silently: say what a shutdown leaves undelivered
            logger.warning(
                "erralert: closing with %d message(s) undelivered after %.1f s",
                self._outstanding,
                timeout,
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
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main(deadline=None))
        except Exception:  # the worker must never take the app down with it
            logger.exception("erralert: delivery worker stopped")

    def _run_inline(self, deadline: float) -> None:
        """Deliver in the calling thread until idle or ``deadline`` (monotonic)."""
        try:
            asyncio.run(self._main(deadline=deadline))
        except RuntimeError:  # called from inside a running loop: nothing sane to do
            logger.warning("erralert: cannot deliver inline from a running event loop")

    async def _main(self, deadline: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        lanes = [_Lane(c) for c in self.channels]
        async with self._client() as send:
            self._loop = loop
            for lane in lanes:
                lane.task = asyncio.create_task(self._run_lane(lane, send))
            ticker = asyncio.create_task(self._ticker()) if deadline is None else None
            try:
                while not self._stopping:
                    self._route(lanes)
                    if deadline is not None and (
                        self._outstanding == 0 or time.monotonic() >= deadline
                    ):
                        break
                    self._wake.clear()
                    if self._inbox:
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

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(_TICK_SECONDS)
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
        loop_now = asyncio.get_running_loop().time()
        while self._inbox:
            notice = self._inbox.popleft()
            for index in self._targets(notice):
                self._enqueue(lanes[index], notice, loop_now)

    def _enqueue(self, lane: _Lane, notice: Notice, now: float) -> None:
        waiting = len(lane.queue) - (1 if lane.storm is not None else 0)
        # what the channel can still send within max_delay from now, after any wait the
        # platform imposed (a 429) has passed
        blocked = max(0.0, lane.blocked_until - now)
        capacity = lane.limiter.capacity(now + blocked, max(0.0, self._max_delay - blocked))
        # keep one slot for the storm summary itself
        room = min(capacity, self._max_queue) - 1
        if waiting < room:
            lane.queue.append(_Item(notice, units=1, enqueued=now))
        else:
            if lane.storm is None:
                gather = min(_STORM_GATHER, self._max_delay)
                lane.storm = _Item(None, 0, now, fold=_Fold(), not_before=now + gather)
                lane.queue.append(lane.storm)
            assert lane.storm.fold is not None
            lane.storm.fold.add(notice)
            lane.storm.units += 1
        lane.wake.set()

    # -- delivery -----------------------------------------------------------------------------
    async def _run_lane(self, lane: _Lane, send: _Sender) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not lane.queue:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            item = lane.queue[0]
            now = loop.time()
            wait = max(lane.limiter.delay(now), item.not_before - now, lane.blocked_until - now)
            if wait > 0:
                lane.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.wake.wait(), wait)
                continue
            lane.queue.popleft()
            if item is lane.storm:
                lane.storm = None  # later surplus starts a new summary
            await self._attempt(lane, item, send, now)

    async def _attempt(self, lane: _Lane, item: _Item, send: _Sender, now: float) -> None:
        channel = lane.channel
        try:
            if item.message is None:
                notice = item.notice if item.fold is None else item.fold.notice()
                assert notice is not None
                item.message = self._render(notice, channel)
            message = item.message
            lane.limiter.record(now)
            judgement = await self._deliver(channel, message, send)
        except Exception as exc:  # a bug in a channel or template: report, don't loop
            logger.exception("erralert: could not deliver to %s", channel.name)
            judgement = Judgement(Verdict.FAIL, f"{type(exc).__name__}: {exc}")
        item.attempts += 1
        if judgement.verdict is Verdict.OK:
            self.delivered += 1
            self._done(item.units)
            return
        # waits count from the answer, not from the attempt: Retry-After is relative to it
        now = asyncio.get_running_loop().time()
        age = now - item.enqueued
        if judgement.verdict is Verdict.RETRY and age < self._max_age:
            delay = _backoff(item.attempts)
            if judgement.retry_after is not None:
                delay = max(delay, judgement.retry_after)
                lane.blocked_until = now + judgement.retry_after
            item.not_before = now + delay
            lane.queue.appendleft(item)
            logger.warning(
                "erralert: %s answered %s; retrying in %.1f s (attempt %d)",
                channel.name,
                judgement.reason or judgement.verdict.value,
                delay,
                item.attempts,
            )
            return
        self.failed += 1
        title = item.message.title if item.message else "?"
        logger.error(
            "erralert: %s refused the %s %r: %s",
            channel.name,
            item.message.kind if item.message else "message",
            title,
            judgement.reason or "gave up",
        )
        self._done(item.units)

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


def _with_margin(rate: Rate) -> Rate:
    """The platform counts messages when they arrive, we when we send them: a request that
    is slow to connect lands later than the next one, so keep a little more apart than the
    limit strictly needs (2 %, at least 0.15 s)."""
    return Rate(rate.limit, rate.period + max(0.15, rate.period * 0.02))


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

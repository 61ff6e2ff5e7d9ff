"""One lane per channel: its queue of booked sends, its storm bookkeeping, its circuit
breaker. A slow or dead endpoint delays only its own lane.

Times here are the lane's clock — the worker loop's ``time()`` — given by the caller, as
pacing and the throttle take ``now``: nothing in this module reads a clock of its own.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from erralert._core.notice import Notice
from erralert._core.pacing import Rate, RollingLimiter
from erralert._stores.base import Pile
from erralert.channels.base import Channel, Message

__all__ = ["Breaker", "Item", "Lane", "backoff"]

_BACKOFF_BASE = 1.0
# A failing channel is probed at most this far apart: after an outage, chat hears from us
# within this long of its recovery (and a dead endpoint gets one request per 30 s).
_BACKOFF_CAP = 30.0


@dataclass(slots=True)
class Item:
    notice: Notice | None  # None: a storm summary (see `pile`)
    units: int  # outstanding units this item settles when it is done
    enqueued: float  # loop time
    not_before: float  # loop time of its booked slot (or of its retry)
    seq: int
    pile: Pile | None = None
    message: Message | None = None
    attempts: int = 0
    spool_ids: list[int] = field(default_factory=list)  # its rows in the spool
    # a storm summary's follow-ups (the full alerts of new errors it folded, each with its
    # spool row): queued once the summary is done with, so that they never go before it
    followups: list[tuple[Notice, int | None]] = field(default_factory=list)

    def __lt__(self, other: Item) -> bool:  # the lane's heap: earliest slot first
        return (self.not_before, self.seq) < (other.not_before, other.seq)


@dataclass(slots=True)
class Breaker:
    """A channel's circuit breaker. The channel is failing (down, overloaded, throttling
    us): the whole lane pauses — exponentially longer while failures go on, capped, or as
    long as the platform asked — and then the oldest message probes it; no other message
    is tried meanwhile, and no other channel waits."""

    blocked_until: float = 0.0  # paused: failing (circuit open) or asked to wait (429)
    failures: int = 0  # consecutive failed attempts

    def trip(self, now: float, retry_after: float | None) -> float:
        """One more failed attempt, answered at ``now``: the pause it starts. Waits count
        from the answer, not from the attempt: Retry-After is relative to it."""
        self.failures += 1
        pause = backoff(self.failures)
        if retry_after is not None:
            pause = max(pause, retry_after)
        self.blocked_until = now + pause
        return pause

    def reset(self) -> int:
        """An attempt went through: how many failed attempts in a row it ends."""
        failures, self.failures = self.failures, 0
        return failures


class Lane:
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
        # answers), under the platform's own rates: see Dispatcher._run_lane
        self.arrivals = RollingLimiter(channel.pacing)
        self.queue: list[Item] = []
        self.piled = 0  # units folded into the storm summary, not yet settled
        self.storm_at: float | None = None  # loop time to claim the storm summary
        self.local_storm = False  # the store failed: this summary is in the local ledger
        self.breaker = Breaker()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


def _with_margin(rate: Rate) -> Rate:
    """The platform counts messages when they arrive, we when we send them: a request that
    is slow to connect lands later than the next one, so keep a little more apart than the
    limit strictly needs (2 %, at least 0.25 s: on a busy host the local inbox, counting
    at arrival like the platforms do, saw 5-per-second sends 0.15 s apart arrive closer)."""
    return Rate(rate.limit, rate.period + max(0.25, rate.period * 0.02))


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter in its upper half: 1, 2, 4 … capped."""
    base: float = min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** max(0, attempt - 1))
    return base * random.uniform(0.5, 1.0)

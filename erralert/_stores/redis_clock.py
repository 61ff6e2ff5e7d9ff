"""One clock for a fleet: the Redis store's.

Windows and budgets are decided on the times the processes pass in — their own clocks. A
host whose clock is 40 s off would open and close windows 40 s early or late, alert again
inside another host's window, and book sends 40 s in the future of the shared ledger (every
other process then queues behind them). So a store that is a member of the fleet measures
this host's clock against Redis' (``TIME``, read by each check-in) and, when they differ by
``MAX_SKEW`` seconds or more, works in Redis' time: every time it passes to Redis is shifted
by the offset, every time it reads back is shifted back. Hosts within ``MAX_SKEW`` (NTP
keeps them within milliseconds) use their own clocks unchanged.

The offset is whole seconds, and changes only when the measured skew moves more than a
second away from it: shifting a time by whole seconds and back is exact (times of this
era are multiples of 2**-22 s), so the windows a process was told about are the very
doubles Redis holds. ``?clock=local`` turns the correction off (a test that moves the clock
of every process on purpose).
"""

from __future__ import annotations

import dataclasses

from erralert._core.safelog import safe_logger
from erralert._stores.base import Due, Pile, Silenced

__all__ = ["MAX_SKEW", "StoreClock"]

logger = safe_logger()

MAX_SKEW = 1.0  # seconds this host's clock may differ from the store's before it is corrected


class StoreClock:
    """This process's offset to the store's clock: store time = local time + ``offset``."""

    def __init__(self, url: str, *, correct: bool = True) -> None:
        self.url = url  # masked: it is logged
        self.correct = correct
        self.offset = 0.0
        self.measured = False

    def observe(self, store_time: float, now: float) -> None:
        """A check-in read the store's clock as ``store_time`` at this host's ``now``."""
        self.measured = True
        skew = store_time - now
        if not self.correct:
            return
        if abs(skew) < MAX_SKEW:
            offset = 0.0
        elif abs(skew - self.offset) > 1.0:
            offset = float(round(skew))
        else:
            return  # within a second of the offset in use: keep it (no jitter)
        if offset != self.offset:
            self.offset = offset
            logger.warning(
                "erralert: this host's clock is %.1f s %s the redis store's (%s); windows and "
                "budgets use the store's clock",
                abs(skew),
                "behind" if skew > 0 else "ahead of",
                self.url,
            )

    def store(self, t: float) -> float:
        return t + self.offset

    def local(self, t: float) -> float:
        return t - self.offset

    def local_due(self, due: Due) -> Due:
        if not self.offset:
            return due
        occ = due.occurrences
        shifted = dataclasses.replace(
            occ,
            first_seen=self.local(occ.first_seen),
            last_seen=self.local(occ.last_seen),
            window_start=self.local(occ.window_start),
            window_end=self.local(occ.window_end),
            since=self.local(occ.since) if occ.since else occ.since,
        )
        return dataclasses.replace(due, occurrences=shifted)

    def local_pile(self, pile: Pile) -> Pile:
        if not self.offset:
            return pile
        return dataclasses.replace(
            pile,
            since=self.local(pile.since),
            until=self.local(pile.until),
            slot=self.local(pile.slot),
        )

    def local_silenced(self, record: Silenced) -> Silenced:
        if not self.offset:
            return record
        return Silenced(record.count, self.local(record.first_seen), self.local(record.last_seen))

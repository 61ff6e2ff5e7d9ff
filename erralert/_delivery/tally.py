"""What an outbox owes and what became of the rest, per channel: the messages outstanding
(a flush waits until none are), and counters of what happened to the others — sent,
refused, retried, folded into a storm summary, lost — since the process started.

Counters only grow; a forked child starts from zero (what its parent sent is the
parent's). A storm summary counts as one message when it is sent, refused or lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["OUTCOMES", "Counted", "Outcome", "Tally"]

# what became of a message on its channel (``retried`` counts attempts: one message may be
# retried more than once)
Outcome = Literal["sent", "refused", "retried", "folded", "lost"]
OUTCOMES: tuple[Outcome, ...] = ("sent", "refused", "retried", "folded", "lost")


@dataclass(frozen=True, slots=True)
class Counted:
    """A consistent reading of a tally: per outcome, one count per channel; per channel
    what is outstanding; and the notices handed over, by kind (alert, digest)."""

    outcomes: dict[Outcome, tuple[int, ...]]
    outstanding: tuple[int, ...]
    kinds: dict[str, int]


class Tally:
    """Thread-safe: capture threads add, the worker settles and counts, flushing threads
    wait, anyone reads. One lock, held for a few additions at a time."""

    def __init__(self, channels: int) -> None:
        self._channels = channels
        self.reset()

    def reset(self) -> None:
        """Owe nothing, count from zero (a forked child: the parent's are the parent's)."""
        self._cond = threading.Condition(threading.Lock())
        self.outstanding = 0
        self._owed = [0] * self._channels
        self._counts: dict[Outcome, list[int]] = {o: [0] * self._channels for o in OUTCOMES}
        self._kinds: dict[str, int] = {}

    def submitted(self, kind: str, channels: Iterable[int]) -> None:
        """A notice of ``kind`` was handed over for ``channels``: one message owed on each."""
        with self._cond:
            self._kinds[kind] = self._kinds.get(kind, 0) + 1
            for index in channels:
                self._owed[index] += 1
                self.outstanding += 1

    def add(self, channel: int, units: int) -> None:
        """``units`` more messages owed on ``channel`` (adopted from the spool, follow-ups)."""
        with self._cond:
            self._owed[channel] += units
            self.outstanding += units

    def settle(self, channel: int, units: int) -> None:
        """``units`` owed on ``channel`` are done with (sent, refused, given up, or left to
        the process that claimed their storm summary)."""
        with self._cond:
            done = min(units, self._owed[channel])
            self._owed[channel] -= done
            self.outstanding -= done
            if self.outstanding == 0:
                self._cond.notify_all()

    def count(self, channel: int, outcome: Outcome, units: int = 1) -> None:
        with self._cond:
            self._counts[outcome][channel] += units

    def total(self, outcome: Outcome) -> int:
        with self._cond:
            return sum(self._counts[outcome])

    def read(self) -> Counted:
        """Every counter, read at one moment."""
        with self._cond:
            return Counted(
                {o: tuple(c) for o, c in self._counts.items()},
                tuple(self._owed),
                dict(self._kinds),
            )

    def wait(self, deadline: float) -> bool:
        """Wait until nothing is outstanding, or until ``deadline`` (``time.monotonic``).
        True if nothing is."""
        with self._cond:
            while self.outstanding > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

"""What an outbox owes: the messages outstanding (a flush waits until none are), and what
became of the others — delivered, refused, given up."""

from __future__ import annotations

import threading
import time

__all__ = ["Tally"]


class Tally:
    """Thread-safe: capture threads add, the worker settles, flushing threads wait."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0  # refused by the platform (not retried)
        self.lost = 0  # given up after max_age of failures
        self.reset()

    def reset(self) -> None:
        """Owe nothing (a forked child: what its parent owes is the parent's)."""
        self._cond = threading.Condition(threading.Lock())
        self.outstanding = 0

    def add(self, units: int) -> None:
        with self._cond:
            self.outstanding += units

    def settle(self, units: int) -> None:
        with self._cond:
            self.outstanding = max(0, self.outstanding - units)
            if self.outstanding == 0:
                self._cond.notify_all()

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

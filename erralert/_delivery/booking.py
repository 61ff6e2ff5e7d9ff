"""Send slots and storm summaries are booked in a ``Ledger`` — the alerter's store — keyed
by a digest of the channel's URL: each message books its send slot there when it is queued
(``erralert._core.pacing.reserve``). With a shared store (SQLite, Redis) every process of
the app therefore paces each channel under one budget; with ``memory://`` the same happens
within the process. When the store fails, a private memory ledger stands in: pacing locally
beats not pacing.
"""

from __future__ import annotations

from collections.abc import Sequence

from erralert._core.event import Event
from erralert._core.pacing import Rate
from erralert._core.safelog import safe_logger
from erralert._stores.base import Ledger, Pile, StormEntry
from erralert._stores.memory import MemoryStore

__all__ = ["Bookings"]

logger = safe_logger()


class Bookings:
    """The shared ledger (``None``: this process's own), and the local one standing in for
    it while it fails. Times are UNIX times: the ledger is shared between processes."""

    def __init__(self, shared: Ledger | None = None) -> None:
        self.local: Ledger = MemoryStore()
        self.shared: Ledger = shared if shared is not None else self.local

    def reserve(
        self,
        key: str,
        at: float,
        rates: Sequence[Rate],
        horizon: float,
        *,
        keep: int = 0,
        max_waiting: int | None = None,
    ) -> float | None:
        """Book a send on channel ``key`` at ``at`` or after, within ``horizon`` seconds:
        its slot, or None."""
        try:
            return self.shared.reserve(key, at, rates, horizon, keep=keep, max_waiting=max_waiting)
        except Exception:
            # the shared store failed: pace within this process rather than not at all
            logger.exception("erralert: could not book a send in the store; pacing locally")
            return self.local.reserve(key, at, rates, horizon, keep=keep, max_waiting=max_waiting)

    def fold(self, key: str, entry: StormEntry, sample: Event, now: float, gather: float) -> bool:
        """Add ``entry`` to the storm summary of channel ``key`` (any thread). True when the
        store failed and the summary is kept in this process instead."""
        try:
            self.shared.add_to_storm(key, entry, sample, now, gather)
        except Exception:
            logger.exception("erralert: the store refused a storm entry; kept in this process")
            self.local.add_to_storm(key, entry, sample, now, gather)
            return True
        return False

    def claim(
        self,
        key: str,
        now: float,
        rates: Sequence[Rate],
        *,
        local: bool,
        force: bool,
        followups: int,
    ) -> Pile | float | None:
        """Claim the storm summary of channel ``key`` (``local``: the one this process kept
        when the store failed): see ``Ledger.claim_storm``. Raises what the store raises."""
        ledger = self.local if local else self.shared
        return ledger.claim_storm(key, now, rates, force=force, followups=followups)

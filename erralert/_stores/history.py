"""What a store remembers of a fingerprint beyond its window, and the status it gives an alert.

Every store keeps, per fingerprint, when it was first and last seen, how often, and under
which releases (for as long as it keeps the fingerprint's window state: ``retention``, or
the memory store's ``max_keys``). ``status_of`` turns that history — as it was *before*
the occurrence being alerted — and the running release into the line an alert shows:

>>> status_of(None, "1.4.3")
'new'
>>> status_of(History(1.0, 2.0, 7, first_release="1.4.2", last_release="1.4.2"), "1.4.3")
'regression'
"""

from __future__ import annotations

from dataclasses import dataclass

from erralert._core.notice import Status

__all__ = ["History", "status_of"]


@dataclass(frozen=True, slots=True)
class History:
    """A fingerprint as the store remembers it."""

    first_seen: float  # UNIX seconds of its first occurrence (0.0: kept by an older version)
    last_seen: float  # UNIX seconds of its latest occurrence
    total: int  # occurrences remembered
    first_release: str | None  # the release of its first occurrence
    last_release: str | None  # the release of its latest occurrence


def status_of(history: History | None, release: str | None) -> Status:
    """The status of an alert for a fingerprint with ``history`` (None: never seen), raised
    under ``release`` (None: unknown, so releases cannot tell new from old)."""
    if history is None:
        return "new"
    if release is not None:
        if history.first_release == release:
            return "new_in_release"
        if history.last_release is not None and history.last_release != release:
            return "regression"
    return "recurring"

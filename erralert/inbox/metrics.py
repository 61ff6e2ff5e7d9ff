"""The inbox's counters, served at ``GET /metrics`` in the Prometheus text format (0.0.4):
the requests each platform's stand-in received since the inbox started, and what it
answered — accepted, refused by its rate limiter, refused for another reason (signature,
structure, size, keyword; a path no platform uses counts as ``unknown``) — and the
messages it keeps now.

The format is written by ``erralert._core.exposition``, the one module of the library the
inbox shares besides the safe logger (tests/layers.py): it is the scraper's format, not
the sending side's logic the inbox is there to check.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Literal

from erralert._core.exposition import Family, Labels, exposition

__all__ = ["InboxCounts", "Outcome", "metrics_text"]

Outcome = Literal["accepted", "rate_limited", "refused"]
_OUTCOMES: tuple[Outcome, ...] = ("accepted", "rate_limited", "refused")


class InboxCounts:
    """Requests per platform and outcome since the inbox started. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Outcome], int] = {}

    def count(self, platform: str, outcome: Outcome) -> None:
        with self._lock:
            self._counts[platform, outcome] = self._counts.get((platform, outcome), 0) + 1

    def read(self) -> dict[str, dict[Outcome, int]]:
        """Per platform seen (in name order), each outcome's count (0 if none)."""
        with self._lock:
            counts = dict(self._counts)
        platforms = sorted({platform for platform, _ in counts})
        return {p: {o: counts.get((p, o), 0) for o in _OUTCOMES} for p in platforms}


def metrics_text(counts: InboxCounts, stored: Mapping[str, int], dropped: int) -> str:
    """The exposition of ``counts``, the messages ``stored`` now per platform and the
    number ``dropped`` to stay within the store's bounds."""
    seen = counts.read()

    def per_platform(value: Mapping[str, int]) -> tuple[tuple[Labels, float], ...]:
        return tuple(((("platform", p),), n) for p, n in value.items())

    return exposition(
        [
            Family(
                "erralert_inbox_messages_received_total",
                "counter",
                "Messages (webhook requests) received, per platform (unknown: a path no "
                "platform uses).",
                per_platform({p: sum(o.values()) for p, o in seen.items()}),
            ),
            Family(
                "erralert_inbox_messages_accepted_total",
                "counter",
                "Messages the platform's stand-in accepted.",
                per_platform({p: o["accepted"] for p, o in seen.items()}),
            ),
            Family(
                "erralert_inbox_messages_rate_limited_total",
                "counter",
                "Messages refused by the platform's rate limit (the hook's rolling window).",
                per_platform({p: o["rate_limited"] for p, o in seen.items()}),
            ),
            Family(
                "erralert_inbox_messages_refused_total",
                "counter",
                "Messages refused for another reason: signature, structure, size, keyword, "
                "unknown path.",
                per_platform({p: o["refused"] for p, o in seen.items()}),
            ),
            Family(
                "erralert_inbox_messages_stored",
                "gauge",
                "Messages the inbox keeps now, per platform.",
                per_platform(dict(sorted(stored.items()))),
            ),
            Family(
                "erralert_inbox_messages_dropped",
                "gauge",
                "Oldest messages dropped to stay within the inbox's bounds (since the last clear).",
                (((), dropped),),
            ),
        ]
    )

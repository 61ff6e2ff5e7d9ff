"""Rows of the SQLite store's file ↔ ``WindowState`` and ``Occurrences`` (the columns are
``erralert._stores.sqlite_schema``'s)."""

from __future__ import annotations

import json
from typing import Any

from erralert._core.notice import Occurrences
from erralert._stores.codec import encode
from erralert._stores.windows import WindowSlot, WindowState

__all__ = ["columns", "dump_digest", "load_digest", "state_of"]


def state_of(row: Any) -> WindowState:
    (
        window,
        start,
        end,
        count,
        first_seen,
        last_seen,
        total,
        histogram,
        since,
        latest,
        first_release,
        last_release,
    ) = row
    return WindowState(
        window=window,
        window_start=start,
        window_end=end,
        count=count,
        first_seen=first_seen,
        last_seen=last_seen,
        total=total,
        histogram=tuple(json.loads(histogram)),
        since=since,
        latest=latest,
        first_release=first_release,
        last_release=last_release,
    )


def columns(
    slot: WindowSlot,
) -> tuple[float, float, float, int, float, float, int, str, float, float, str | None, str | None]:
    return (
        slot.window,
        slot.window_start,
        slot.window_end,
        slot.count,
        slot.first_seen,
        slot.last_seen,
        slot.total,
        encode(slot.histogram),
        slot.since,
        slot.latest,
        slot.first_release,
        slot.last_release,
    )


def dump_digest(occ: Occurrences) -> tuple[str, str]:
    """A digest's ``occurrences`` column (the keys every version reads) and its ``history``."""
    history = {
        "since": occ.since,
        "first_release": occ.first_release,
        "last_release": occ.last_release,
    }
    return _dump_occurrences(occ), encode(history)


def _dump_occurrences(occ: Occurrences) -> str:
    return encode(
        {
            "count": occ.count,
            "total": occ.total,
            "first_seen": occ.first_seen,
            "last_seen": occ.last_seen,
            "window": occ.window,
            "is_new": occ.is_new,
            "window_start": occ.window_start,
            "window_end": occ.window_end,
            "histogram": list(occ.histogram),
        }
    )


def load_digest(text: str, history_text: str | None) -> Occurrences:
    data = json.loads(text)
    # NULL in a digest filed by an earlier version: its history is unknown
    history = {} if history_text is None else json.loads(history_text)
    return Occurrences(
        count=data["count"],
        total=data["total"],
        first_seen=data["first_seen"],
        last_seen=data["last_seen"],
        window=data["window"],
        is_new=data["is_new"],
        window_start=data["window_start"],
        window_end=data["window_end"],
        histogram=tuple(data["histogram"]),
        status="recurring",
        since=history.get("since", 0.0),
        first_release=history.get("first_release"),
        last_release=history.get("last_release"),
    )

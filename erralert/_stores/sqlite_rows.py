"""Rows of the SQLite store's file ↔ ``WindowState`` and ``Occurrences`` (the columns are
``erralert._stores.sqlite_schema``'s)."""

from __future__ import annotations

import json
from typing import Any

from erralert._core.notice import Occurrences
from erralert._stores.codec import encode
from erralert._stores.origins import Origins, facts_of, record_of
from erralert._stores.windows import WindowSlot, WindowState

__all__ = ["SEPARATOR", "Scope", "columns", "dump_digest", "load_digest", "state_of"]

SEPARATOR = "\x1f"  # between a namespace and a key: a fingerprint or rule id never has it


class Scope:
    """One namespace's rows in a file several services share: its keys (fingerprints, rule
    ids) are stored as ``<namespace>\x1f<key>``, so that services count and claim only their
    own. Without a namespace a key is stored as it is, as an earlier version wrote every
    key; a namespace also claims those, so that digests left by that version still go out."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.prefix = namespace + SEPARATOR if namespace else ""
        # the bounds of the namespace's keys: every text starting with the prefix sorts
        # between the two
        self.params: tuple[str, ...] = (
            (self.prefix, namespace + chr(ord(SEPARATOR) + 1)) if namespace else ()
        )

    def where(self, column: str) -> str:
        """The SQL condition (with ``params``) on ``column`` for the rows this namespace
        may claim or read: its own, and those of no namespace."""
        unscoped = f"instr({column}, char(31)) = 0"
        if not self.namespace:
            return unscoped
        return f"({column} >= ? AND {column} < ?) OR {unscoped}"

    def key(self, key: str) -> str:
        """How ``key`` is stored."""
        return self.prefix + key

    def strip(self, stored: str) -> str:
        """The key a stored one stands for."""
        return stored[len(self.prefix) :] if stored.startswith(self.prefix) else stored


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
        origins_text,
    ) = row
    # NULL in a row an earlier version made; another window's when it opened this one
    origins = Origins.load(origins_text, start)
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
        sources=tuple(origins.processes),
        hosts=tuple(origins.hosts),
        releases=tuple(origins.releases),
        more=origins.more,
    )


def columns(
    slot: WindowSlot,
) -> tuple[
    float,
    float,
    float,
    int,
    float,
    float,
    int,
    str,
    float,
    float,
    str | None,
    str | None,
    str | None,
]:
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
        slot.origins.dump(slot.window_start),
    )


def dump_digest(occ: Occurrences) -> tuple[str, str]:
    """A digest's ``occurrences`` column (the keys every version reads) and its ``history``
    (with its origins, when known)."""
    history: dict[str, object] = {
        "since": occ.since,
        "first_release": occ.first_release,
        "last_release": occ.last_release,
    }
    origins = record_of(occ)
    if origins is not None:
        history["origins"] = origins
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
        **facts_of(history.get("origins")),
    )

"""What the throttle decides to tell chat: an alert, a digest or a storm summary.

A ``Notice`` is platform-neutral; the outbox renders it once per channel into a
``channels.base.Message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from erralert.event import Event

__all__ = [
    "Kind",
    "Notice",
    "Occurrences",
    "Status",
    "Storm",
    "StormGroup",
    "document",
    "from_document",
]

Kind = Literal["alert", "digest", "storm"]

# Where an alerted error stands in the store's memory (``erralert.history.status_of``):
# never seen; first seen under the running release; seen under an earlier release and quiet
# since; or seen before under this release (or with no release to tell them apart).
# Digests and storm summaries of repeats are "recurring".
Status = Literal["new", "new_in_release", "regression", "recurring"]


@dataclass(frozen=True, slots=True)
class Occurrences:
    count: int  # occurrences this message reports: 1 for an alert, the repeats for a digest
    total: int  # every occurrence the store remembers for this fingerprint
    first_seen: float  # UNIX seconds: first occurrence this message reports
    last_seen: float  # UNIX seconds: last occurrence this message reports
    window: float  # the dedup window, seconds
    is_new: bool  # never seen before by this store
    window_start: float = 0.0
    window_end: float = 0.0
    histogram: tuple[int, ...] = ()  # occurrences per tenth of the window (digests)
    status: Status = "new"
    # UNIX seconds the store first saw the fingerprint (for a new error: now); 0.0 when
    # unknown (a message built without a store, or state kept by an earlier version)
    since: float = 0.0
    previous: float | None = None  # the last occurrence before this alert (None: new)
    first_release: str | None = None  # the release it was first seen under
    last_release: str | None = None  # the release of the sighting before this alert


@dataclass(frozen=True, slots=True)
class StormGroup:
    title: str
    culprit: str
    count: int  # occurrences folded into the storm for this error
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class Storm:
    groups: tuple[StormGroup, ...]  # biggest count first
    total: int  # all occurrences folded
    since: float
    until: float


@dataclass(frozen=True, slots=True)
class Notice:
    kind: Kind
    event: Event  # for a storm: the first folded event (templates mostly use `storm`)
    occurrences: Occurrences
    storm: Storm | None = None
    created_at: float = 0.0  # UNIX seconds when the decision was made
    # the channels this notice goes to (indices into the alerter's channel list); None = all
    channels: tuple[int, ...] | None = None
    mentions: bool = field(default=False)  # alert of a new error: configured mentions apply
    # what routing adds to a channel's own ?mention= entries (the route's people, the owners
    # of the culprit code): (channel key, raw entries) pairs, used only when `mentions`
    extra_mentions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # sent by a later process from the spool (its own process died before delivering it):
    # the message says it is late; its times are the original ones
    replayed: bool = False


SCHEMA_VERSION = 1


def document(notice: Notice) -> dict[str, object]:
    """The versioned JSON document of a notice (the generic webhook's body, schema v1):
    ``{"version": 1, "kind", "event": {...}, "occurrences": {...}, "storm": {...} | null}``."""
    occ = notice.occurrences
    storm = notice.storm
    return {
        "version": SCHEMA_VERSION,
        "kind": notice.kind,
        "event": notice.event.to_dict(),
        "occurrences": {
            "count": occ.count,
            "total": occ.total,
            "first_seen": occ.first_seen,
            "last_seen": occ.last_seen,
            "window": occ.window,
            "window_start": occ.window_start,
            "window_end": occ.window_end,
            "is_new": occ.is_new,
            "histogram": list(occ.histogram),
            "status": occ.status,
            "since": occ.since,
            "previous": occ.previous,
            "first_release": occ.first_release,
            "last_release": occ.last_release,
        },
        "storm": None
        if storm is None
        else {
            "groups": [
                {
                    "title": g.title,
                    "culprit": g.culprit,
                    "count": g.count,
                    "fingerprint": g.fingerprint,
                }
                for g in storm.groups
            ],
            "total": storm.total,
            "since": storm.since,
            "until": storm.until,
        },
    }


def from_document(data: dict[str, Any], *, created_at: float = 0.0) -> Notice:
    """The notice ``document`` was made of (the spool keeps notices as documents)."""
    occ = data["occurrences"]
    storm = data.get("storm")
    return Notice(
        kind=data["kind"],
        event=Event.from_dict(data["event"]),
        occurrences=Occurrences(
            count=occ["count"],
            total=occ["total"],
            first_seen=occ["first_seen"],
            last_seen=occ["last_seen"],
            window=occ["window"],
            is_new=occ["is_new"],
            window_start=occ["window_start"],
            window_end=occ["window_end"],
            histogram=tuple(occ["histogram"]),
            # absent from documents spooled by an earlier version
            status=occ.get("status", "new" if occ["is_new"] else "recurring"),
            since=occ.get("since", 0.0),
            previous=occ.get("previous"),
            first_release=occ.get("first_release"),
            last_release=occ.get("last_release"),
        ),
        storm=None
        if storm is None
        else Storm(
            groups=tuple(
                StormGroup(g["title"], g["culprit"], g["count"], fingerprint=g["fingerprint"])
                for g in storm["groups"]
            ),
            total=storm["total"],
            since=storm["since"],
            until=storm["until"],
        ),
        created_at=created_at,
    )

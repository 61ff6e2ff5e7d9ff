"""What the throttle decides to tell chat: an alert, a digest or a storm summary.

A ``Notice`` is platform-neutral; the outbox renders it once per channel into a
``channels.base.Message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from erralert._core.event import Event

__all__ = [
    "OTHER_ERRORS",
    "STORM_LINES",
    "Kind",
    "Notice",
    "Occurrences",
    "Status",
    "Storm",
    "StormGroup",
    "StormLine",
    "culprit_code",
    "document",
    "error_type",
    "from_document",
]

Kind = Literal["alert", "digest", "storm"]

# Where an alerted error stands in the store's memory (``erralert._stores.history.status_of``):
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
    # new (never seen), new_in_release, regression or recurring: see erralert._stores.history
    status: Status = "new"
    # UNIX seconds the store first saw the fingerprint (for a new error: now); 0.0 when
    # unknown (a message built without a store, or state kept by an earlier version)
    since: float = 0.0
    previous: float | None = None  # the last occurrence before this alert (None: new)
    first_release: str | None = None  # the release it was first seen under
    last_release: str | None = None  # the release of the sighting before this alert
    # where a digest's repeats came from (erralert._stores.origins): how many hosts and
    # processes counted them, and the releases they ran, first seen first. 0 and () when
    # unknown: an alert, state kept by an earlier version, a store that keeps no origins.
    # A window tells apart at most 64 processes, 64 hosts and 8 releases; more_* say that
    # there were more than it counts.
    hosts: int = 0
    processes: int = 0
    releases: tuple[str, ...] = ()
    more_hosts: bool = False
    more_processes: bool = False
    more_releases: bool = False

    def __post_init__(self) -> None:
        # "new" is the default status and says "never seen": occurrences of an error seen
        # before (is_new False) that name no status of their own are recurring
        if self.status == "new" and not self.is_new:
            object.__setattr__(self, "status", "recurring")


# A storm lists its errors up to a bound (``erralert._stores.base.MAX_STORM_GROUPS``); the
# occurrences of the errors beyond it are counted under one group with this fingerprint.
OTHER_ERRORS = "~other"
# A storm summary shows this many lines: what a phone screen holds without scrolling.
STORM_LINES = 8


@dataclass(frozen=True, slots=True)
class StormGroup:
    title: str
    culprit: str
    count: int  # occurrences folded into the storm for this error
    fingerprint: str = ""
    # the raised exception's type name ("KeyError"), or a message's level ("ERROR"); ""
    # when unknown (the group of other errors, or a group kept by an earlier version)
    type: str = ""
    is_new: bool = False  # the alert of this never-seen error was folded into the storm
    code: str = ""  # the culprit frame's source line; "" when unknown


@dataclass(frozen=True, slots=True)
class StormLine:
    """One line of a storm summary: its errors of one type at one culprit, merged."""

    title: str  # the title of the one with the most occurrences
    culprit: str
    type: str
    count: int  # their occurrences
    # how many errors (fingerprints) the line stands for; 0 on the line of other errors,
    # whose number the storm does not know (it only counts their occurrences)
    errors: int
    is_new: bool  # any of them never seen before
    other: bool = False  # the errors beyond the ones the storm lists (OTHER_ERRORS)
    code: str = ""  # the culprit's source line (of the biggest), "" when unknown

    @property
    def at(self) -> str:
        """Where, as a developer greps for it: ``shop/db/pool.py:88`` out of the culprit
        ``shop.db.pool.connect (shop/db/pool.py:88)``; the culprit as it is otherwise."""
        head, sep, tail = self.culprit.partition(" (")
        return tail[:-1] if sep and head and tail.endswith(")") else self.culprit


@dataclass(frozen=True, slots=True)
class Storm:
    groups: tuple[StormGroup, ...]  # biggest count first
    total: int  # all occurrences folded
    since: float
    until: float
    # new errors whose full alert is sent after this summary (``storm_followups``)
    followups: int = 0

    # -- the view a summary shows: grouped, new first, capped for a phone ------------------
    @property
    def kinds(self) -> tuple[StormLine, ...]:
        """The groups merged where type and culprit are the same: one exception at one
        place, reached from different call paths (different fingerprints), is one line.
        New errors first, then by occurrences, then by title; the other errors last."""
        merged: dict[tuple[str, str, str], list[StormGroup]] = {}
        others: list[StormGroup] = []
        for group in self.groups:
            if group.fingerprint == OTHER_ERRORS:
                others.append(group)
            elif group.type and group.culprit:
                merged.setdefault(("kind", group.type, group.culprit), []).append(group)
            else:  # no type or culprit to tell what it is: merged with nothing
                key = group.fingerprint or group.title
                merged.setdefault(("one", key, group.culprit), []).append(group)
        lines = sorted(
            (_line(parts) for parts in merged.values()),
            key=lambda line: (not line.is_new, -line.count, line.title),
        )
        if others:
            lines.append(
                StormLine(
                    title=others[0].title,
                    culprit="",
                    type="",
                    count=sum(g.count for g in others),
                    errors=0,
                    is_new=False,
                    other=True,
                )
            )
        return tuple(lines)

    @property
    def shown(self) -> tuple[StormLine, ...]:
        """The lines a summary lists: the first ``STORM_LINES`` of ``kinds``."""
        return self.kinds[:STORM_LINES]

    @property
    def hidden_kinds(self) -> int:
        """The errors (fingerprints) on the lines ``shown`` leaves out."""
        return sum(line.errors for line in self.kinds[STORM_LINES:])

    @property
    def hidden_count(self) -> int:
        """The occurrences on the lines ``shown`` leaves out."""
        return sum(line.count for line in self.kinds[STORM_LINES:])

    @property
    def errors(self) -> int:
        """The distinct errors (fingerprints) the storm lists. The group of other errors
        is not counted: the storm knows their occurrences, not how many errors they are."""
        return sum(1 for g in self.groups if g.fingerprint != OTHER_ERRORS)

    @property
    def new_errors(self) -> int:
        """The errors never seen before whose alert was folded into the storm."""
        return sum(1 for g in self.groups if g.is_new and g.fingerprint != OTHER_ERRORS)


def error_type(event: Event) -> str:
    """What a storm line says an error is: the raised exception's type name, or for a
    message its level ("ERROR")."""
    exc = event.exception
    return exc.type if exc is not None else event.level.upper()


def culprit_code(event: Event) -> str:
    """The culprit frame's source line, as the error's alert shows it; "" without one."""
    frame = event.culprit_frame
    return (frame.context_line or "") if frame is not None else ""


def _line(groups: list[StormGroup]) -> StormLine:
    biggest = max(groups, key=lambda g: g.count)  # the first of the biggest: groups come sorted
    return StormLine(
        title=biggest.title,
        culprit=biggest.culprit,
        type=biggest.type,
        count=sum(g.count for g in groups),
        errors=len(groups),
        is_new=any(g.is_new for g in groups),
        code=biggest.code,
    )


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
            **_origins(occ),
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
                    "type": g.type,
                    "is_new": g.is_new,
                    "code": g.code,
                }
                for g in storm.groups
            ],
            "total": storm.total,
            "since": storm.since,
            "until": storm.until,
            "followups": storm.followups,
        },
    }


def _origins(occ: Occurrences) -> dict[str, object]:
    """A digest's origins, in the document only when known (its schema gained them)."""
    if not (occ.processes or occ.releases):
        return {}
    return {
        "hosts": occ.hosts,
        "processes": occ.processes,
        "releases": list(occ.releases),
        "more_hosts": occ.more_hosts,
        "more_processes": occ.more_processes,
        "more_releases": occ.more_releases,
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
            # absent when unknown, and from documents written by an earlier version
            hosts=int(occ.get("hosts") or 0),
            processes=int(occ.get("processes") or 0),
            releases=tuple(str(r) for r in occ.get("releases") or ()),
            more_hosts=bool(occ.get("more_hosts", False)),
            more_processes=bool(occ.get("more_processes", False)),
            more_releases=bool(occ.get("more_releases", False)),
        ),
        storm=None
        if storm is None
        else Storm(
            groups=tuple(
                StormGroup(
                    g["title"],
                    g["culprit"],
                    g["count"],
                    fingerprint=g["fingerprint"],
                    # absent from documents written by an earlier version
                    type=g.get("type", ""),
                    is_new=bool(g.get("is_new", False)),
                    code=str(g.get("code") or ""),
                )
                for g in storm["groups"]
            ),
            total=storm["total"],
            since=storm["since"],
            until=storm["until"],
            followups=int(storm.get("followups") or 0),
        ),
        created_at=created_at,
    )

"""The storm summary being gathered for one channel, as the memory and SQLite stores keep
it (Redis keeps the same fields in a hash: ``erralert/_stores/lua/add_to_storm.lua`` writes
it, ``erralert._stores.redis_wire.load_pile`` reads it back into a ``PileState``).

"Storm" is the one name of the feature: the messages a channel's rates cannot carry
within ``max_delay`` are folded into one storm summary instead of being sent one by one.
The stores name its parts with a few more words, each for one stage of the same thing:

* ``StormEntry`` — one message folded into a storm (what ``Ledger.add_to_storm`` takes);
* a *pile* — the storm summary of one channel while it gathers entries: ``PileState``
  here, and ``Pile`` once it is claimed (``Ledger.claim_storm``'s answer: its errors as
  ``StormGroup`` rows, its ``Followup`` alerts, the send slot booked for it);
* a *lane* — the channel a pile belongs to (a digest of its webhook URL): a store keeps
  one pile and one list of booked sends per lane;
* ``Ledger`` — the store protocol (``erralert._stores.base``) that keeps the lanes' booked
  sends and piles, shared by every process of an app like the counts.

So a lane's storm gathers ``StormEntry``s into a pile (``PileState``), which is claimed as
a ``Pile`` and sent as the storm summary.

A pile starts with its first entry: that entry's event is the summary's sample and the
pile may be claimed ``gather`` seconds later, so one summary covers the burst. Errors are
grouped by fingerprint; beyond ``MAX_STORM_GROUPS`` distinct errors the rest are counted
under ``OTHER_ERRORS``, so a pile stays small however wide the storm.

The alert of a new error folded into the pile is kept for a follow-up (its event and
mentions), for the listed errors only: at most ``MAX_STORM_GROUPS`` of them per pile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from erralert._core.event import Event
from erralert._core.notice import StormGroup
from erralert._stores.base import MAX_STORM_GROUPS, OTHER_ERRORS, Followup, Pile, StormEntry

__all__ = ["PileState", "followup_record"]

# the group of the errors beyond the list: [title, culprit, count, type, is_new, code]
_OTHER_GROUP = ["other errors", "", 0, "", False, ""]


@dataclass(slots=True)
class PileState:
    since: float
    not_before: float  # claimable from then on
    window: float
    sample: dict[str, Any] | None  # Event.to_dict() of the first entry
    until: float = 0.0
    total: int = 0
    # fingerprint -> [title, culprit, count, type, is_new, code] (a pile kept by an earlier
    # version has only the first three or five)
    groups: dict[str, list[Any]] = field(default_factory=dict)
    # fingerprint -> followup_record(): the new errors' alerts, to send after the summary
    followups: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def start(cls, entry: StormEntry, sample: Event, now: float, gather: float) -> PileState:
        return cls(
            since=now,
            not_before=now + gather,
            window=entry.window,
            sample=sample.to_dict(),
            until=now,
        )

    def add(self, entry: StormEntry, now: float, event: Event) -> None:
        """Fold ``entry`` (of ``event``) in."""
        self.until = max(self.until, now)
        self.total += entry.count
        key = entry.fingerprint
        group = self.groups.get(key)
        if group is None and len(self.groups) >= MAX_STORM_GROUPS:
            key = OTHER_ERRORS
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = list(_OTHER_GROUP)
        if group is None:
            group = self.groups[key] = [
                entry.title,
                entry.culprit,
                0,
                entry.type,
                False,
                entry.code,
            ]
        elif len(group) < 6:  # kept by an earlier version
            group.extend(["", False, ""][len(group) - 3 :])
        if not group[3] and key != OTHER_ERRORS:
            group[3] = entry.type
        group[2] += entry.count
        if entry.is_new and key != OTHER_ERRORS:
            group[4] = True
            if key not in self.followups and len(self.followups) < MAX_STORM_GROUPS:
                self.followups[key] = followup_record(entry, event.to_dict())

    def claimed(self, slot: float, followups: int = 0) -> Pile:
        groups = sorted(
            (
                StormGroup(
                    group[0],
                    group[1],
                    group[2],
                    fingerprint=key,
                    type=group[3] if len(group) > 3 else "",
                    is_new=bool(group[4]) if len(group) > 4 else False,
                    code=str(group[5]) if len(group) > 5 else "",
                )
                for key, group in self.groups.items()
            ),
            # ties by title: every store lists a storm in the same order
            key=lambda g: (g.fingerprint == OTHER_ERRORS, -g.count, g.title, g.fingerprint),
        )
        sample = None
        if self.sample is not None:
            try:
                sample = Event.from_dict(self.sample)
            except (ValueError, KeyError, TypeError):
                sample = None  # written by another version: the summary still goes out
        return Pile(
            groups=tuple(groups),
            total=self.total,
            since=self.since,
            until=self.until,
            window=self.window,
            sample=sample,
            slot=slot,
            followups=_pick_followups(groups, self.followups, followups),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "not_before": self.not_before,
            "window": self.window,
            "sample": self.sample,
            "until": self.until,
            "total": self.total,
            "groups": self.groups,
            "followups": self.followups,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PileState:
        # what a later version may add is left out, what an earlier one lacked defaults
        return cls(**{name: value for name, value in data.items() if name in _FIELDS})


_FIELDS = frozenset(f.name for f in fields(PileState))


def followup_record(entry: StormEntry, event: dict[str, Any]) -> dict[str, Any]:
    """What a pile keeps of a new error's alert (JSON-ready): its event (``Event.to_dict``)
    and the notice's own mention data, never rendered text."""
    return {
        "event": event,
        "window": entry.window,
        "mentions": entry.mentions,
        "entries": list(entry.extra_mentions),
    }


def _pick_followups(
    groups: Sequence[StormGroup], records: Mapping[str, Mapping[str, Any]], limit: int
) -> tuple[Followup, ...]:
    """The ``limit`` new errors of ``records`` with the most occurrences in ``groups`` (then
    by title, then by fingerprint: the same choice in every store). A record whose event
    cannot be read (written by another version) is passed over for the next one."""
    if limit <= 0 or not records:
        return ()
    listed = sorted(
        (g for g in groups if g.fingerprint in records),
        key=lambda g: (-g.count, g.title, g.fingerprint),
    )
    picked: list[Followup] = []
    for group in listed:
        record = records[group.fingerprint]
        try:
            event = Event.from_dict(record["event"])
            followup = Followup(
                fingerprint=group.fingerprint,
                event=event,
                count=group.count,
                window=float(record.get("window") or 0.0),
                mentions=bool(record.get("mentions")),
                extra_mentions=tuple(str(e) for e in record.get("entries") or ()),
            )
        except (ValueError, KeyError, TypeError):
            continue
        picked.append(followup)
        if len(picked) == limit:
            break
    return tuple(picked)

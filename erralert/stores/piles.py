"""The storm summary being gathered for one channel, as the memory and SQLite stores keep
it (Redis keeps the same fields in a hash, see ``stores.redis``).

A pile starts with its first entry: that entry's event is the summary's sample and the
pile may be claimed ``gather`` seconds later, so one summary covers the burst. Errors are
grouped by fingerprint; beyond ``MAX_STORM_GROUPS`` distinct errors the rest are counted
under ``OTHER_ERRORS``, so a pile stays small however wide the storm."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from erralert.event import Event
from erralert.notice import StormGroup
from erralert.stores.base import MAX_STORM_GROUPS, OTHER_ERRORS, Pile, StormEntry

__all__ = ["PileState"]


@dataclass(slots=True)
class PileState:
    since: float
    not_before: float  # claimable from then on
    window: float
    sample: dict[str, Any] | None  # Event.to_dict() of the first entry
    until: float = 0.0
    total: int = 0
    # fingerprint -> [title, culprit, count]
    groups: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def start(cls, entry: StormEntry, sample: Event, now: float, gather: float) -> PileState:
        return cls(
            since=now,
            not_before=now + gather,
            window=entry.window,
            sample=sample.to_dict(),
            until=now,
        )

    def add(self, entry: StormEntry, now: float) -> None:
        self.until = max(self.until, now)
        self.total += entry.count
        group = self.groups.get(entry.fingerprint)
        if group is None and len(self.groups) >= MAX_STORM_GROUPS:
            group = self.groups.get(OTHER_ERRORS)
            if group is None:
                group = self.groups[OTHER_ERRORS] = ["other errors", "", 0]
        if group is None:
            self.groups[entry.fingerprint] = [entry.title, entry.culprit, entry.count]
        else:
            group[2] += entry.count

    def claimed(self, slot: float) -> Pile:
        groups = sorted(
            (
                StormGroup(title, culprit, count, fingerprint=key)
                for key, (title, culprit, count) in self.groups.items()
            ),
            key=lambda g: (g.fingerprint == OTHER_ERRORS, -g.count),
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PileState:
        return cls(**data)

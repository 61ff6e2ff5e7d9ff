"""Rules, decisions and the router: where an error goes and whom its alert mentions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from erralert._routing.matchers import Condition, Facts, Tags
from erralert.channels.base import Channel

__all__ = ["KEY_MARK", "ChannelMentions", "Decision", "Owner", "Router", "Rule"]

KEY_MARK = "|route:"  # throttle keys of routed errors: "<fingerprint>|route:<rule ids>"
# per channel key, the raw mention entries routing adds (Notice.extra_mentions)
ChannelMentions = tuple[tuple[str, tuple[str, ...]], ...]


# -- rules and decisions --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Rule:
    index: int  # its place in `routes`, from 0
    id: str  # stable across processes and restarts: its name, else a digest of its text
    name: str | None
    conditions: tuple[Condition, ...]
    channels: tuple[int, ...]  # indices into the alerter's channels; () silences
    mentions: tuple[tuple[str, str], ...]  # (platform, entry)
    window: float | None
    rate: str | None
    go_on: bool  # "continue"

    @property
    def label(self) -> str:
        return f'routes[{self.index}] "{self.name}"' if self.name else f"routes[{self.index}]"

    @property
    def silences(self) -> bool:
        return not self.channels

    def matches(self, facts: Facts) -> bool:
        return all(condition(facts) for condition in self.conditions)


@dataclass(frozen=True, slots=True)
class Decision:
    rules: tuple[Rule, ...]  # the rules that matched and took part; () = the default route
    channels: tuple[int, ...]  # where it goes; () = silenced
    window: float | None  # the first of the rules' windows, else the alerter's
    suffix: str  # added to the fingerprint for the throttle ("" for the default route)

    @property
    def silenced(self) -> bool:
        return not self.channels


@dataclass(frozen=True, slots=True)
class Owner:
    pattern: str
    glob: re.Pattern[str]
    mentions: tuple[tuple[str, str], ...]  # (platform, entry)


class Router:
    """The routing rules and owners of one alerter, over its channel list."""

    def __init__(
        self,
        rules: Sequence[Rule],
        owners: Sequence[Owner],
        default: tuple[int, ...],
        channels: Sequence[Channel],
    ) -> None:
        self.rules = tuple(rules)
        self.owners = tuple(owners)
        self.channels = tuple(channels)
        self.default = Decision((), _unique(default, self.channels), None, "")
        self._by_id = {rule.id: rule for rule in self.rules}
        used = {c.key for rule in self.rules for c in rule.conditions}
        # the per-occurrence facts that take part in a decision's cache key
        self.uses_level = "level" in used
        self.uses_logger = "logger" in used
        self.tag_keys = tuple(
            sorted(
                {
                    tag
                    for rule in self.rules
                    for c in rule.conditions
                    if isinstance(c, Tags)
                    for tag in c.tags
                }
            )
        )

    @property
    def active(self) -> bool:
        """Whether routing changes anything (rules or owners configured)."""
        return bool(self.rules or self.owners)

    def decide(self, facts: Facts) -> Decision:
        matched: list[Rule] = []
        for rule in self.rules:
            if rule.matches(facts):
                matched.append(rule)
                if not rule.go_on:
                    break
        return self._decision(matched)

    def _decision(self, matched: Sequence[Rule]) -> Decision:
        if not matched:
            return self.default
        channels = _unique([i for rule in matched for i in rule.channels], self.channels)
        window = next((rule.window for rule in matched if rule.window is not None), None)
        suffix = KEY_MARK + "+".join(rule.id for rule in matched)
        return Decision(tuple(matched), channels, window, suffix)

    def for_key(self, key: str) -> tuple[str, Decision]:
        """The fingerprint and decision of a throttle key (a digest claimed from a store,
        maybe decided by another process). Rules no longer configured: the default route."""
        fingerprint, mark, ids = key.rpartition(KEY_MARK)
        if not mark:
            return key, self.default
        rules = [self._by_id.get(rule_id) for rule_id in ids.split("+")]
        if any(rule is None for rule in rules):
            return fingerprint, self.default
        decision = self._decision([rule for rule in rules if rule is not None])
        return fingerprint, decision

    def owners_of(self, path: str | None) -> Owner | None:
        """The owner entry of a culprit file: the last glob that matches it."""
        if not path or not self.owners:
            return None
        path = path.replace("\\", "/")
        found = None
        for owner in self.owners:
            if owner.glob.fullmatch(path):
                found = owner
        return found

    def mentions(
        self, decision: Decision, path: str | None
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Per channel key, the entries an alert of a new error mentions besides each
        channel's own ``?mention=``: the rules' entries for the rule's own channels of that
        platform, then the culprit's owners on every channel of their platform."""
        owner = self.owners_of(path)
        out: list[tuple[str, tuple[str, ...]]] = []
        for index in decision.channels:
            channel = self.channels[index]
            entries = [
                entry
                for rule in decision.rules
                if index in rule.channels
                for platform, entry in rule.mentions
                if platform == channel.platform
            ]
            if owner is not None:
                entries += [e for platform, e in owner.mentions if platform == channel.platform]
            if entries:
                out.append((channel.key, tuple(dict.fromkeys(entries))))
        return tuple(out)


def _unique(indices: Iterable[int], channels: Sequence[Channel]) -> tuple[int, ...]:
    """Indices in order, without a second channel posting to the same webhook."""
    seen: set[str] = set()
    out: list[int] = []
    for i in indices:
        key = channels[i].key
        if key not in seen:
            seen.add(key)
            out.append(i)
    return tuple(out)

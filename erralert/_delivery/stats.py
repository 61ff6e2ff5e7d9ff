"""What an alerter's delivery did since the process started, per channel and in total:
``Alerter.stats()`` returns it, ``erralert.prometheus_text`` writes it for a scraper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from erralert._delivery.tally import Counted
from erralert.channels.base import Channel

__all__ = ["ChannelStats", "Stats", "channel_labels", "stats_of"]


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """One channel's counters. Messages are chat messages: a storm summary is one.

    ``sent``: the platform accepted it. ``refused``: the platform said no for good (a bad
    payload, a wrong signature: not worth a retry). ``retried``: attempts that failed for a
    passing reason (a timeout, a 5xx, a 429, a throttle code) and are tried again — a
    message retried twice counts twice. ``folded``: messages folded into a storm summary
    instead of being sent on their own. ``lost``: given up (failing for longer than the
    retry age, or a channel that could not render it). ``outstanding``: owed now — queued,
    waiting for a retry or in a storm summary not yet sent."""

    platform: str
    sent: int = 0
    refused: int = 0
    retried: int = 0
    folded: int = 0
    lost: int = 0
    outstanding: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    """Counters of an alerter's delivery since the process started (a forked child starts
    from zero): per channel, keyed by the channel's name as logs show it (``?name=``, or
    the platform and the URL with its secrets masked), and in total.

    ``alerts`` and ``digests``: the notices handed to delivery (one per error and window,
    whatever the number of channels). Counters only grow, but ``outstanding``.

    >>> stats = alerter.stats()                                  # doctest: +SKIP
    >>> stats.sent, stats.channels["ops-slack"].retried          # doctest: +SKIP
    (12, 1)
    """

    channels: Mapping[str, ChannelStats] = field(default_factory=dict)
    alerts: int = 0
    digests: int = 0

    def __post_init__(self) -> None:
        # read-only, like the rest of the snapshot
        object.__setattr__(self, "channels", MappingProxyType(dict(self.channels)))

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels.values())

    @property
    def refused(self) -> int:
        return sum(c.refused for c in self.channels.values())

    @property
    def retried(self) -> int:
        return sum(c.retried for c in self.channels.values())

    @property
    def folded(self) -> int:
        return sum(c.folded for c in self.channels.values())

    @property
    def lost(self) -> int:
        return sum(c.lost for c in self.channels.values())

    @property
    def outstanding(self) -> int:
        return sum(c.outstanding for c in self.channels.values())


def stats_of(labels: Sequence[tuple[str, str]], counted: Counted) -> Stats:
    """``counted`` (a tally's reading) for the channels ``labels`` names, in their order
    (``channel_labels``)."""
    per_channel = {
        name: ChannelStats(
            platform=platform,
            sent=counted.outcomes["sent"][index],
            refused=counted.outcomes["refused"][index],
            retried=counted.outcomes["retried"][index],
            folded=counted.outcomes["folded"][index],
            lost=counted.outcomes["lost"][index],
            outstanding=counted.outstanding[index],
        )
        for index, (name, platform) in enumerate(labels)
    }
    return Stats(
        per_channel,
        alerts=counted.kinds.get("alert", 0),
        digests=counted.kinds.get("digest", 0),
    )


def channel_labels(channels: Sequence[Channel]) -> list[tuple[str, str]]:
    """Each channel's (name, platform), named once (masking a URL is not free). A name
    taken by an earlier channel gets `` #2``, `` #3``… (two channels named alike, or the
    same URL twice, are still two series)."""
    labels: list[tuple[str, str]] = []
    taken: set[str] = set()
    for channel in channels:
        name, n = channel.name, 1
        while name in taken:
            n += 1
            name = f"{channel.name} #{n}"
        taken.add(name)
        labels.append((name, channel.platform))
    return labels

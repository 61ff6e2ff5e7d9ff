"""The chat platforms erralert speaks, one module each.

>>> from erralert.channels import catalogue
>>> [(p.name, p.max_length, p.length_unit) for p in catalogue()][:2]
[('console', 100000, 'chars'), ('dingtalk', 18000, 'bytes')]

``PLATFORMS`` maps each platform name to its channel class and ``DIALECTS`` each dialect
name to its escaping; ``parse_webhook`` turns a webhook URL into a channel
(``ConfigError`` naming what is accepted when it can't). Everything erralert knows to send
to one platform is in its module (``erralert.channels.telegram``: URL forms, limits,
escaping, payload, answers); ``erralert.channels.registry`` lists the modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from erralert._core.pacing import Rate
from erralert.channels.base import Channel, ChannelOptions, Judgement, Message, Verdict
from erralert.channels.dialects import Dialect
from erralert.channels.registry import DIALECTS, PLATFORMS, parse_webhook

__all__ = [
    "DIALECTS",
    "PLATFORMS",
    "Channel",
    "ChannelOptions",
    "Dialect",
    "Judgement",
    "Message",
    "PlatformInfo",
    "Rate",
    "Verdict",
    "catalogue",
    "parse_webhook",
]


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """One platform as erralert speaks it: its limits, pacing, options and URL forms."""

    name: str
    dialect: str  # how untrusted text is escaped: the platform's dialect, or plain
    max_length: int  # of a message's body
    length_unit: str  # "chars" or "bytes", as the platform counts
    rates: tuple[Rate, ...]  # default pacing: at most N in any rolling period
    options: tuple[str, ...]  # the URL options it honours
    short_form: str | None
    native_hosts: tuple[str, ...]


def catalogue() -> list[PlatformInfo]:
    """Every platform, sorted by name."""
    return [
        PlatformInfo(
            name=name,
            dialect=channel.dialect,
            max_length=channel.max_length,
            length_unit=channel.length_unit,
            rates=channel.rates,
            options=tuple(sorted(channel.supported_options)),
            short_form=channel.short_form,
            native_hosts=tuple(host for host, _ in channel.native_urls),
        )
        for name, channel in sorted(PLATFORMS.items())
    ]

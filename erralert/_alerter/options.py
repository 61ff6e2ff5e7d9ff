"""The Alerter's options, checked and turned into the parts of its pipeline: the channels
and routing rules, the scrubber, the ignore list, the renderer. Every configuration
mistake is a ``ConfigError`` naming the option, raised when the alerter is built — never
at capture time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import tzinfo
from typing import Any

from erralert._capture.scrub import Scrubber
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.frames import type_names
from erralert._core.links import parse_links
from erralert._core.safelog import safe_logger
from erralert._render.renderer import Renderer
from erralert._routing import OwnersSpec, Router, build_router, plan_channels
from erralert.channels.base import Channel
from erralert.channels.console import ConsoleChannel
from erralert.channels.registry import parse_webhook

__all__ = [
    "BeforeSend",
    "FingerprintHook",
    "IgnoreList",
    "IgnoreSpec",
    "build_renderer",
    "check_options",
    "route_channels",
    "scrubber",
]

logger = safe_logger()

BeforeSend = Callable[[Event], Event | None]
FingerprintHook = Callable[[Event], str | None]
IgnoreSpec = type[BaseException] | str


def check_options(
    *,
    window: float,
    timeout: float,
    max_delay: float,
    max_queue: int,
    storm_followups: int,
    before_send: BeforeSend | None,
    fingerprint: FingerprintHook | None,
) -> None:
    """The options that need no building, checked."""
    _check_positive(window=window, timeout=timeout, max_delay=max_delay)
    if max_queue < 1:
        raise ConfigError(f"max_queue must be at least 1, got {max_queue}")
    if isinstance(storm_followups, bool) or not isinstance(storm_followups, int):
        raise ConfigError(f"storm_followups must be an integer, got {storm_followups!r}")
    if storm_followups < 0:
        raise ConfigError(f"storm_followups must be 0 or more, got {storm_followups}")
    for name, hook in (("before_send", before_send), ("fingerprint", fingerprint)):
        if hook is not None and not callable(hook):
            raise ConfigError(f"{name} must be callable, got {type(hook).__name__}")


def route_channels(
    webhooks: Iterable[str | Channel] | str,
    routes: Sequence[Mapping[str, Any]],
    owners: OwnersSpec,
) -> tuple[tuple[Channel, ...], Router | None]:
    """The channels, and the routing rules and owners (None when there are none)."""
    if not routes and owners is None:
        return _channels(webhooks), None
    if isinstance(routes, Mapping) or not isinstance(routes, Sequence):
        raise ConfigError(f"routes: expected a list of rules, got {routes!r}")
    plan = plan_channels(_webhook_list(webhooks), routes, parse_webhook)
    router = build_router(routes, owners, plan)
    return tuple(plan.channels) or _channels(()), router if router.active else None


def build_renderer(
    channels: Iterable[Channel],
    template_dir: str | os.PathLike[str] | None,
    *,
    locale: str,
    timezone: str | tzinfo,
    links: Mapping[str, str] | None,
    tags_to_show: Iterable[str] | str,
) -> Renderer:
    """The renderer, with every channel's own template compiled now."""
    renderer = Renderer(
        template_dir,
        locale=locale,
        timezone=timezone,
        links=parse_links(links),
        tags_to_show=tags_to_show,
    )
    for channel in channels:
        if channel.options.template:
            try:
                renderer.check(channel.options.template)
            except ConfigError as exc:
                raise ConfigError(f"{channel.name}: {exc}") from None
    return renderer


def scrubber(keys: Iterable[str], patterns: Iterable[str | re.Pattern[str]]) -> Scrubber:
    """The scrubber of ``scrub_keys`` and ``scrub_patterns``; a pattern that cannot work is
    a configuration error naming it."""
    # one string would be read as its characters: a pattern per letter
    for name, value in (("scrub_keys", keys), ("scrub_patterns", patterns)):
        if isinstance(value, str | re.Pattern):
            raise ConfigError(f"{name} must be a list, got a single {value!r}")
    checked: list[str | re.Pattern[str]] = []
    for pattern in patterns:
        try:
            Scrubber(extra_patterns=[pattern])
        except (re.error, ValueError, TypeError) as exc:
            shown = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            raise ConfigError(f"scrub_patterns: {shown!r} {exc}") from None
        checked.append(pattern)
    return Scrubber(keys, checked)


class IgnoreList:
    """``ignore=``: classes (subclasses match) or dotted names, decided once per type."""

    def __init__(self, specs: Iterable[IgnoreSpec]) -> None:
        self._classes: list[type[BaseException]] = []
        self._names: set[str] = set()
        for spec in specs:
            if isinstance(spec, str):
                self._names.add(spec)
            elif isinstance(spec, type) and issubclass(spec, BaseException):
                self._classes.append(spec)
            else:
                raise ConfigError(f"ignore: expected exception classes or names, got {spec!r}")
        self._cache: dict[type[BaseException], bool] = {}

    def matches(self, cls: type[BaseException]) -> bool:
        try:
            return self._cache[cls]
        except KeyError:
            pass
        hit = any(issubclass(cls, c) for c in self._classes) or any(
            _named(k, self._names) for k in cls.__mro__
        )
        if len(self._cache) < 10_000:
            self._cache[cls] = hit
        return hit


def _named(cls: type, names: set[str]) -> bool:
    # type_names: a metaclass may make `cls.__module__` raise; matching must not
    qualname, module = type_names(cls)
    return f"{module}.{qualname}" in names or qualname in names


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")


def _webhook_list(webhooks: Iterable[str | Channel] | str) -> list[str | Channel]:
    if isinstance(webhooks, str):
        from erralert._core.config import split_webhooks

        return list(split_webhooks(webhooks))
    return list(webhooks)


def _channels(webhooks: Iterable[str | Channel] | str) -> tuple[Channel, ...]:
    channels: list[Channel] = []
    for spec in _webhook_list(webhooks):
        if isinstance(spec, Channel):
            channels.append(spec)
        elif isinstance(spec, str):
            channels.append(parse_webhook(spec))
        else:
            raise ConfigError(f"webhooks: expected URL strings or channels, got {spec!r}")
    if not channels:
        _warn_console_once()
        channels.append(ConsoleChannel("console://"))
    return tuple(channels)


_console_warned = False


def _warn_console_once() -> None:
    global _console_warned
    if not _console_warned:
        _console_warned = True
        logger.warning(
            "erralert: no webhooks configured (ERRALERT_WEBHOOKS or webhooks=); alerts go to stderr"
        )

"""Routes and owners from their configuration: the channels they need, each rule
checked and named in every error (``routes[2] \"payments\": …``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from erralert._core.errors import ConfigError
from erralert._routing.globs import compile_glob
from erralert._routing.matchers import condition, unknown
from erralert._routing.router import Owner, Router, Rule
from erralert.channels.base import Channel

__all__ = ["RULE_KEYS", "ChannelPlan", "OwnersSpec", "build_router", "plan_channels"]

RULE_KEYS = ("name", "match", "webhooks", "mention", "window", "rate", "continue")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# owners=: a table of glob -> ["platform:id", ...], or an OWNERS-style file
OwnersSpec = Mapping[str, Any] | str | Path | None


# -- building from the configuration ----------------------------------------------------------
ParseWebhook = Callable[[str], Channel]


@dataclass
class ChannelPlan:
    """The alerter's channels: the top-level webhooks first, then each route's new ones."""

    channels: list[Channel]
    default: tuple[int, ...]
    per_rule: list[tuple[int, ...]]


def plan_channels(
    webhooks: Sequence[str | Channel],
    routes: Sequence[Mapping[str, Any]],
    parse: ParseWebhook,
) -> ChannelPlan:
    """Channels for the top-level webhooks and every route's; the same URL written twice
    is one channel (one pacing budget)."""
    channels: list[Channel] = []
    by_spec: dict[object, int] = {}

    def index_of(spec: str | Channel, where: str) -> int:
        key: object = spec if isinstance(spec, str) else id(spec)
        if key in by_spec:
            return by_spec[key]
        if isinstance(spec, Channel):
            channel = spec
        elif isinstance(spec, str):
            try:
                channel = parse(spec)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        else:
            raise ConfigError(f"{where}: expected webhook URLs or channels, got {spec!r}")
        channels.append(channel)
        by_spec[key] = len(channels) - 1
        return len(channels) - 1

    default = tuple(index_of(spec, "webhooks") for spec in webhooks)
    per_rule: list[tuple[int, ...]] = []
    for i, route in enumerate(routes):
        label = _checked_label(i, route)
        specs = route.get("webhooks", None)
        if specs is None:
            raise ConfigError(f"{label}: 'webhooks' is missing (use [] to silence what it matches)")
        if isinstance(specs, str):
            from erralert._core.config import split_webhooks

            specs = split_webhooks(specs)
        if not isinstance(specs, list | tuple):
            raise ConfigError(f"{label}: 'webhooks' must be a list of URLs, got {specs!r}")
        rate = route.get("rate")
        per_rule.append(
            tuple(index_of(_with_rate(spec, rate), f"{label} webhooks") for spec in specs)
        )
    return ChannelPlan(channels, default, per_rule)


def _with_rate(spec: str | Channel, rate: object) -> str | Channel:
    """A route's ``rate`` as ``?rate=`` on each of its URLs that has none of its own."""
    if rate is None or not isinstance(spec, str):
        return spec
    query = urlsplit(spec).query
    if any(part.split("=", 1)[0] == "rate" for part in query.split("&") if part):
        return spec
    return f"{spec}{'&' if query else '?'}rate={rate}"


def _label(index: int, route: Mapping[str, Any]) -> str:
    name = route.get("name") if isinstance(route, Mapping) else None
    return f'routes[{index}] "{name}"' if isinstance(name, str) and name else f"routes[{index}]"


def build_router(
    routes: Sequence[Mapping[str, Any]],
    owners: OwnersSpec,
    plan: ChannelPlan,
) -> Router:
    """The router of ``routes`` and ``owners`` over ``plan``'s channels; ``ConfigError``
    naming the rule (or owner entry) for anything wrong."""
    rules = [_rule(i, route, plan) for i, route in enumerate(routes)]
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(
                f"{rule.label}: {seen[rule.id].label} has the same name (or the same text): "
                "rules need names of their own"
            )
        seen[rule.id] = rule
    if (
        routes
        and not plan.default
        and not any(not rule.conditions and not rule.go_on for rule in rules)
    ):
        raise ConfigError(
            "routes: no top-level webhooks (the default route) and no last rule without "
            "'match': errors no rule matches would go nowhere. Add webhooks=[...] or a final "
            "rule {'webhooks': [...]} (or {'webhooks': []} to silence them on purpose)"
        )
    return Router(rules, _owners(owners, plan.channels), plan.default, plan.channels)


def _checked_label(index: int, route: object) -> str:
    """A rule's label for messages, once it is known to be a table of known keys."""
    if not isinstance(route, Mapping):
        raise ConfigError(f"routes[{index}]: expected a table (dict), got {route!r}")
    label = _label(index, route)
    strange = [k for k in route if k not in RULE_KEYS]
    if strange:
        raise ConfigError(f"{label}: {unknown('key', strange[0], RULE_KEYS)}")
    return label


def _rule(index: int, route: Mapping[str, Any], plan: ChannelPlan) -> Rule:
    label = _checked_label(index, route)
    name = route.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
        raise ConfigError(
            f"{label}: name must be letters, digits, '.', '_' or '-' (up to 64), got {name!r}"
        )
    match = route.get("match", {})
    if not isinstance(match, Mapping):
        raise ConfigError(f"{label}: 'match' must be a table of matchers, got {match!r}")
    conditions = []
    for key, value in match.items():
        try:
            conditions.append(condition(str(key), value))
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    window = route.get("window")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int | float) or window <= 0
    ):
        raise ConfigError(f"{label}: window must be a positive number of seconds, got {window!r}")
    rate = route.get("rate")
    if rate is not None and not isinstance(rate, str):
        raise ConfigError(f"{label}: rate must be written like '20/60' (20 per 60 s), got {rate!r}")
    go_on = route.get("continue", False)
    if not isinstance(go_on, bool):
        raise ConfigError(f"{label}: continue must be true or false, got {go_on!r}")
    channels = plan.per_rule[index]
    mentions = _mentions(route.get("mention", ()), label, [plan.channels[i] for i in channels])
    rule_id = name if isinstance(name, str) else _digest(route)
    return Rule(
        index=index,
        id=rule_id,
        name=name if isinstance(name, str) else None,
        conditions=tuple(conditions),
        channels=channels,
        mentions=mentions,
        window=float(window) if window is not None else None,
        rate=rate,
        go_on=go_on,
    )


def _digest(route: Mapping[str, Any]) -> str:
    """A rule's id without a name: a digest of its text (the same in every process)."""
    text = json.dumps(route, sort_keys=True, default=repr)
    return "r" + hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def _mentions(
    value: object, where: str, channels: Sequence[Channel]
) -> tuple[tuple[str, str], ...]:
    """``platform:entry`` mentions, each checked against every channel of its platform
    among ``channels``."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: mention must be a list of 'platform:id', got {value!r}")
    out: list[tuple[str, str]] = []
    platforms = sorted({c.platform for c in channels})
    for item in value:
        if not isinstance(item, str) or ":" not in item:
            raise ConfigError(
                f"{where}: mention {item!r} must be written 'platform:id' "
                "(e.g. 'dingtalk:13800000000', 'slack:U0123ABCD')"
            )
        platform, _, entry = item.partition(":")
        platform, entry = platform.strip().lower(), entry.strip()
        targets = [c for c in channels if c.platform == platform]
        if not targets:
            has = ", ".join(platforms) if platforms else "none (it silences)"
            raise ConfigError(
                f"{where}: mention {item!r} is for {platform}, but there is no {platform} "
                f"channel here (channels: {has})"
            )
        for channel in targets:
            try:
                channel.check_mention(entry)
            except ConfigError as exc:
                raise ConfigError(f"{where}: mention {item!r}: {exc}") from None
        out.append((platform, entry))
    return tuple(out)


def _owners(
    spec: Mapping[str, Any] | str | Path | None, channels: Sequence[Channel]
) -> list[Owner]:
    if spec is None:
        return []
    if isinstance(spec, str | Path):
        pairs = _owners_file(Path(spec))
    elif isinstance(spec, Mapping):
        pairs = [(str(k), v, f"owners[{k!r}]") for k, v in spec.items()]
    else:
        raise ConfigError(
            f"owners: expected a table of glob = [mentions] or a file path, got {spec!r}"
        )
    owners = []
    for pattern, mentions, where in pairs:
        try:
            glob = compile_glob(pattern.replace("\\", "/"), "/", anywhere=True)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        owners.append(Owner(pattern, glob, _mentions(mentions, where, channels)))
    return owners


def _owners_file(path: Path) -> list[tuple[str, Any, str]]:
    """An OWNERS file: ``<glob> <platform:id> …`` per line, ``#`` comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"owners: cannot read {path}: {exc.strerror or exc}") from None
    pairs: list[tuple[str, Any, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, *mentions = line.split()
        where = f"owners {path}:{number}"
        if not mentions:
            raise ConfigError(f"{where}: {pattern!r} names nobody (write: <glob> platform:id …)")
        pairs.append((pattern, mentions, where))
    return pairs

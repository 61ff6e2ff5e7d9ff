"""Webhook URLs to channels: ``parse_webhook("https://hooks.slack.com/services/T…/B…/…")``.

Three forms name a channel:

1. a native URL, pasted as the platform gives it, recognised by host and path
   (``https://hooks.slack.com/services/T…/B…/…``, ``https://oapi.dingtalk.com/robot/send?access_token=…``);
2. ``<platform>+https://…`` (or ``+http://``): that platform's payload to exactly that URL,
   for proxies, self-hosted servers and test servers (``webhook+https://…`` is the generic
   JSON webhook);
3. a short form: ``slack://T…/B…/…``, ``dingtalk://[secret@]access_token``, ``console://``
   (standard error) or ``console://stdout``.

erralert's options ride in the query string and are removed before sending; every other
query parameter is kept and sent, since platforms need theirs (``access_token``, Teams'
``sig``). Option values are percent-decoded; a ``+`` stays a ``+`` (secrets contain them).

- ``secret``: DingTalk request signing; generic webhook body signature (HMAC-SHA256).
- ``mention``: comma list of ids, mobiles or ``all``, mentioned on alerts of new errors.
- ``template``: the template name for this channel (``NAME.j2``).
- ``keyword``: DingTalk keyword security; guaranteed to appear in every message.
- ``rate``: ``N/S``, at most N messages in any S seconds (``20/60``), instead of the platform's.
- ``name``: the channel's label in logs.
- ``proxy``: ``direct`` or a proxy URL (``http://``, ``https://``, ``socks5://``,
  ``socks5h://``) for this webhook alone, over the ``proxy=`` option and the environment.

Anything wrong raises ``ConfigError`` naming the URL with its credentials masked.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from dataclasses import fields
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import SplitResult, unquote, urlsplit

from erralert._core.errors import ConfigError
from erralert._core.pacing import Rate
from erralert._core.proxy import check_proxy
from erralert.channels.base import Channel, ChannelOptions
from erralert.channels.dialects import Dialect
from erralert.channels.masking import mask_url_secrets

__all__ = ["DIALECTS", "NATIVE_URLS", "PLATFORMS", "parse_webhook"]


class PlatformModule(Protocol):
    """What a module ``erralert.channels.<platform>`` offers the registry."""

    CHANNELS: tuple[type[Channel], ...]  # its channel classes (Feishu's module has Lark too)
    DIALECT: Dialect  # how its channels show untrusted text


def _platform_modules() -> tuple[PlatformModule, ...]:
    """Every module of this package that declares channels, in name order: a new platform
    is one new module, found here (README, "Adding a platform"). The helpers beside them
    (base, payloads, masking, answers, …) declare none."""
    package = __name__.rpartition(".")[0]  # by name and folder: no import of the package
    found = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=_name):
        if info.ispkg or info.name == "registry":
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        if hasattr(module, "CHANNELS"):
            found.append(cast(PlatformModule, module))
    return tuple(found)


def _name(info: pkgutil.ModuleInfo) -> str:
    return info.name


# every platform erralert speaks
MODULES: tuple[PlatformModule, ...] = _platform_modules()

PLATFORMS: dict[str, type[Channel]] = {
    channel.platform: channel for module in MODULES for channel in module.CHANNELS
}

# the names dialects had before they were per platform, for channels (and the templates
# that test ``channel.dialect``) written against them
_ALIASES = {"mrkdwn": "slack", "markdown": "dingtalk", "html": "telegram"}

# dialect name -> Dialect, for the renderer: each platform's own, "plain", and the old names
DIALECTS: dict[str, Dialect] = {module.DIALECT.name: module.DIALECT for module in MODULES}
DIALECTS.update(
    {old: dataclasses.replace(DIALECTS[new], name=old) for old, new in _ALIASES.items()}
)

# (host, path prefix) of a pasted native URL -> platform; "*.example.com" matches subdomains
NATIVE_URLS: dict[tuple[str, str], str] = {
    native: name for name, channel in PLATFORMS.items() for native in channel.native_urls
}

_OPTIONS = frozenset(f.name for f in fields(ChannelOptions))
_RATE = re.compile(r"(\d+)/(\d+(?:\.\d*)?|\.\d+)s?")
# "my-alerts", "zh/dingtalk": names below the template folder, never ".." or absolute paths
_TEMPLATE_NAME = re.compile(r"\w[\w-]*(?:[./]\w[\w-]*)*")


def parse_webhook(spec: str) -> Channel:
    """The channel a webhook URL names (see the module docstring for the grammar).

    >>> parse_webhook("dingtalk://0123abcd?secret=SEC99&keyword=alert").url
    'https://oapi.dingtalk.com/robot/send?access_token=0123abcd'
    """
    text = spec.strip()
    if not text:
        raise ConfigError("webhook URL is empty")
    where = f"webhook URL {mask_url_secrets(text)}"
    try:
        parts = urlsplit(text)
        if parts.scheme.lower().rpartition("+")[2] in ("http", "https"):
            parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigError(f"{where}: not a valid URL") from None
    if "://" not in text or not parts.scheme:
        raise ConfigError(
            f"{where}: not a URL; write https://…, <platform>+https://… or a short form "
            "such as slack://T…/B…/…"
        )
    found, query = _take_options(parts.query, where)
    rest = parts._replace(query=query)
    scheme = parts.scheme.lower()
    platform, plus, transport = scheme.partition("+")
    if plus:
        url = _explicit(platform, transport, rest, where)
    elif scheme in ("http", "https"):
        platform, url = _native(rest, where)
    else:
        url, userinfo = _short(scheme, rest, where)
        if userinfo:  # apprise's dingtalk://secret@token
            if "secret" in found:
                raise ConfigError(f"{where}: the secret is given twice (before @ and ?secret=)")
            found["secret"] = userinfo
    return PLATFORMS[platform](url, _options(found, where))


def _take_options(query: str, where: str) -> tuple[dict[str, str], str]:
    """erralert's options out of a raw query string, and the rest of it untouched."""
    found: dict[str, str] = {}
    kept: list[str] = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key not in _OPTIONS:
            if pair:
                kept.append(pair)  # byte for byte: re-encoding could change a signed value
            continue
        if key in found:
            raise ConfigError(f"{where}: option {key!r} is given twice")
        found[key] = unquote(value).strip()
        if not found[key]:
            raise ConfigError(f"{where}: option {key!r} is empty")
    return found, "&".join(kept)


def _options(found: dict[str, str], where: str) -> ChannelOptions:
    mention = tuple(m.strip() for m in found.get("mention", "").split(",") if m.strip())
    if "mention" in found and not mention:
        raise ConfigError(f"{where}: option 'mention' names nobody")
    template = found.get("template")
    if template is not None and not _TEMPLATE_NAME.fullmatch(template):
        raise ConfigError(
            f"{where}: template {template!r} is not a template name (letters, digits, _ - . /)"
        )
    rate = found.get("rate")
    proxy = found.get("proxy")
    return ChannelOptions(
        secret=found.get("secret"),
        mention=mention,
        template=template,
        keyword=found.get("keyword"),
        rate=None if rate is None else _rate(rate, where),
        name=found.get("name"),
        proxy=None if proxy is None else check_proxy(proxy, f"{where}: proxy"),
    )


def _rate(text: str, where: str) -> Rate:
    match = _RATE.fullmatch(text)
    if match:
        rate = Rate(int(match[1]), float(match[2]))
        if rate.limit > 0 and rate.period > 0:
            return rate
    raise ConfigError(
        f"{where}: rate {text!r} is not N/S (at most N messages in any S seconds, "
        "both above 0, e.g. rate=20/60)"
    )


def _platform(name: str, where: str) -> str:
    if name in PLATFORMS:
        return name
    known = ", ".join(sorted(PLATFORMS))
    raise ConfigError(f"{where}: unknown platform {name!r} (known: {known})")


def _explicit(platform: str, transport: str, parts: SplitResult, where: str) -> str:
    if transport not in ("http", "https"):
        raise ConfigError(f"{where}: write {platform}+https://… or {platform}+http://…")
    if PLATFORMS[_platform(platform, where)].local:
        raise ConfigError(f"{where}: {platform} is not sent over HTTP; write {platform}://")
    if not parts.hostname:
        raise ConfigError(f"{where}: the URL has no host")
    return parts._replace(scheme=transport).geturl()


def _native(parts: SplitResult, where: str) -> tuple[str, str]:
    host = parts.hostname or ""
    on_host = {
        prefix: platform
        for (pattern, prefix), platform in NATIVE_URLS.items()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
    }
    if not on_host:
        raise ConfigError(
            f"{where}: not a chat platform's webhook URL; to POST erralert's JSON document "
            f"to it, write webhook+{mask_url_secrets(parts.geturl())}"
        )
    platform = next((p for prefix, p in on_host.items() if parts.path.startswith(prefix)), None)
    if platform is None:
        platform = next(iter(on_host.values()))
        expected = " or ".join(f"{prefix}…" for prefix in on_host)
        raise ConfigError(
            f"{where}: a {platform} host, but not its webhook path (expected {expected})"
        )
    problem = PLATFORMS[_platform(platform, where)].check_native(parts)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return platform, parts.geturl()


def _short(scheme: str, parts: SplitResult, where: str) -> tuple[str, str | None]:
    """The native URL a short form stands for, and the secret written before ``@``."""
    channel = PLATFORMS.get(scheme)
    if channel is None or channel.short_form is None:
        if scheme == "webhook":
            raise ConfigError(f"{where}: the generic webhook is written webhook+https://host/path")
        if channel is not None:  # a platform whose URLs carry too much for a short form
            raise ConfigError(
                f"{where}: {scheme} has no short form; paste the webhook URL {scheme} gives "
                f"you (https://…) or write {scheme}+https://…"
            )
        forms = ", ".join(c.short_form for c in PLATFORMS.values() if c.short_form)
        raise ConfigError(
            f"{where}: unknown scheme {scheme}:// (write https://…, <platform>+https://… "
            f"or a short form: {forms})"
        )
    userinfo, _, host = parts.netloc.rpartition("@")
    try:
        url = channel.expand_short(host, parts.path)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if parts.query:
        if scheme == "console":
            raise ConfigError(f"{where}: console:// takes no parameters but erralert's options")
        url += ("&" if "?" in url else "?") + parts.query
    return url, unquote(userinfo) or None

"""What the platform modules share to build a request: erralert's JSON POST, a body kept
within a byte limit, a message's accent colour, and the configured links within a budget."""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from erralert._core.links import Link
from erralert._core.truncate import truncate
from erralert.channels.base import LengthUnit, Message

__all__ = [
    "USER_AGENT",
    "accent_colour",
    "encode_within",
    "json_body",
    "links_within",
    "markdown_links",
    "post_json",
]


def _package_version() -> str:
    try:
        return importlib.metadata.version("erralert")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0"


USER_AGENT = f"erralert/{_package_version()}"


def json_body(payload: object) -> bytes:
    """Compact UTF-8 JSON. Non-ASCII text is written as is, not as ``\\uXXXX`` escapes: the
    platforms that count bytes (DingTalk, WeCom) then see each character once, at its size.
    A lone surrogate (a Message or payload built by hand, a custom template's literal) has
    no UTF-8 form: it is sent as U+FFFD rather than failing the whole delivery."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode()


_SURROGATE = re.compile("[\ud800-\udfff]")


def post_json(
    url: str | httpx.URL, body: bytes, headers: Mapping[str, str] | None = None
) -> httpx.Request:
    """The POST every HTTP channel sends: ``body`` from ``json_body``, erralert's headers."""
    return httpx.Request(
        "POST",
        url,
        content=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        },
    )


# the colour bar of a message (Slack attachments, Discord embeds, Mattermost, Rocket.Chat):
# the kind of message first, then the severity of an alert
_KIND_COLOURS = {"storm": "#7C3AED", "digest": "#ECB22E"}  # purple, amber
_LEVEL_COLOURS = {"warning": "#F2C744", "info": "#36C5F0", "debug": "#9CA3AF"}  # yellow, blue, grey
_ALERT_COLOUR = "#E01E5A"  # red: errors, critical, fatal and any level not listed


def accent_colour(message: Message) -> str:
    """``"#RRGGBB"`` for a message: storm purple, digest amber, alert by level (red for
    errors, yellow for warnings)."""
    kind_colour = _KIND_COLOURS.get(message.kind)
    if kind_colour:
        return kind_colour
    return _LEVEL_COLOURS.get(message.level.lower(), _ALERT_COLOUR)


def links_within(
    links: Iterable[Link], budget: int, cost: Callable[[Link], int]
) -> tuple[Link, ...]:
    """The first of ``links``, in order, whose ``cost`` (in the platform's unit: a button's
    JSON, a markdown link) together stays within ``budget``: the links a channel shows
    always leave the rest of its limit to the message, however many are configured."""
    kept: list[Link] = []
    spent = 0
    for link in links:
        spent += cost(link)
        if spent > budget:
            break
        kept.append(link)
    return tuple(kept)


def markdown_links(
    links: Iterable[Link], escape: Callable[[str], str], budget: int, unit: LengthUnit = "chars"
) -> str:
    """The links as one line of markdown links, ``[name](url)`` joined by " · ", as many
    as fit in ``budget`` (in ``unit``), in order: for platforms whose messages have no
    buttons. The name goes through the platform's ``escape`` like any text; a link's URL
    needs none (it holds no space, ``(`` or ``)`` that could end the link early)."""

    def size(text: str) -> int:
        return len(text.encode()) if unit == "bytes" else len(text)

    def markup(link: Link) -> str:
        return f"[{escape(link.name)}]({link.url})"

    separator = size(_LINK_SEPARATOR)
    # each link pays for a separator; the last one's is refunded by the budget
    shown = links_within(links, budget + separator, lambda link: size(markup(link)) + separator)
    return _LINK_SEPARATOR.join(markup(link) for link in shown)


_LINK_SEPARATOR = " · "


def encode_within(
    build: Callable[[str], Mapping[str, Any]],
    body: str,
    limit: int,
    *,
    margin: int,
    locale: str = "en",
) -> bytes:
    """The JSON bytes of ``build(body)``, the body cut (bytes, head and innermost tail
    kept, the truncation line in ``locale``'s words) until they fit in ``limit``. The
    renderer keeps bodies under ``max_length``; this guards against envelopes that grow
    with the body (a TextBlock or a ``<br>`` per line): each round cuts by the excess or in
    proportion, whichever keeps more, ``margin`` bytes more for good measure."""
    encoded = json_body(build(body))
    for _ in range(8):
        if len(encoded) <= limit:
            break
        size = len(body.encode())
        room = max(size - (len(encoded) - limit), size * limit // len(encoded))
        body = truncate(body, max(0, room - margin), "bytes", locale=locale)
        encoded = json_body(build(body))
    return encoded

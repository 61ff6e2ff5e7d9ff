"""Checks every platform's tests share: hostile text stays inert, huge errors fit the limit.

Each platform's test module calls these on the strings of its payload that the platform
*parses* as markup (plain-text fields such as Slack's header block are shown verbatim and
need no checking)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from erralert.channels.base import Channel
from erralert.event import Event
from erralert.render import Renderer
from tests import samples

# syntax that would mention someone or everyone on some platform, if it survived intact
LIVE_MENTIONS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<users/all>",
    '<at user_id="all">',
    "<at id=all>",
)
# a word mention: "@all", "@everyone", "@here", "@channel" not broken by an invisible char
_WORD_MENTION = re.compile(r"@(all|everyone|here|channel)\b")
# a link the app did not intend: markdown link syntax or an auto-linked URL to evil.example
_LIVE_LINK = re.compile(r"\]\(https?://|https?://evil\.example|<https?://evil")


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def assert_inert(texts: Iterable[str]) -> None:
    """No mention can fire and no link to evil.example can form in any of ``texts``."""
    for text in texts:
        for live in LIVE_MENTIONS:
            assert live not in text, f"live mention {live!r} in {text!r}"
        assert not _WORD_MENTION.search(text), f"live @-mention in {text!r}"
        assert not _LIVE_LINK.search(text), f"live link in {text!r}"


def render(
    channel: Channel,
    kind: str = "alert",
    event: Event | None = None,
    *,
    renderer: Renderer | None = None,
    **event_options: Any,
) -> httpx.Request:
    """The exact request ``channel`` sends for a sample notice rendered by the default
    template (``event``, else ``samples.event(**event_options)``), by ``renderer`` (else
    an English one in UTC)."""
    event = event or samples.event(**event_options)
    notice = samples.notice(kind, event)  # type: ignore[arg-type]
    message = (renderer or Renderer()).render(notice, channel)
    return channel.build_request(message, samples.NOW)


def payload(request: httpx.Request) -> Any:
    return json.loads(request.content)


def size(request: httpx.Request, unit: str) -> int:
    """The request body's size as the platform counts it."""
    return len(request.content) if unit == "bytes" else len(request.content.decode())


def huge_request(channel: Channel) -> httpx.Request:
    """The request for a 1 MB exception message raised 500 frames deep."""
    return render(channel, event=samples.huge_event())


def assert_huge_error_fits(
    request: httpx.Request, limit: int, unit: str, shown: Iterable[str]
) -> None:
    """The payload is under ``limit`` (as the platform counts) and ``shown`` (the texts the
    platform displays) still holds the title, the culprit, the innermost frame and a note
    that the message was cut."""
    assert size(request, unit) <= limit, (size(request, unit), limit)
    text = "\n".join(shown)
    assert "PaymentErrorForTests" in text  # the title
    assert "step_" in text  # the culprit and the innermost frame: the recursive step_
    assert "huge_event" not in text.split("step_")[-1]  # innermost, not outermost, frames
    assert "truncated" in text

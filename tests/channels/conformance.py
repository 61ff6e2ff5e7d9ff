"""What every platform's tests share: a hand-made ``message``, the request it is ``sent`` as,
and the checks that hostile text stays inert and huge errors fit the limit.

``test_conformance`` runs the checks for every platform in the registry, on the strings of
its payload that the platform *parses* as markup (plain-text fields such as Slack's header
block are shown verbatim and need no checking); each platform's test module uses the
helpers for what is its own."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from freezegun import freeze_time

from erralert._core.event import Event
from erralert._core.notice import Kind, Notice
from erralert._render.renderer import Renderer
from erralert.channels.base import Channel, Message
from erralert.channels.payloads import USER_AGENT
from erralert.inbox.show import markup_html
from tests import samples

# mention syntax a platform acts on that its imitation in the inbox does not show as a
# mention chip: Mattermost's Slack-compatible webhooks turn <!channel> into @channel
_RAW_MENTIONS = {
    "mattermost": ("<!channel>", "<!here>", "<!all>", "<!everyone>"),
    "googlechat": ("<users/",),  # the text message's syntax; cards are HTML
}


def message(
    body: str,
    *,
    title: str = "KeyError: 'order 1'",
    kind: Kind = "alert",
    level: str = "error",
    mentions: tuple[str, ...] = (),
    payload: dict[str, Any] | None = None,
    **fields: Any,
) -> Message:
    """A message as the renderer would make it, built by hand (``fields``: any other of
    ``Message``'s, such as ``links`` or ``created_at``)."""
    return Message(
        kind=kind,
        title=title,
        body=body,
        level=level,
        mentions=mentions,
        payload=payload,
        **fields,
    )


def sent(
    channel: Channel, msg: Message, now: float | None = None, *, url: str | None = None
) -> Any:
    """The JSON ``channel`` POSTs for ``msg``, after checking that the request is erralert's
    (and goes to ``url``, when given)."""
    request = channel.build_request(msg, now)
    assert_erralert_post(request, msg.kind)
    if url is not None:
        assert str(request.url) == url
    return json.loads(request.content)


def assert_erralert_post(request: httpx.Request, kind: str) -> None:
    """A JSON POST with erralert's headers, saying which kind of message it carries."""
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("erralert/")
    assert request.headers["X-Erralert-Kind"] == kind


_FENCED = re.compile(r"^(`{3,})[^\n]*\n.*?^\1`*[ \t]*$", re.MULTILINE | re.DOTALL)


def outside_code(text: str) -> str:
    """``text`` without its fenced code blocks and code spans (CommonMark's: closed by the
    next run of as many backticks), whose text the platforms show literally and search
    for no mention."""
    text = _FENCED.sub("", text)
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 2] == "`":
            i += 2  # an escaped backtick opens nothing
        elif text[i] == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            close = text.find("`" * run, i + run)
            while close >= 0 and text[close + run : close + run + 1] == "`":
                close = text.find("`" * run, close + run + 1)
            i = i + run if close < 0 else close + run
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def assert_inert(texts: Iterable[str], platform: str, *, links: bool = True) -> None:
    """No mention can fire and no link can form in any of ``texts``, as ``platform``
    parses them: each is rendered by the inbox's imitation of the platform's markup
    (backslash escapes, character references and code spans read as the platform reads
    them), which must show no mention chip and (with ``links``) no link."""
    for text in texts:
        shown = markup_html(platform, text)
        assert 'class="mention"' not in shown, f"live mention in {text!r}: {shown}"
        assert not links or "<a " not in shown, f"live link in {text!r}: {shown}"
        for live in _RAW_MENTIONS.get(platform, ()):
            assert live not in text, f"live mention {live!r} in {text!r}"


def render(
    channel: Channel,
    kind: str = "alert",
    event: Event | None = None,
    *,
    renderer: Renderer | None = None,
    notice: Notice | None = None,
    **event_options: Any,
) -> httpx.Request:
    """The exact request ``channel`` sends for a sample notice (or ``notice``) rendered by
    the default template (``event``, else ``samples.event(**event_options)``), by
    ``renderer`` (else an English one in UTC)."""
    event = event or samples.event(**event_options)
    notice = notice or samples.notice(kind, event)  # type: ignore[arg-type]
    # rendered when it is decided, as the worker does: "|day" and "|ago" read the
    # time of the render, and a golden payload must not change with the day it is made
    with freeze_time(datetime.fromtimestamp(notice.created_at, UTC)):
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

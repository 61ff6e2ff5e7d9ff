"""What a person copies out of a message must lead back to the code (issue 15, acceptance 1
and 2): on every platform and for every kind of message, the payload names the culprit's
project-relative path — a file that exists — and carries its code line byte for byte, so
that ``grep -F`` finds it; and nothing in a payload built from ASCII text is an invisible
character or a look-alike that would make a copied identifier match nothing.

The error is real: app code (``tests/shop/billing/receipts.py``) calls into a library
(``string.Template.substitute``), which raises. The app's line is the one to show."""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from erralert._capture.events import build_exception_event
from erralert._core.event import Event, Request
from erralert._core.links import parse_links
from erralert._core.notice import (
    Kind,
    Notice,
    Occurrences,
    Storm,
    StormGroup,
    culprit_code,
    error_type,
)
from erralert._render.renderer import Renderer
from erralert.channels.base import Channel
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.inbox.show import markup_html
from tests.channels.test_golden import SAMPLE_URLS
from tests.shop.billing.receipts import receipt_text

ROOT = Path(__file__).resolve().parent.parent
NOW = 1795717201.0
KINDS: tuple[Kind, ...] = ("alert", "digest", "storm")
HTTP_PLATFORMS = sorted(p for p, channel in PLATFORMS.items() if not channel.local)

# what must never appear in a payload built from ASCII text: the invisible characters that
# break a copied identifier, and the look-alikes that used to stand in for markup
INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
LOOK_ALIKES = {
    "\u2217",  # ASTERISK OPERATOR for *
    "\u223c",  # TILDE OPERATOR for ~
    "\u02cb",  # MODIFIER LETTER GRAVE ACCENT for `
    "\u2039",  # for <
    "\u203a",  # for >
    "\uff0a",  # the fullwidth forms
    "\uff3f",
    "\uff40",
    "\uff1c",
    "\uff1e",
    "\uff20",
    "\u2215",  # DIVISION SLASH for /
    "\u2024",  # ONE DOT LEADER for .
}


def real_event() -> Event:
    try:
        receipt_text(49.9, currency="EUR")
    except KeyError as exc:
        event = build_exception_event(
            exc,
            service="checkout",
            environment="production",
            release="1.4.3",
            request=Request(
                method="POST",
                url="https://shop.example.com/orders/1042/receipt",
                path="/orders/1042/receipt",
                route="/orders/{order_id}/receipt",
                request_id="req-7f3a9c",
                user="u-19",
            ),
            tags={"tenant": "acme"},
            now=NOW,
        )
        return dataclasses.replace(event, fingerprint="f" * 32)
    raise AssertionError("receipt_text did not raise")


def notice(kind: Kind, event: Event) -> Notice:
    if kind == "alert":
        occ = Occurrences(1, 1, NOW, NOW, 300.0, True, NOW, NOW + 300, status="new", since=NOW)
        return Notice("alert", event, occ, created_at=NOW)
    if kind == "digest":
        occ = Occurrences(
            41, 42, NOW + 3, NOW + 280, 300.0, False, NOW, NOW + 300,
            histogram=(9, 8, 6, 5, 4, 3, 2, 2, 1, 1), status="recurring", since=NOW,
        )  # fmt: skip
        return Notice("digest", event, occ, created_at=NOW + 300)
    ours = StormGroup(
        event.title,
        event.culprit,
        40,
        fingerprint=event.fingerprint,
        type=error_type(event),
        is_new=True,
        code=culprit_code(event),
    )
    others = tuple(
        StormGroup(f"TimeoutError: partner {i} did not answer", f"shop.partners.call (shop/partners.py:{i})", 5 - i, fingerprint=f"t{i}", type="TimeoutError")  # noqa: E501
        for i in range(3)
    )  # fmt: skip
    storm = Storm((ours, *others), 40 + 5 + 4 + 3, NOW, NOW + 20, followups=1)
    occ = Occurrences(52, 52, NOW, NOW + 20, 300.0, False, status="recurring")
    return Notice("storm", event, occ, storm=storm, created_at=NOW + 23)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    links = parse_links({"Source": "https://github.com/acme/shop/blob/{release}/{path}#L{lineno}"})
    return Renderer(links=links, tags_to_show=("tenant",))


def payload(renderer: Renderer, channel: Channel, kind: Kind, event: Event) -> Any:
    message = renderer.render(notice(kind, event), channel)
    assert message.template_error is None, message.template_error
    return json.loads(channel.build_request(message, NOW + 30).content)


def strings(value: Any) -> Iterator[str]:
    """Every string of a JSON document: keys and values."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
def test_a_copied_path_opens_and_a_copied_line_is_found(
    renderer: Renderer, platform: str, kind: Kind
) -> None:
    event = real_event()
    top = event.culprit_frame
    assert top is not None
    assert top.in_app
    # the culprit is the app's line, not string.py's, with a path relative to the project
    assert top.filename == "tests/shop/billing/receipts.py"
    source = (ROOT / top.filename).read_text(encoding="utf-8").splitlines()
    line = source[top.lineno - 1].strip()
    assert top.context_line == line
    # what markdown could read as markup: the escapes of old replaced it with look-alikes
    assert all(part in line for part in ("_receipt", "* 100", "**kwargs"))

    body = payload(renderer, parse_webhook(SAMPLE_URLS[platform]), kind, event)
    texts = list(strings(body))
    found_path = [t for t in texts if top.filename in t]
    assert found_path, f"{platform} {kind}: the culprit's path is missing"
    assert (ROOT / top.filename).is_file()
    # a plain substring search for the source line, in the payload as sent (JSON decoded)
    assert any(line in t for t in texts), f"{platform} {kind}: the code line is not verbatim"
    for text in texts:
        bad = (INVISIBLE | LOOK_ALIKES) & set(text)
        assert not bad, f"{platform} {kind}: {sorted(map(hex, map(ord, bad)))} in {text!r}"


@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
def test_an_error_raised_inside_a_library_shows_the_apps_line_as_code(
    renderer: Renderer, platform: str
) -> None:
    """Acceptance 2: the alert shows the app's line — how the platform shows code (a code
    span or block where it has them; its own line where it has none) — and the library's
    frames only as one folded line."""
    event = real_event()
    top = event.culprit_frame
    assert top is not None
    assert top.context_line is not None
    assert event.frames[-1].filename == "string.py"  # raised inside the library
    channel = parse_webhook(SAMPLE_URLS[platform])
    message = renderer.render(notice("alert", event), channel)
    # the body as the platform shows it (the local inbox's rendering of its markup)
    shown = html.unescape(markup_html(platform, message.body))
    at = shown.find(top.context_line)
    assert at >= 0, f"{platform}: the app's line is not shown as written"
    if channel.dialect not in ("dingtalk", "googlechat", "plain"):  # these have no code markup
        assert max(shown.rfind("<code", 0, at), shown.rfind("<pre", 0, at)) >= 0, platform
    # the library's frames are one folded line, not expanded
    assert "string.py" in message.body
    assert "return self.pattern.sub(convert, self.template)" not in message.body

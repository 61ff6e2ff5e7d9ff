"""Google Chat: URL in -> exact request out; Chat's answer in -> verdict out; hostile and huge
errors through the default template."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._core.notice import Kind, Notice, Storm, StormGroup
from erralert._render.renderer import Renderer
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.googlechat import (
    ALLOWED_TAGS,
    MESSAGE_LIMIT,
    GoogleChatChannel,
    well_formed,
)
from tests import samples
from tests.channels import conformance

SPACE = "AAAAbCdEf12"
KEY = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"
TOKEN = "Xy9-Zx8_Wv7Ut6Sr5Qp4On3Ml2Kj1Ih0Gf9Ed8Cb7A%3D"
URL = f"https://chat.googleapis.com/v1/spaces/{SPACE}/messages?key={KEY}&token={TOKEN}"
THREADED = f"{URL}&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
FINGERPRINT = "9b1c0e7d5a3f2e1d0c9b8a7f6e5d4c3b"


def gchat(*mention: str, url: str = URL) -> GoogleChatChannel:
    return GoogleChatChannel(url, ChannelOptions(mention=mention))


def message(body: str = "<b>KeyError</b> in orders.view\nline two", **fields: Any) -> Message:
    return conformance.message(body, **{"fingerprint": FINGERPRINT, **fields})


def sent(channel: GoogleChatChannel, msg: Message) -> Any:
    return conformance.sent(channel, msg, None)


def paragraph(payload: dict[str, Any]) -> str:
    text: str = payload["cardsV2"][0]["card"]["sections"][0]["widgets"][0]["textParagraph"]["text"]
    return text


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (URL, None),
        (f"{URL}&threadKey=old", None),
        (f"https://chat.googleapis.com/v1/spaces/{SPACE}/messages?key={KEY}", "has no token"),
        (f"https://chat.googleapis.com/v1/spaces/{SPACE}/messages?token=x", "has no key"),
        (f"https://chat.googleapis.com/v1/spaces/{SPACE}/messages", "no key and no token"),
        (f"https://chat.googleapis.com/v1/spaces/{SPACE}/members?key=k&token=t", "/messages?"),
        ("https://chat.googleapis.com/v1/spaces/?key=k&token=t", "/messages?"),
    ],
)
def test_check_native(url: str, problem: str | None) -> None:
    found = GoogleChatChannel.check_native(urlsplit(url))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_short_form_expands_to_the_native_url() -> None:
    assert GoogleChatChannel.expand_short(SPACE, f"/{KEY}/{TOKEN}") == URL
    expanded = GoogleChatChannel.expand_short(SPACE, f"/{KEY}/{TOKEN}")
    assert GoogleChatChannel.check_native(urlsplit(expanded)) is None


@pytest.mark.parametrize(
    ("host", "path"),
    [("", f"/{KEY}/{TOKEN}"), (SPACE, f"/{KEY}"), (SPACE, f"/{KEY}/{TOKEN}/x"), (SPACE, "/a&b/c")],
)
def test_bad_short_forms(host: str, path: str) -> None:
    with pytest.raises(ValueError, match="googlechat://SPACE/KEY/TOKEN"):
        GoogleChatChannel.expand_short(host, path)


def test_masked_url_and_repr_hide_the_space_key_and_token() -> None:
    channel = gchat()
    assert (
        channel.masked_url == "https://chat.googleapis.com/v1/spaces/***/messages?key=***&token=***"
    )
    for text in (repr(channel), channel.name):
        assert KEY not in text
        assert TOKEN not in text
        assert SPACE not in text


# -- the payload -----------------------------------------------------------------------------


def test_card_payload() -> None:
    request = gchat().build_request(message())
    assert request.method == "POST"
    # one error's alert and digests reply in one thread, started by the first of them
    assert str(request.url) == THREADED
    assert json.loads(request.content) == {
        "fallbackText": "KeyError: 'order 1'",
        "cardsV2": [
            {
                "cardId": "erralert-alert",
                "card": {
                    "header": {"title": "KeyError: 'order 1'", "subtitle": "Error alert"},
                    "sections": [
                        {
                            "widgets": [
                                {
                                    "textParagraph": {
                                        "text": "<b>KeyError</b> in orders.view<br>line two"
                                    }
                                }
                            ]
                        }
                    ],
                },
            }
        ],
        "thread": {"threadKey": FINGERPRINT},
    }


@pytest.mark.parametrize(
    ("kind", "level", "fingerprint", "url", "thread", "subtitle"),
    [
        ("alert", "error", FINGERPRINT, THREADED, FINGERPRINT, "Error alert"),
        ("alert", "warning", FINGERPRINT, THREADED, FINGERPRINT, "Warning alert"),
        ("digest", "error", FINGERPRINT, THREADED, FINGERPRINT, "Repeated error"),
        # storm summaries share a thread of their own
        ("storm", "error", FINGERPRINT, THREADED, "erralert-storm", "Error storm"),
        ("storm", "error", "", THREADED, "erralert-storm", "Error storm"),
        # no fingerprint, no thread: a message of its own
        ("alert", "error", "", URL, None, "Error alert"),
    ],
)
def test_threads_cards_and_subtitles(
    kind: Kind, level: str, fingerprint: str, url: str, thread: str | None, subtitle: str
) -> None:
    channel = gchat()
    request = channel.build_request(message(kind=kind, level=level, fingerprint=fingerprint))
    assert str(request.url) == url
    payload = json.loads(request.content)
    assert payload.get("thread") == ({"threadKey": thread} if thread else None)
    assert payload["cardsV2"][0]["cardId"] == f"erralert-{kind}"
    assert payload["cardsV2"][0]["card"]["header"]["subtitle"] == subtitle


def test_a_reply_option_in_the_url_is_kept() -> None:
    url = f"{URL}&messageReplyOption=REPLY_MESSAGE_OR_FAIL"
    assert str(gchat(url=url).build_request(message()).url) == url


def test_header_title_is_plain_text() -> None:
    # the header is not parsed: shown as written, so it is not HTML-escaped
    payload = sent(gchat(), message(title="TypeError: '<' not supported"))
    assert payload["cardsV2"][0]["card"]["header"]["title"] == "TypeError: '<' not supported"
    assert payload["fallbackText"] == "TypeError: '<' not supported"


def test_empty_body_still_has_a_paragraph() -> None:
    assert paragraph(sent(gchat(), message(body=""))) == "—"


def test_custom_payload_is_sent_as_is() -> None:
    custom = {"text": "custom", "thread": {"threadKey": "k"}}
    request = gchat("all").build_request(message(payload=custom, mentions=("all",)))
    assert json.loads(request.content) == custom
    assert str(request.url) == THREADED
    plain = gchat().build_request(message(payload={"text": "x"}))
    assert str(plain.url) == URL


def test_oversized_body_is_cut_to_fit() -> None:
    body = "\n".join(f"<b>{i}</b> " + "ü" * 100 for i in range(300))  # ~70k bytes
    request = gchat().build_request(message(body=body))
    assert len(request.content) <= MESSAGE_LIMIT
    text = paragraph(json.loads(request.content))
    assert text.startswith("<b>0</b> üü")
    assert text.endswith("<b>299</b> " + "ü" * 100)  # the tail (innermost frames) is kept
    assert "truncated, " in text


def test_a_body_of_many_short_lines_is_cut_to_fit() -> None:
    # each line break becomes a 4-byte <br>: the card outgrows the body
    body = "\n".join("x" for _ in range(14_000))
    request = gchat().build_request(message(body=body))
    assert len(request.content) <= MESSAGE_LIMIT
    text = paragraph(json.loads(request.content))
    assert text.count("<br>") > 1000  # cut, not emptied
    assert "truncated, " in text


@pytest.mark.parametrize(
    ("html", "fixed"),
    [
        ("<b>x</b> &amp; &lt; &#60; &#x3c;", "<b>x</b> &amp; &lt; &#60; &#x3c;"),
        ('<font color="#5f6368">x</font><br><br/>', '<font color="#5f6368">x</font><br><br>'),
        ("<b>cut here…", "<b>cut here…</b>"),  # a tag a cut left open is closed
        ("<b><i>x</b>", "<b><i>x</i></b>"),  # closing an outer tag closes the inner one
        ("x</b>y", "xy"),  # a closing tag with nothing open is dropped
        ("a <script>alert(1)</script>", "a &lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<fon…", "&lt;fon…"),  # a tag cut in half
        ("&am… a & b", "&amp;am… a &amp; b"),  # an entity cut in half, a bare &
        ("2 > 1", "2 &gt; 1"),
    ],
)
def test_well_formed(html: str, fixed: str) -> None:
    assert well_formed(html) == fixed


# -- mentions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "text"),
    [
        (("users/123456789012345678901",), "<users/123456789012345678901>"),
        (("123456789012345678901",), "<users/123456789012345678901>"),
        (("all",), "<users/all>"),
        (("users/all", "ALL"), "<users/all>"),
        (("users/42", "all"), "<users/42> <users/all>"),
    ],
)
def test_mentions_on_alerts_of_new_errors(ids: tuple[str, ...], text: str) -> None:
    assert sent(gchat(*ids), message(mentions=ids))["text"] == text


def test_no_mentions_unless_the_message_has_some() -> None:
    assert "text" not in sent(gchat("all"), message(mentions=()))


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message(body="x", mentions=("users/7", "123456789", "7", "users/all"))
    assert sent(gchat("all"), msg) == {
        "text": "<users/7> <users/123456789> <users/all>",
        "fallbackText": "KeyError: 'order 1'",
        "cardsV2": [
            {
                "cardId": "erralert-alert",
                "card": {
                    "header": {"title": "KeyError: 'order 1'", "subtitle": "Error alert"},
                    "sections": [{"widgets": [{"textParagraph": {"text": "x"}}]}],
                },
            }
        ],
        "thread": {"threadKey": FINGERPRINT},
    }


def test_mentions_without_any_configured() -> None:
    assert sent(gchat(), message(mentions=("users/42",)))["text"] == "<users/42>"


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    assert sent(gchat(), message(mentions=("bob", "all")))["text"] == "<users/all>"


@pytest.mark.parametrize("good", ["users/123456789012345678901", "42", "all", "users/all"])
def test_check_mention_accepts(good: str) -> None:
    gchat().check_mention(good)


@pytest.mark.parametrize(
    "bad", ["bob", "@all", "users/bob", "<users/1>", "here", "ada@example.com"]
)
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match="Google Chat mention") as caught:
        gchat().check_mention(bad)
    assert KEY not in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "bad", ["bob", "@all", "users/bob", "<users/1>", "here", "ada@example.com"]
)
def test_bad_mention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="Google Chat mention") as caught:
        gchat(bad)
    assert KEY not in str(caught.value)
    assert TOKEN not in str(caught.value)


# -- the default template, hostile and huge errors ------------------------------------------


class _Tags(HTMLParser):
    """The tags an HTML text opens and closes, and whether every one is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: set[str] = set()
        self.stack: list[str] = []
        self.balanced = True
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.seen.add(tag)
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.data.append(data)


def check_html(text: str) -> str:
    """Assert ``text`` is well-formed card HTML with only allowed tags; return what shows."""
    parser = _Tags()
    parser.feed(text)
    parser.close()
    assert parser.seen <= ALLOWED_TAGS, parser.seen
    assert parser.balanced, text
    assert not parser.stack, text
    return "".join(parser.data)


def hostile_storm() -> Notice:
    group = StormGroup(title=samples.HOSTILE, culprit=samples.HOSTILE, count=7)
    storm = Storm(groups=(group,), total=7, since=samples.NOW, until=samples.NOW + 2)
    base = samples.notice("storm")
    return Notice("storm", base.event, base.occurrences, storm=storm, created_at=samples.NOW)


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_default_template_fits(kind: str) -> None:
    request = conformance.render(gchat(), kind)
    assert len(request.content) <= MESSAGE_LIMIT
    text = paragraph(conformance.payload(request))
    check_html(text)
    assert "\n" not in text  # every line break is a <br>


@pytest.mark.parametrize(
    ("notice", "in_body"),
    [
        (samples.notice("alert", samples.event(message=samples.HOSTILE)), False),
        # a second line puts the message in the body as well as in the title
        (
            samples.notice("alert", samples.event(message=f"{samples.HOSTILE}\n{samples.HOSTILE}")),
            True,
        ),
        (samples.notice("digest", samples.event(message=samples.HOSTILE)), False),
        (hostile_storm(), True),
    ],
    ids=["alert", "alert-body", "digest", "storm"],
)
def test_hostile_error_stays_inert(notice: Notice, in_body: bool) -> None:
    channel = gchat()
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    assert "text" not in payload  # the only field where <users/…> would notify
    text = paragraph(payload)
    conformance.assert_inert([text], "googlechat")
    shown = check_html(text).replace("\u200b", "")
    # the hostile "<b>bold</b>" is text, not a tag: Chat shows it as written
    assert (samples.HOSTILE in shown) is in_body


def test_hostile_error_with_mentions_mentions_only_the_configured() -> None:
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE), mentions=True)
    channel = gchat("users/42")
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    assert payload["text"] == "<users/42>"
    check_html(paragraph(payload))


def test_huge_error_is_well_formed() -> None:
    check_html(paragraph(conformance.payload(conformance.huge_request(gchat()))))


# -- Chat's answers --------------------------------------------------------------------------


def answer(status: int, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


def google_error(code: int, status: str, text: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": text, "status": status}}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(200, json={"name": f"spaces/{SPACE}/messages/abc"}), Judgement(Verdict.OK)),
        (
            answer(
                429,
                json=google_error(
                    429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
                ),
            ),
            # no Retry-After: the outbox's exponential backoff decides
            Judgement(
                Verdict.RETRY,
                "HTTP 429: RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).",
            ),
        ),
        (
            answer(
                429,
                json=google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."),
                headers={"Retry-After": "30"},
            ),
            Judgement(Verdict.RETRY, "HTTP 429: RESOURCE_EXHAUSTED: Quota exceeded.", 30.0),
        ),
        (
            answer(
                503, json=google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
            ),
            Judgement(
                Verdict.RETRY, "HTTP 503: UNAVAILABLE: The service is currently unavailable."
            ),
        ),
        (
            answer(502, text="<html>Bad Gateway</html>"),
            Judgement(Verdict.RETRY, "HTTP 502: <html>Bad Gateway</html>"),
        ),
        (
            answer(
                400, json=google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            ),
            Judgement(Verdict.FAIL, "HTTP 400: INVALID_ARGUMENT: Invalid JSON payload received."),
        ),
        (
            answer(
                403,
                json=google_error(403, "PERMISSION_DENIED", "The caller does not have permission"),
            ),
            Judgement(
                Verdict.FAIL, "HTTP 403: PERMISSION_DENIED: The caller does not have permission"
            ),
        ),
        (
            answer(404, json=google_error(404, "NOT_FOUND", "Requested entity was not found.")),
            Judgement(Verdict.FAIL, "HTTP 404: NOT_FOUND: Requested entity was not found."),
        ),
        (
            answer(400, json={"error": {"code": 400}}),
            Judgement(Verdict.FAIL, 'HTTP 400: {"code": 400}'),
        ),
    ],
)
def test_judge(response: httpx.Response, expected: Judgement) -> None:
    assert gchat().judge(response) == expected

"""Mattermost: URL in -> exact request out; Mattermost's answer in -> verdict out; hostile
text cannot ping @channel/@all/@here, huge errors fit."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._core.notice import Kind
from erralert._core.pacing import Rate
from erralert._render.renderer import Renderer
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.mattermost import POST_LIMIT, MattermostChannel
from erralert.channels.registry import PLATFORMS, parse_webhook
from tests import samples
from tests.channels import conformance

KEY = "xyz123abc456def789ghi012jk"
URL = f"https://chat.example.com/hooks/{KEY}"
# a broadcast that survived escaping: "@" right before the word
_LIVE_BROADCAST = re.compile(r"@(channel|all|here)\b")


def mattermost(*mention: str, url: str = URL) -> MattermostChannel:
    return MattermostChannel(url, ChannelOptions(mention=mention))


def message(body: str = "**Culprit:** `orders.view`", **fields: Any) -> Message:
    return conformance.message(body, **fields)


def sent(channel: MattermostChannel, msg: Message) -> Any:
    return conformance.sent(channel, msg, 1_700_000_000.0, url=channel.url)


def markup(payload: dict[str, Any]) -> list[str]:
    """The strings Mattermost parses for markdown and mentions (and the fallback that
    notifications show)."""
    texts = [payload["text"]]
    for attachment in payload.get("attachments", []):
        texts += [attachment["text"], attachment["fallback"]]
    return texts


def test_max_length_leaves_room_in_a_post() -> None:
    assert MattermostChannel.max_length < POST_LIMIT == 16383


@pytest.mark.parametrize(
    ("host", "path", "url"),
    [
        ("chat.example.com", f"/{KEY}", URL),
        ("chat.example.com", f"/{KEY}/", URL),
        ("chat.example.com", f"/hooks/{KEY}", URL),  # the path as pasted
        ("chat.example.com:8065", "/abc123", "https://chat.example.com:8065/hooks/abc123"),
        ("example.com", "/mattermost/abc123", "https://example.com/mattermost/hooks/abc123"),
        ("10.0.0.5:8443", "/abc123", "https://10.0.0.5:8443/hooks/abc123"),
    ],
)
def test_short_form(host: str, path: str, url: str) -> None:
    assert MattermostChannel.expand_short(host, path) == url


@pytest.mark.parametrize(
    ("host", "path", "error"),
    [
        ("", f"/{KEY}", "mattermost://host"),
        ("chat.example.com", "", "mattermost://host"),
        ("chat.example.com", "/", "mattermost://host"),
        ("chat.example.com:port", f"/{KEY}", "host"),
        ("chat.example.com", "/key.with.dots", "letters and digits"),
    ],
)
def test_bad_short_forms(host: str, path: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        MattermostChannel.expand_short(host, path)


@pytest.mark.parametrize(
    ("spec", "url", "options"),
    [
        (f"mattermost://chat.example.com/{KEY}", URL, ChannelOptions()),
        (
            f"mattermost://chat.example.com:8065/{KEY}?mention=alice,here&rate=5/60",
            f"https://chat.example.com:8065/hooks/{KEY}",
            ChannelOptions(mention=("alice", "here"), rate=Rate(5, 60.0)),
        ),
        (f"mattermost+https://chat.example.com/hooks/{KEY}", URL, ChannelOptions()),
        # a server without TLS is named explicitly
        (
            "mattermost+http://127.0.0.1:8065/hooks/abc123",
            "http://127.0.0.1:8065/hooks/abc123",
            ChannelOptions(),
        ),
    ],
)
def test_through_the_registry(
    monkeypatch: pytest.MonkeyPatch, spec: str, url: str, options: ChannelOptions
) -> None:
    # how the lead's registry will reach the class
    monkeypatch.setitem(PLATFORMS, "mattermost", MattermostChannel)
    channel = parse_webhook(spec)
    assert isinstance(channel, MattermostChannel)
    assert (channel.url, channel.options) == (url, options)
    assert KEY not in repr(channel)


def test_alert_payload() -> None:
    assert sent(mattermost(), message()) == {
        "username": "erralert",
        "text": "**KeyError: 'order 1'**",
        "attachments": [
            {
                "fallback": "KeyError: 'order 1'",
                "color": "#E01E5A",
                "text": "**Culprit:** `orders.view`",
            }
        ],
    }


def test_plain_http_url_is_kept() -> None:
    channel = mattermost(url="http://127.0.0.1:8065/hooks/abc123")
    assert str(channel.build_request(message()).url) == "http://127.0.0.1:8065/hooks/abc123"


@pytest.mark.parametrize(
    ("kind", "level", "colour"),
    [
        ("alert", "error", "#E01E5A"),
        ("alert", "warning", "#F2C744"),
        ("alert", "info", "#36C5F0"),
        ("digest", "error", "#ECB22E"),
        ("storm", "error", "#7C3AED"),
    ],
)
def test_colour_by_kind_and_level(kind: Kind, level: str, colour: str) -> None:
    payload = sent(mattermost(), message(kind=kind, level=level))
    assert payload["attachments"][0]["color"] == colour


def test_title_cannot_mention_or_link() -> None:
    payload = sent(mattermost(), message(title="ValueError: @channel *x* [a](http://evil.example)"))
    # the mention and the bare URL in code spans (no escape exists for them), the
    # emphasis and the link bracket backslash-escaped: every character as written
    escaped = "ValueError: `@channel` \\*x\\* \\[a](`http://evil.example)`"
    assert payload["text"] == f"**{escaped}**"
    assert payload["attachments"][0]["fallback"] == escaped
    conformance.assert_inert(markup(payload), "mattermost")


def test_long_title_is_cut() -> None:
    assert sent(mattermost(), message(title="y" * 400))["text"] == "**" + "y" * 249 + "…**"


def test_empty_body_sends_no_attachment() -> None:
    assert "attachments" not in sent(mattermost(), message(body="  \n"))


@pytest.mark.parametrize(
    ("ids", "line"),
    [
        (("alice",), "@alice"),
        (("@alice.smith",), "@alice.smith"),
        (("dev-team",), "@dev-team"),
        (("channel",), "@channel"),
        (("ALL",), "@all"),
        (("here",), "@here"),
        (("alice", "here"), "@alice @here"),
    ],
)
def test_mentions_on_alerts_of_new_errors(ids: tuple[str, ...], line: str) -> None:
    payload = sent(mattermost(*ids), message(mentions=ids))
    assert payload["text"] == f"**KeyError: 'order 1'**\n{line}"


def test_no_mentions_unless_the_message_has_some() -> None:
    payload = sent(mattermost("alice", "channel"), message(mentions=()))
    assert "@" not in json.dumps(payload)


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message(mentions=("bob", "@ops-team", "bob", "HERE", "here"))
    assert sent(mattermost("alice", "channel"), msg) == {
        "username": "erralert",
        "text": "**KeyError: 'order 1'**\n@bob @ops-team @here",
        "attachments": [
            {
                "fallback": "KeyError: 'order 1'",
                "color": "#E01E5A",
                "text": "**Culprit:** `orders.view`",
            }
        ],
    }


def test_mentions_without_any_configured() -> None:
    payload = sent(mattermost(), message(mentions=("alice",)))
    assert payload["text"] == "**KeyError: 'order 1'**\n@alice"


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    payload = sent(mattermost(), message(mentions=("bob smith", "alice")))
    assert payload["text"] == "**KeyError: 'order 1'**\n@alice"


@pytest.mark.parametrize("good", ["alice", "@alice.smith", "dev-team", "channel", "ALL"])
def test_check_mention_accepts(good: str) -> None:
    mattermost().check_mention(good)


@pytest.mark.parametrize("bad", ["bob smith", "-bob", "@", "everyone!", "<!channel>"])
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match="Mattermost mention") as caught:
        mattermost().check_mention(bad)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("bad", ["bob smith", "-bob", "@", "everyone!", "<!channel>"])
def test_bad_mention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="Mattermost mention") as caught:
        mattermost(bad)
    assert KEY not in str(caught.value)


def test_custom_payload_is_sent_as_is() -> None:
    custom = {"text": "custom", "props": {"card": "x"}}
    assert sent(mattermost("here"), message(payload=custom, mentions=("here",))) == custom


def test_masked_url_hides_the_key() -> None:
    channel = mattermost()
    assert channel.masked_url == "https://chat.example.com/hooks/***"
    # a key that looks like a word is hidden all the same
    assert mattermost(url="https://chat.example.com/hooks/abc").masked_url.endswith("/hooks/***")
    for text in (repr(channel), channel.name):
        assert KEY not in text


def test_body_over_the_limit_is_cut() -> None:
    # a body no renderer cut, and full of what JSON escapes: quotes and line breaks
    lines = [f'frame {i:04d} "' + "q" * 40 + '"' for i in range(1000)]
    payload_request = mattermost("alice").build_request(
        message(body="\n".join(lines), mentions=("alice",))
    )
    assert len(payload_request.content.decode()) <= POST_LIMIT
    text = json.loads(payload_request.content)["attachments"][0]["text"]
    assert "truncated, " in text
    assert text.endswith(lines[-1])  # the tail (innermost frames) is kept


# -- acceptance: hostile and huge errors -----------------------------------------------------


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_hostile_error_broadcasts_nothing(kind: str) -> None:
    payload = conformance.payload(conformance.render(mattermost(), kind, message=samples.HOSTILE))
    for text in markup(payload):
        assert not _LIVE_BROADCAST.search(conformance.outside_code(text)), text


def test_hostile_error_with_mentions_pings_only_the_configured_ones() -> None:
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE), mentions=True)
    channel = mattermost("alice", "here")
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    title, mentions = payload["text"].split("\n")
    assert mentions == "@alice @here"
    rest = [title, *markup(payload)[1:]]
    conformance.assert_inert(rest, "mattermost")
    assert not any(
        "@alice" in conformance.outside_code(t)
        or _LIVE_BROADCAST.search(conformance.outside_code(t))
        for t in rest
    )


# -- Mattermost's answers --------------------------------------------------------------------


def answer(status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


def error(status: int, error_id: str, said: str) -> httpx.Response:
    body = {
        "id": error_id,
        "message": said,
        "detailed_error": "",
        "request_id": "5jqnbd7h7pbyz8w6yt1x8fzmkr",
        "status_code": status,
    }
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(text="ok", headers={"Content-Type": "text/plain"}), Judgement(Verdict.OK)),
        (answer(text=""), Judgement(Verdict.OK)),
        (
            error(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook."),
            Judgement(
                Verdict.FAIL, "HTTP 400: Invalid webhook. (web.incoming_webhook.invalid.app_error)"
            ),
        ),
        (
            error(
                403,
                "web.incoming_webhook.disabled.app_error",
                "Incoming webhooks have been disabled by the system admin.",
            ),
            Judgement(
                Verdict.FAIL,
                "HTTP 403: Incoming webhooks have been disabled by the system admin. "
                "(web.incoming_webhook.disabled.app_error)",
            ),
        ),
        (
            error(404, "api.context.404.app_error", "Sorry, we could not find the page."),
            Judgement(
                Verdict.FAIL,
                "HTTP 404: Sorry, we could not find the page. (api.context.404.app_error)",
            ),
        ),
        (
            answer(413, text="Request Entity Too Large"),
            Judgement(Verdict.FAIL, "HTTP 413: Request Entity Too Large"),
        ),
        (
            answer(429, text="limit exceeded", headers={"Retry-After": "3"}),
            Judgement(Verdict.RETRY, "HTTP 429: limit exceeded", 3.0),
        ),
        (
            error(500, "app.post.save.app_error", "Unable to save the post."),
            Judgement(
                Verdict.RETRY, "HTTP 500: Unable to save the post. (app.post.save.app_error)"
            ),
        ),
        (
            answer(502, text="<html>Bad Gateway</html>"),
            Judgement(Verdict.RETRY, "HTTP 502: <html>Bad Gateway</html>"),
        ),
    ],
)
def test_judge(response: httpx.Response, expected: Judgement) -> None:
    assert mattermost().judge(response) == expected

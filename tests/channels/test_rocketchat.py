"""Rocket.Chat: URL in -> exact request out; Rocket.Chat's answer in -> verdict out;
hostile text cannot ping @all/@here, huge errors fit."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._core.notice import Kind
from erralert._render.renderer import Renderer
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.channels.rocketchat import MESSAGE_LIMIT, RocketChatChannel
from tests import samples
from tests.channels import conformance

HOOK_ID = "6Pq3kT9XbLw2mZrYd"
TOKEN = "Fh2Kq9Lx7TnR4vWb8Yc3Zd6Ge1Jm5Ps0Au9Cx2Vz4Bn7Ek3Q"
URL = f"https://chat.example.com/hooks/{HOOK_ID}/{TOKEN}"
# a broadcast that survived escaping: "@" right before the word
_LIVE_BROADCAST = re.compile(r"@(all|here)\b")


def rocketchat(*mention: str, url: str = URL) -> RocketChatChannel:
    return RocketChatChannel(url, ChannelOptions(mention=mention))


def message(body: str = "- *Culprit:* `orders.view`", **fields: Any) -> Message:
    return conformance.message(body, **fields)


def sent(channel: RocketChatChannel, msg: Message) -> Any:
    return conformance.sent(channel, msg, 1_700_000_000.0, url=channel.url)


def markup(payload: dict[str, Any]) -> list[str]:
    """The strings Rocket.Chat parses for markdown (and the message's for mentions)."""
    return [payload["text"], *(a["text"] for a in payload.get("attachments", []))]


def test_max_length_leaves_room_in_a_message() -> None:
    assert RocketChatChannel.max_length < MESSAGE_LIMIT == 5000


@pytest.mark.parametrize(
    ("host", "path", "url"),
    [
        ("chat.example.com", f"/{HOOK_ID}/{TOKEN}", URL),
        ("chat.example.com", f"/hooks/{HOOK_ID}/{TOKEN}/", URL),  # the path as pasted
        ("chat.example.com:3000", "/id1/tok1", "https://chat.example.com:3000/hooks/id1/tok1"),
        ("example.com", "/chat/id1/tok1", "https://example.com/chat/hooks/id1/tok1"),
    ],
)
def test_short_form(host: str, path: str, url: str) -> None:
    assert RocketChatChannel.expand_short(host, path) == url


@pytest.mark.parametrize(
    ("host", "path", "error"),
    [
        ("", f"/{HOOK_ID}/{TOKEN}", "rocketchat://host"),
        ("chat.example.com", f"/{TOKEN}", "rocketchat://host"),
        ("chat.example.com", "", "rocketchat://host"),
        ("chat.example.com:port", f"/{HOOK_ID}/{TOKEN}", "host"),
        ("chat.example.com", f"/{HOOK_ID}/tok.en", "id and token"),
    ],
)
def test_bad_short_forms(host: str, path: str, error: str) -> None:
    with pytest.raises(ValueError, match=error) as caught:
        RocketChatChannel.expand_short(host, path)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "url", "options"),
    [
        (f"rocketchat://chat.example.com/{HOOK_ID}/{TOKEN}", URL, ChannelOptions()),
        (
            f"rocketchat://chat.example.com:3000/{HOOK_ID}/{TOKEN}?mention=all,bob&name=ops",
            f"https://chat.example.com:3000/hooks/{HOOK_ID}/{TOKEN}",
            ChannelOptions(mention=("all", "bob"), name="ops"),
        ),
        (f"rocketchat+https://chat.example.com/hooks/{HOOK_ID}/{TOKEN}", URL, ChannelOptions()),
        (
            "rocketchat+http://127.0.0.1:3000/hooks/id1/tok1",
            "http://127.0.0.1:3000/hooks/id1/tok1",
            ChannelOptions(),
        ),
    ],
)
def test_through_the_registry(
    monkeypatch: pytest.MonkeyPatch, spec: str, url: str, options: ChannelOptions
) -> None:
    # how the lead's registry will reach the class
    monkeypatch.setitem(PLATFORMS, "rocketchat", RocketChatChannel)
    channel = parse_webhook(spec)
    assert isinstance(channel, RocketChatChannel)
    assert (channel.url, channel.options) == (url, options)
    assert TOKEN not in repr(channel)


def test_alert_payload() -> None:
    assert sent(rocketchat(), message()) == {
        "alias": "erralert",
        "emoji": ":rotating_light:",
        "text": "*KeyError: 'order 1'*",
        "parseUrls": False,
        "attachments": [{"color": "#E01E5A", "text": "- *Culprit:* `orders.view`"}],
    }


@pytest.mark.parametrize(
    ("kind", "level", "colour"),
    [
        ("alert", "error", "#E01E5A"),
        ("alert", "fatal", "#E01E5A"),
        ("alert", "warning", "#F2C744"),
        ("digest", "warning", "#ECB22E"),
        ("storm", "error", "#7C3AED"),
    ],
)
def test_colour_by_kind_and_level(kind: Kind, level: str, colour: str) -> None:
    payload = sent(rocketchat(), message(kind=kind, level=level))
    assert payload["attachments"][0]["color"] == colour


def test_title_cannot_mention_or_link() -> None:
    payload = sent(rocketchat(), message(title="ValueError: @all *x* [a](http://evil.example)"))
    # the mention and the whole link in code spans (the parser escapes neither "@" nor
    # "["), the emphasis backslash-escaped: every character as written
    assert payload["text"] == "*ValueError: `@all` \\*x\\* `[a](http://evil.example)`*"
    conformance.assert_inert(markup(payload), "rocketchat")


def test_long_title_is_cut() -> None:
    assert sent(rocketchat(), message(title="y" * 400))["text"] == "*" + "y" * 249 + "…*"


def test_empty_body_sends_no_attachment() -> None:
    assert "attachments" not in sent(rocketchat(), message(body="  \n"))


@pytest.mark.parametrize(
    ("ids", "line"),
    [
        (("bob",), "@bob"),
        (("@bob.smith",), "@bob.smith"),
        (("all",), "@all"),
        (("HERE",), "@here"),
        (("channel",), "@all"),  # Slack's and Mattermost's word for everybody in the room
        (("bob", "here"), "@bob @here"),
    ],
)
def test_mentions_on_alerts_of_new_errors(ids: tuple[str, ...], line: str) -> None:
    payload = sent(rocketchat(*ids), message(mentions=ids))
    assert payload["text"] == f"*KeyError: 'order 1'*\n{line}"


def test_no_mentions_unless_the_message_has_some() -> None:
    payload = sent(rocketchat("bob", "all"), message(mentions=()))
    assert "@" not in json.dumps(payload)


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message(mentions=("carol", "@dev.ops", "carol", "channel", "all"))
    assert sent(rocketchat("bob", "here"), msg) == {
        "alias": "erralert",
        "emoji": ":rotating_light:",
        "text": "*KeyError: 'order 1'*\n@carol @dev.ops @all",
        "parseUrls": False,
        "attachments": [{"color": "#E01E5A", "text": "- *Culprit:* `orders.view`"}],
    }


def test_mentions_without_any_configured() -> None:
    payload = sent(rocketchat(), message(mentions=("bob",)))
    assert payload["text"] == "*KeyError: 'order 1'*\n@bob"


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    payload = sent(rocketchat(), message(mentions=("everyone", "bob")))
    assert payload["text"] == "*KeyError: 'order 1'*\n@bob"


@pytest.mark.parametrize("good", ["bob", "@bob.smith", "all", "HERE", "channel"])
def test_check_mention_accepts(good: str) -> None:
    rocketchat().check_mention(good)


@pytest.mark.parametrize("bad", ["bob smith", "everyone", "@", "bob!", "<!channel>"])
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"Rocket\.Chat mention") as caught:
        rocketchat().check_mention(bad)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("bad", ["bob smith", "everyone", "@", "bob!", "<!channel>"])
def test_bad_mention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"Rocket\.Chat mention") as caught:
        rocketchat(bad)
    assert TOKEN not in str(caught.value)


def test_custom_payload_is_sent_as_is() -> None:
    custom = {"text": "custom", "attachments": [{"title": "t", "fields": []}]}
    assert sent(rocketchat("all"), message(payload=custom, mentions=("all",))) == custom


def test_masked_url_hides_id_and_token() -> None:
    channel = rocketchat()
    assert channel.masked_url == "https://chat.example.com/hooks/***/***"
    for text in (repr(channel), channel.name):
        assert TOKEN not in text
        assert HOOK_ID not in text


def test_body_over_the_limit_is_cut() -> None:
    # a body no renderer cut, and full of what JSON escapes: quotes and line breaks
    lines = [f'frame {i:03d} "' + "q" * 40 + '"' for i in range(300)]
    request = rocketchat("bob").build_request(message(body="\n".join(lines), mentions=("bob",)))
    assert len(request.content.decode()) <= MESSAGE_LIMIT
    text = json.loads(request.content)["attachments"][0]["text"]
    assert "truncated, " in text
    assert text.endswith(lines[-1])  # the tail (innermost frames) is kept


# -- acceptance: hostile and huge errors -----------------------------------------------------


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_hostile_error_broadcasts_nothing(kind: str) -> None:
    payload = conformance.payload(conformance.render(rocketchat(), kind, message=samples.HOSTILE))
    for text in markup(payload):
        assert not _LIVE_BROADCAST.search(conformance.outside_code(text)), text


def test_hostile_error_with_mentions_pings_only_the_configured_ones() -> None:
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE), mentions=True)
    channel = rocketchat("bob", "here")
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    title, mentions = payload["text"].split("\n")
    assert mentions == "@bob @here"
    rest = [title, *markup(payload)[1:]]
    conformance.assert_inert(rest, "rocketchat")
    assert not any(
        "@bob" in conformance.outside_code(t) or _LIVE_BROADCAST.search(conformance.outside_code(t))
        for t in rest
    )


# -- Rocket.Chat's answers -------------------------------------------------------------------


def answer(status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


TOO_MANY = (
    "Error, too many requests. Please slow down. You must wait 42 seconds before trying this "
    "endpoint again. [error-too-many-requests]"
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(json={"success": True}), Judgement(Verdict.OK)),
        (
            answer(json={"success": False, "error": "invalid-channel"}),
            Judgement(Verdict.FAIL, "Rocket.Chat: invalid-channel"),
        ),
        (
            answer(json={"result": "?"}),
            Judgement(Verdict.FAIL, 'Rocket.Chat: {"result":"?"}'),
        ),
        (
            answer(text="<!DOCTYPE html><html>Rocket.Chat</html>"),
            Judgement(
                Verdict.FAIL,
                "HTTP 200 but not a Rocket.Chat answer (is this the integration's webhook URL?): "
                "<!DOCTYPE html><html>Rocket.Chat</html>",
            ),
        ),
        (
            answer(
                400,
                json={
                    "success": False,
                    "error": "overriding destination channel is disabled for this integration",
                },
            ),
            Judgement(
                Verdict.FAIL,
                "HTTP 400: overriding destination channel is disabled for this integration",
            ),
        ),
        (
            answer(401, json={"status": "error", "message": "You must be logged in to do this."}),
            Judgement(Verdict.FAIL, "HTTP 401: You must be logged in to do this."),
        ),
        (
            answer(429, json={"success": False, "error": TOO_MANY}),
            Judgement(Verdict.RETRY, f"HTTP 429: {TOO_MANY}", 42.0),
        ),
        (
            answer(429, text="slow down", headers={"Retry-After": "7"}),
            Judgement(Verdict.RETRY, "HTTP 429: slow down", 7.0),
        ),
        (
            answer(503, json={"success": False, "error": "Service Unavailable"}),
            Judgement(Verdict.RETRY, "HTTP 503: Service Unavailable (is the integration enabled?)"),
        ),
        (
            answer(500, json={"success": False, "error": "unknown-error"}),
            Judgement(Verdict.RETRY, "HTTP 500: unknown-error"),
        ),
    ],
)
def test_judge(response: httpx.Response, expected: Judgement) -> None:
    assert rocketchat().judge(response) == expected

"""Slack: message in -> exact request out; Slack's answer in -> verdict out."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._core.notice import Kind
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.slack import SECTION_LIMIT, SlackChannel, split_sections
from tests import samples
from tests.channels import conformance

URL = "https://hooks.slack.com/services/T0AB12CD/B0EF34GH/XyZ0aBcD1eFgH2iJkL3mNoP4"


def slack(*mention: str) -> SlackChannel:
    return SlackChannel(URL, ChannelOptions(mention=mention))


def message(body: str = "*KeyError* in `orders.view`", **fields: Any) -> Message:
    return conformance.message(body, **fields)


def sent(channel: SlackChannel, msg: Message) -> Any:
    return conformance.sent(channel, msg, 1_700_000_000.0, url=URL)


def test_alert_payload() -> None:
    assert sent(slack(), message()) == {
        "text": "KeyError: 'order 1'",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "KeyError: 'order 1'", "emoji": True},
            }
        ],
        "unfurl_links": False,
        "unfurl_media": False,
        "attachments": [
            {
                "color": "#E01E5A",
                "blocks": [
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": "*KeyError* in `orders.view`"},
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("kind", "level", "colour"),
    [
        ("alert", "error", "#E01E5A"),
        ("alert", "critical", "#E01E5A"),
        ("alert", "warning", "#F2C744"),
        ("alert", "WARNING", "#F2C744"),
        ("alert", "info", "#36C5F0"),
        ("digest", "error", "#ECB22E"),
        ("storm", "error", "#7C3AED"),
    ],
)
def test_colour_by_kind_and_level(kind: Kind, level: str, colour: str) -> None:
    assert sent(slack(), message(kind=kind, level=level))["attachments"][0]["color"] == colour


def test_title_cannot_mention_in_the_notification_text() -> None:
    body = sent(slack(), message(title="ValueError: <!channel> & <@U1>"))
    assert body["text"] == "ValueError: &lt;!channel&gt; &amp; &lt;@U1&gt;"
    # plain_text is not parsed for mentions: shown as written
    assert body["blocks"][0]["text"]["text"] == "ValueError: <!channel> & <@U1>"


def test_header_is_cut_to_150() -> None:
    header = sent(slack(), message(title="x" * 400))["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")


def test_empty_body_sends_no_attachment() -> None:
    assert "attachments" not in sent(slack(), message(body="  \n"))


@pytest.mark.parametrize(
    ("ids", "markup"),
    [
        (("U0123ABC",), "<@U0123ABC>"),
        (("W0123ABC",), "<@W0123ABC>"),
        (("S0123ABC",), "<!subteam^S0123ABC>"),
        (("here",), "<!here>"),
        (("channel",), "<!channel>"),
        (("all",), "<!channel>"),
        (("everyone",), "<!everyone>"),
        (("U0123ABC", "S0456DEF", "here"), "<@U0123ABC> <!subteam^S0456DEF> <!here>"),
    ],
)
def test_mentions_on_alerts_of_new_errors(ids: tuple[str, ...], markup: str) -> None:
    body = sent(slack(*ids), message(mentions=ids))
    assert body["blocks"][1] == {"type": "section", "text": {"type": "mrkdwn", "text": markup}}
    assert body["text"] == f"{markup} KeyError: 'order 1'"


def test_no_mentions_unless_the_message_has_some() -> None:
    body = sent(slack("U0123ABC", "here"), message(mentions=()))
    assert len(body["blocks"]) == 1
    assert "<" not in json.dumps(body)


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message(body="x", mentions=("W0999XYZ", "S0456DEF", "W0999XYZ", "all", "channel"))
    assert sent(slack("U0123ABC", "here"), msg) == {
        "text": "<@W0999XYZ> <!subteam^S0456DEF> <!channel> KeyError: 'order 1'",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "KeyError: 'order 1'", "emoji": True},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "<@W0999XYZ> <!subteam^S0456DEF> <!channel>"},
            },
        ],
        "unfurl_links": False,
        "unfurl_media": False,
        "attachments": [
            {
                "color": "#E01E5A",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}],
            }
        ],
    }


def test_mentions_without_any_configured() -> None:
    body = sent(slack(), message(mentions=("U0123ABC",)))
    assert body["blocks"][1]["text"]["text"] == "<@U0123ABC>"
    assert body["text"] == "<@U0123ABC> KeyError: 'order 1'"


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    # check_mention refuses it at configuration time; a message built by hand still goes
    body = sent(slack(), message(mentions=("bob", "here")))
    assert body["text"] == "<!here> KeyError: 'order 1'"


@pytest.mark.parametrize("good", ["U0123ABC", "S0123ABC", "here", "all"])
def test_check_mention_accepts(good: str) -> None:
    slack().check_mention(good)


@pytest.mark.parametrize("bad", ["bob", "@bob", "u0123", "C0123ABC", "<!channel>", "", " here"])
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"[Ss]lack mention") as caught:
        slack().check_mention(bad)
    assert "XyZ0aBcD1eFgH2iJkL3mNoP4" not in str(caught.value)


@pytest.mark.parametrize("bad", ["bob", "@bob", "u0123", "C0123ABC", "<!channel>"])
def test_bad_mention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="Slack mention") as caught:
        slack(bad)
    assert "XyZ0aBcD1eFgH2iJkL3mNoP4" not in str(caught.value)


def test_custom_payload_is_sent_as_is() -> None:
    payload = {"text": "custom", "blocks": [{"type": "divider"}]}
    assert sent(slack("here"), message(payload=payload, mentions=("here",))) == payload


def test_long_body_is_split_into_sections() -> None:
    lines = [f"line {i:04d} " + "y" * 60 for i in range(150)]  # ~10.5k chars
    body = sent(slack(), message(body="\n".join(lines)))
    sections = [b["text"]["text"] for b in body["attachments"][0]["blocks"]]
    assert len(sections) == 4
    assert all(len(s) <= SECTION_LIMIT for s in sections)
    assert "\n".join(sections).split("\n") == lines  # cut at line ends, nothing lost
    assert len(json.dumps(body)) < 13000  # Slack refused payloads near 13k


def test_code_block_cut_in_two_is_closed_and_reopened() -> None:
    text = "Traceback:\n```\n" + "\n".join(f"  frame {i} " + "z" * 50 for i in range(100)) + "\n```"
    sections = split_sections(text)
    assert len(sections) == 3
    for section in sections:
        assert len(section) <= SECTION_LIMIT
        assert section.count("```") == 2
    assert sections[1].startswith("```\n")
    assert sections[0].endswith("\n```")


def test_overlong_line_is_cut_outside_entities() -> None:
    line = "a" * 2990 + "&amp;" + "b" * 100
    first, second = split_sections(line, limit=3000)
    assert first == "a" * 2990
    assert second.startswith("&amp;")


def test_body_over_the_limit_is_cut() -> None:
    body = "\n".join("w" * 99 for _ in range(200))  # 20k chars
    payload = sent(slack(), message(body=body))
    sections = [b["text"]["text"] for b in payload["attachments"][0]["blocks"]]
    assert sum(len(s) for s in sections) <= SlackChannel.max_length
    assert "truncated, " in "\n".join(sections)
    assert sections[-1].endswith("w" * 99)  # the tail (innermost frames) is kept


def test_masked_url_hides_every_token_segment() -> None:
    lower = SlackChannel("https://hooks.slack.com/services/tlower/blower/xlower")
    assert lower.masked_url == "https://hooks.slack.com/services/***/***/***"
    assert "lower" not in repr(lower)
    assert SlackChannel("http://localhost:8080/x").masked_url == "http://localhost:8080/x"


@pytest.mark.parametrize(
    ("status", "text", "headers", "expected"),
    [
        (200, "ok", {}, Judgement(Verdict.OK)),
        (
            429,
            "rate_limited",
            {"Retry-After": "2"},
            Judgement(Verdict.RETRY, "HTTP 429: rate_limited", 2.0),
        ),
        (500, "", {}, Judgement(Verdict.RETRY, "HTTP 500: ")),
        (503, "service_unavailable", {}, Judgement(Verdict.RETRY, "HTTP 503: service_unavailable")),
        (400, "invalid_payload", {}, Judgement(Verdict.FAIL, "HTTP 400: invalid_payload")),
        (403, "action_prohibited", {}, Judgement(Verdict.FAIL, "HTTP 403: action_prohibited")),
        (404, "channel_not_found", {}, Judgement(Verdict.FAIL, "HTTP 404: channel_not_found")),
        (410, "channel_is_archived", {}, Judgement(Verdict.FAIL, "HTTP 410: channel_is_archived")),
    ],
)
def test_judge(status: int, text: str, headers: dict[str, str], expected: Judgement) -> None:
    assert slack().judge(httpx.Response(status, text=text, headers=headers)) == expected


# -- the acceptance checks every platform passes -------------------------------------------


def test_hostile_alert_shows_a_broadcast_as_text() -> None:
    body = conformance.payload(conformance.render(slack(), message=samples.HOSTILE))
    parsed = [body["text"]] + [b["text"]["text"] for b in body["attachments"][0]["blocks"]]
    assert "&lt;!channel&gt;" in "".join(parsed)  # shown, as text (the digest names the type)

"""The configured links in every platform's payload: as its native buttons where it has
them, as markdown links elsewhere. Table-driven: a message with links in -> the exact
links part out, and the rest of the payload exactly the payload without links."""

from __future__ import annotations

import copy
import io
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from erralert._core.links import Link
from erralert.channels import dingtalk, discord, googlechat, slack, telegram, wecom
from erralert.channels.base import Message
from erralert.channels.console import ConsoleChannel
from erralert.channels.registry import PLATFORMS, parse_webhook
from tests.channels.test_golden import SAMPLE_URLS

NOW = 1795717201.0
SOURCE = Link("source", "https://github.com/org/shop/blob/1.4.3/shop/pay.py#L42")
LOGS = Link("logs & traces", "https://grafana.example/explore?q=req_1&from=now-1h")
RUNBOOK = Link("*runbook*", "https://wiki.example/runbooks/KeyError")
LINKS = (SOURCE, LOGS, RUNBOOK)


def message(links: tuple[Link, ...] = LINKS, **fields: Any) -> Message:
    base = Message(
        kind="alert",
        title="KeyError: 'order_1'",
        body="**KeyError** in orders.view",
        event_id="5f0c2a9e0b7d4c1e",
        created_at=NOW,
        links=links,
    )
    return replace(base, **fields)


def sent(platform: str, msg: Message) -> Any:
    return json.loads(parse_webhook(SAMPLE_URLS[platform]).build_request(msg, NOW).content)


Payload = dict[str, Any]


def _pop_last_block(payload: Payload) -> Any:
    return payload["attachments"][0]["blocks"].pop()


def _pop_key(*path: str | int) -> Callable[[Payload], Any]:
    def pop(payload: Payload) -> Any:
        node: Any = payload
        for key in path[:-1]:
            node = node[key]
        return node.pop(path[-1])

    return pop


def _pop_feishu_action(payload: Payload) -> Any:
    elements = payload["card"]["elements"]
    (index,) = [i for i, e in enumerate(elements) if e["tag"] == "action"]
    assert elements[index + 1] == {"tag": "hr"}  # before the note
    return elements.pop(index)


def _pop_text_tail(*path: str | int) -> Callable[[Payload], Any]:
    """The links line at the end of a text, after a blank line."""

    def pop(payload: Payload) -> Any:
        node: Any = payload
        for key in path[:-1]:
            node = node[key]
        text, _, line = node[path[-1]].rpartition("\n\n")
        node[path[-1]] = text
        return line

    return pop


def _button(name: str, url: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": name, "emoji": True},
        "url": url,
    }


# platform -> (take the links part out of the payload, the exact links part)
CASES: dict[str, tuple[Callable[[Payload], Any], Any]] = {
    "slack": (
        _pop_last_block,
        {"type": "actions", "elements": [_button(link.name, link.url) for link in LINKS]},
    ),
    "teams": (
        _pop_key("attachments", 0, "content", "actions"),
        [{"type": "Action.OpenUrl", "title": link.name, "url": link.url} for link in LINKS],
    ),
    "googlechat": (
        _pop_key("cardsV2", 0, "card", "sections", 0, "widgets", 1),
        {
            "buttonList": {
                "buttons": [
                    {"text": link.name, "onClick": {"openLink": {"url": link.url}}}
                    for link in LINKS
                ]
            }
        },
    ),
    "feishu": (
        _pop_feishu_action,
        {
            "tag": "action",
            "actions": [
                {
                    "tag": "button",
                    "text": {"tag": "plain_text", "content": link.name},
                    "url": link.url,
                    "type": "default",
                }
                for link in LINKS
            ],
        },
    ),
    "telegram": (
        _pop_key("reply_markup"),
        {"inline_keyboard": [[{"text": link.name, "url": link.url} for link in LINKS]]},
    ),
    "discord": (
        _pop_key("embeds", 0, "fields"),
        [
            {
                "name": "Links",
                "value": f"[source]({SOURCE.url}) · [logs & traces]({LOGS.url}) · "
                f"[\\*runbook\\*]({RUNBOOK.url})",
                "inline": False,
            }
        ],
    ),
    "mattermost": (
        _pop_text_tail("attachments", 0, "text"),
        f"[source]({SOURCE.url}) · [logs & traces]({LOGS.url}) · [\\*runbook\\*]({RUNBOOK.url})",
    ),
    "rocketchat": (
        _pop_text_tail("attachments", 0, "text"),
        f"[source]({SOURCE.url}) · [logs & traces]({LOGS.url}) · [\\*runbook\\*]({RUNBOOK.url})",
    ),
    "wecom": (
        _pop_text_tail("markdown", "content"),
        f"[source]({SOURCE.url}) · [logs & traces]({LOGS.url}) · "
        f"[&#42;runbook&#42;]({RUNBOOK.url})",
    ),
    "webhook": (
        _pop_key("links"),
        [{"name": link.name, "url": link.url} for link in LINKS],
    ),
}
CASES["lark"] = CASES["feishu"]


def test_every_platform_has_a_case() -> None:
    local = {name for name, channel in PLATFORMS.items() if channel.local}
    assert set(CASES) | {"dingtalk"} == set(PLATFORMS) - local


@pytest.mark.parametrize("platform", sorted(CASES))
def test_links_in_the_payload(platform: str) -> None:
    take, expected = CASES[platform]
    with_links = sent(platform, message())
    without = sent(platform, message(links=()))
    rest = copy.deepcopy(with_links)
    assert take(rest) == expected
    if platform == "webhook":
        without.pop("links")  # the webhook always sends the list (empty here)
    assert rest == without


def test_dingtalk_links_are_an_action_card_when_nobody_is_mentioned() -> None:
    # the robot's keyword security (?keyword=alert) still finds its word in the text
    assert sent("dingtalk", message()) == {
        "msgtype": "actionCard",
        "actionCard": {
            "title": "KeyError: 'order_1'",
            "text": "**KeyError** in orders.view\n\nalert",
            "btnOrientation": "1",
            "btns": [{"title": link.name, "actionURL": link.url} for link in LINKS],
        },
    }
    four = (*LINKS, Link("dash", "https://dash.example/d/1"))
    assert sent("dingtalk", message(links=four))["actionCard"]["btnOrientation"] == "0"


def test_dingtalk_links_are_markdown_links_when_someone_is_mentioned() -> None:
    # an actionCard has no "at": the mention would be lost
    assert sent("dingtalk", message(mentions=("13800000000",))) == {
        "msgtype": "markdown",
        "markdown": {
            "title": "KeyError: 'order_1'",
            "text": "**KeyError** in orders.view\n\n"
            f"[source]({SOURCE.url}) · [logs & traces]({LOGS.url}) · "
            f"[&#42;runbook&#42;]({RUNBOOK.url})\n\n@13800000000\n\nalert",
        },
        "at": {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": False},
    }


def test_dingtalk_without_links_is_markdown() -> None:
    assert sent("dingtalk", message(links=()))["msgtype"] == "markdown"


# -- limits -----------------------------------------------------------------------------------


def long_links(count: int, size: int) -> tuple[Link, ...]:
    return tuple(Link(f"link {i}", f"https://x.example/{'p' * size}/{i}") for i in range(count))


def test_slack_leaves_out_what_slack_refuses() -> None:
    too_long = Link("too long", "https://x.example/" + "p" * 3000)  # 3018 characters
    named = Link("n" * 80, "https://x.example/n")
    elements = sent("slack", message(links=(too_long, named, SOURCE)))["attachments"][0]["blocks"][
        -1
    ]["elements"]
    assert [e["text"]["text"] for e in elements] == ["n" * 74 + "…", "source"]
    many = tuple(Link(f"l{i}", f"https://x.example/{i}") for i in range(40))
    elements = sent("slack", message(links=many))["attachments"][0]["blocks"][-1]["elements"]
    assert len(elements) == slack.ACTIONS_LIMIT


def test_slack_without_a_body_puts_the_buttons_under_the_header() -> None:
    payload = sent("slack", message(body=""))
    assert "attachments" not in payload
    assert payload["blocks"][-1]["type"] == "actions"


def test_discord_links_field_stays_within_1024_characters() -> None:
    field = sent("discord", message(links=long_links(10, 200)))["embeds"][0]["fields"][0]
    assert len(field["value"]) <= discord.FIELD_VALUE_LIMIT
    assert field["value"].count("](") == 4  # 4 links of ~245 characters fit, in order
    assert field["value"].startswith("[link 0](")


def test_discord_embed_total_counts_the_links() -> None:
    body = "x" * 6000
    embed = sent("discord", message(body=body, links=long_links(4, 200)))["embeds"][0]
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= discord.EMBED_TOTAL_LIMIT


def test_telegram_keyboard_rows_of_three() -> None:
    five = long_links(5, 5)
    rows = sent("telegram", message(links=five))["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        ["link 0", "link 1", "link 2"],
        ["link 3", "link 4"],
    ]


def test_telegram_shows_links_it_cannot_make_buttons_as_lines() -> None:
    # Telegram refuses a button whose host has no dot: such a link is a line of the text
    local = Link("grafana <local>", "http://grafana:3000/d/x?a=1&b=2")
    payload = sent("telegram", message(links=(SOURCE, local)))
    assert payload["reply_markup"] == {"inline_keyboard": [[{"text": "source", "url": SOURCE.url}]]}
    assert payload["text"] == (
        "<b>KeyError: 'order_1'</b>\n**KeyError** in orders.view\n\n"
        "grafana &lt;local&gt;: <code>http://grafana:3000/d/x?a=1&amp;b=2</code>"
    )
    only_local = sent("telegram", message(links=(local,)))
    assert "reply_markup" not in only_local


def test_telegram_text_with_link_lines_stays_within_the_limit() -> None:
    local = tuple(Link(f"l{i}", f"http://grafana/{'p' * 100}/{i}") for i in range(20))
    text = sent("telegram", message(body="y" * 5000, links=local))["text"]
    assert telegram.visible_length(text) <= telegram.SAFE_LIMIT
    assert text.endswith("</code>")  # the links are kept, the body is cut


def test_wecom_content_stays_within_4096_bytes_with_links() -> None:
    body = "字" * 1400  # 4200 bytes
    content = sent("wecom", message(body=body, links=long_links(5, 150)))["markdown"]["content"]
    assert len(content.encode()) <= wecom.CONTENT_LIMIT
    _, _, line = content.rpartition("\n\n")
    assert len(line.encode()) <= wecom.LINKS_BUDGET
    assert line.startswith("[link 0](")


@pytest.mark.parametrize(
    ("platform", "limit", "unit"),
    [
        ("teams", 27_000, "bytes"),
        ("googlechat", googlechat.MESSAGE_LIMIT, "bytes"),
        ("feishu", 20_000, "bytes"),
        ("dingtalk", dingtalk.BODY_LIMIT, "bytes"),
        ("slack", slack.PAYLOAD_LIMIT, "chars"),
        ("mattermost", 16_383, "chars"),
        ("rocketchat", 5_000, "chars"),
    ],
)
def test_many_long_links_and_a_long_body_stay_within_the_limit(
    platform: str, limit: int, unit: str
) -> None:
    channel = parse_webhook(SAMPLE_URLS[platform])
    msg = message(body="\n".join(f'"line" {i}' for i in range(3000)), links=long_links(30, 600))
    content = channel.build_request(msg, NOW).content
    size = len(content) if unit == "bytes" else len(content.decode())
    assert size <= limit
    assert "link 0" in content.decode()  # the first links are kept


def test_console_lists_the_links_after_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    ConsoleChannel().deliver_locally(message())
    assert stream.getvalue() == (
        "KeyError: 'order_1'\n-------------------\n**KeyError** in orders.view\n\n"
        f"source: {SOURCE.url}\nlogs & traces: {LOGS.url}\n*runbook*: {RUNBOOK.url}\n\n"
    )
    stream.truncate(0)
    stream.seek(0)
    ConsoleChannel().deliver_locally(message(links=()))
    assert stream.getvalue() == (
        "KeyError: 'order_1'\n-------------------\n**KeyError** in orders.view\n\n"
    )


def test_discord_names_the_links_field_in_the_messages_language() -> None:
    fields = sent("discord", message(locale="zh"))["embeds"][0]["fields"]
    assert [f["name"] for f in fields] == ["链接"]

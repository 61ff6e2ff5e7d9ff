"""Links in the inbox: what each channel sends with configured links is accepted and shown
as the platform shows it (a row of buttons, or markdown links); what a platform refuses
(a Slack URL over 3000 characters, a Telegram button to a host without a dot …) is
refused in its words; a button's URL becomes a link only when it is a safe http(s) one."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from erralert._core.links import Link
from erralert.channels.base import Message
from erralert.channels.registry import parse_webhook
from erralert.inbox import InboxMessage, InboxStore
from erralert.inbox.show import render_body
from tests.inbox.test_inbox_delivery import hooks

SOURCE = Link("source", "https://github.com/org/shop/blob/1.4.3/shop/pay.py#L42")
LOGS = Link("logs & traces", "https://grafana.example/explore?q=req_1&from=now-1h")
LINKS = (SOURCE, LOGS)
MESSAGE = Message(
    kind="alert", title="KeyError: 'order_1'", body="**KeyError** in orders.view", links=LINKS
)
BUTTONS = ["slack", "teams", "googlechat", "feishu", "lark", "telegram", "dingtalk"]
MARKDOWN_LINKS = ["discord", "mattermost", "rocketchat", "wecom"]


def anchors(fragment: str) -> list[tuple[str, str]]:
    """``(href, text)`` of every link of an HTML fragment."""
    found = re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', fragment)
    return [
        (html.unescape(href), html.unescape(re.sub(r"<[^>]*>", "", text))) for href, text in found
    ]


def delivered(
    client: TestClient, store: InboxStore, platform: str, message: Message
) -> InboxMessage:
    channel = parse_webhook(hooks("http://inbox.test")[platform])
    request = channel.build_request(message, 1_800_000_000.0)
    answer = client.post(
        request.url.raw_path.decode(), content=request.content, headers=dict(request.headers)
    )
    assert answer.status_code < 300, answer.text
    (stored,) = store.messages()
    return stored


@pytest.mark.parametrize("platform", BUTTONS)
def test_buttons_are_accepted_and_shown_as_a_row(
    client: TestClient, store: InboxStore, platform: str
) -> None:
    stored = delivered(client, store, platform, MESSAGE)
    assert stored.error is None
    body = render_body(stored)
    row = re.search(r'<div class="buttons(?: vertical)?">(.*?)</div>', body)
    assert row is not None, body
    assert anchors(row.group(1)) == [(SOURCE.url, "source"), (LOGS.url, "logs & traces")]
    assert row.group(1).count('<span class="button">') == 2


@pytest.mark.parametrize("platform", MARKDOWN_LINKS)
def test_markdown_links_are_accepted_and_shown_as_links(
    client: TestClient, store: InboxStore, platform: str
) -> None:
    stored = delivered(client, store, platform, MESSAGE)
    assert stored.error is None
    assert anchors(render_body(stored)) == [(SOURCE.url, "source"), (LOGS.url, "logs & traces")]


def test_dingtalk_with_a_mention_shows_the_links_in_its_markdown(
    client: TestClient, store: InboxStore
) -> None:
    mentioned = Message(kind="alert", title="t", body="b", links=LINKS, mentions=("13800000000",))
    stored = delivered(client, store, "dingtalk", mentioned)
    assert stored.payload["msgtype"] == "markdown"
    assert anchors(render_body(stored)) == [(SOURCE.url, "source"), (LOGS.url, "logs & traces")]


def test_dingtalk_action_card_buttons_side_by_side_or_stacked() -> None:
    def shown(orientation: str) -> str:
        card = {"title": "t", "text": "x", "btnOrientation": orientation, "btns": BTNS}
        return render_body(_message("dingtalk", {"msgtype": "actionCard", "actionCard": card}))

    assert '<div class="buttons">' in shown("1")
    assert '<div class="buttons vertical">' in shown("0")
    single = {"title": "t", "text": "x", "singleTitle": "open", "singleURL": SOURCE.url}
    one = render_body(_message("dingtalk", {"msgtype": "actionCard", "actionCard": single}))
    assert anchors(one) == [(SOURCE.url, "open")]


BTNS = [{"title": "source", "actionURL": SOURCE.url}]


def _message(platform: str, payload: Any) -> InboxMessage:
    return InboxMessage(1, 0.0, platform, "/p", "alert", "t", payload, "{}", 200, None)


def test_rocketchat_attachment_actions_are_buttons() -> None:
    # erralert sends markdown links; the inbox still shows what Rocket.Chat's client draws
    attachment = {
        "text": "x",
        "button_alignment": "horizontal",
        "actions": [
            {"type": "button", "text": "source", "url": SOURCE.url},
            {"type": "button", "text": "say hi", "msg": "hi", "msg_in_chat_window": True},
        ],
    }
    body = render_body(_message("rocketchat", {"attachments": [attachment]}))
    assert anchors(body) == [(SOURCE.url, "source")]
    assert '<div class="buttons"><a href=' in body
    assert '<span class="button">say hi</span>' in body


def test_teams_action_set_and_card_actions() -> None:
    card = {
        "type": "AdaptiveCard",
        "body": [
            {
                "type": "ActionSet",
                "actions": [{"type": "Action.OpenUrl", "title": "a", "url": SOURCE.url}],
            }
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "b", "url": LOGS.url},
            {"type": "Action.Submit", "title": "c"},
        ],
    }
    body = render_body(_message("teams", {"type": "message", "attachments": [{"content": card}]}))
    assert anchors(body) == [(SOURCE.url, "a"), (LOGS.url, "b")]
    assert '<span class="button">c</span>' in body  # no link: it submits, it opens nothing


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<b>x</b>", 'https://x.example/"onclick="y', None]
)
def test_a_button_links_only_to_a_safe_url(url: Any) -> None:
    payloads = {
        "slack": {
            "blocks": [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "go"}, "url": url}
                    ],
                }
            ]
        },
        "telegram": {
            "text": "x",
            "reply_markup": {"inline_keyboard": [[{"text": "go", "url": url}]]},
        },
        "feishu": {
            "card": {
                "elements": [
                    {
                        "tag": "action",
                        "actions": [{"tag": "button", "text": {"content": "go"}, "url": url}],
                    }
                ]
            }
        },
    }
    for platform, payload in payloads.items():
        body = render_body(_message(platform, payload))
        assert "<a " not in body
        assert '<span class="button">go</span>' in body
        assert "onclick" not in body


# -- what the platforms refuse ----------------------------------------------------------------

SLACK = "/services/T/B/X"
TELEGRAM = "/bot1:abc/sendMessage"
TEAMS = "/workflows/w/triggers/manual/paths/invoke?sig=s"
GOOGLECHAT = "/v1/spaces/S/messages?key=k&token=t"
DINGTALK = "/robot/send?access_token=t"
FEISHU = "/open-apis/bot/v2/hook/h"


def slack_button(text: str, url: str) -> dict[str, Any]:
    button = {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url}
    return {"text": "x", "blocks": [{"type": "actions", "elements": [button]}]}


def telegram(url: str) -> dict[str, Any]:
    keyboard = {"inline_keyboard": [[{"text": "go", "url": url}]]}
    return {"chat_id": -1, "text": "x", "reply_markup": keyboard}


@pytest.mark.parametrize(
    ("path", "payload", "status", "error"),
    [
        (
            SLACK,
            slack_button("go", "https://x.example/" + "p" * 2990),
            400,
            "invalid_blocks: blocks[0].elements[0].url: must be less than 3001 characters",
        ),
        (
            SLACK,
            slack_button("g" * 76, "https://x.example/"),
            400,
            "invalid_blocks: blocks[0].elements[0].text: must be less than 76 characters",
        ),
        (
            SLACK,
            {"blocks": [{"type": "actions", "elements": [{"type": "button"}] * 26}]},
            400,
            "invalid_blocks: blocks[0].elements: must provide an array with no more than 25 items",
        ),
        (
            TELEGRAM,
            telegram("ftp://files.example/x"),
            400,
            "Bad Request: inline keyboard button URL 'ftp://files.example/x' is invalid: "
            "Unsupported URL protocol",
        ),
        (TELEGRAM, telegram("http://localhost:3000/d"), 400, "Bad Request: BUTTON_URL_INVALID"),
        (
            TELEGRAM,
            {"chat_id": -1, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "go"}]]}},
            400,
            "Bad Request: text buttons are unallowed in the inline keyboard",
        ),
        (
            DINGTALK,
            {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "btns": []}},
            200,
            "errcode 40035: 缺少参数 actionCard.btns",
        ),
        (
            GOOGLECHAT,
            {
                "cardsV2": [
                    {
                        "card": {
                            "sections": [
                                {
                                    "widgets": [
                                        {
                                            "buttonList": {
                                                "buttons": [
                                                    {
                                                        "text": "go",
                                                        "onClick": {"openLink": {"url": "x"}},
                                                    }
                                                ]
                                            }
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                ]
            },
            400,
            "400 INVALID_ARGUMENT: Invalid value at 'message.cards_v2[0].card.sections[0]"
            ".widgets[0].button_list.buttons[0].on_click.open_link.url' ('x')",
        ),
        (
            FEISHU,
            {
                "msg_type": "interactive",
                "card": {
                    "elements": [
                        {
                            "tag": "action",
                            "actions": [
                                {
                                    "tag": "button",
                                    "text": {"tag": "plain_text", "content": "go"},
                                    "url": "javascript:x",
                                }
                            ],
                        }
                    ]
                },
            },
            400,
            "code 9499: Bad Request: card.elements[0].actions[0].url is not a valid URL",
        ),
    ],
)
def test_refused_in_the_platforms_words(
    client: TestClient, store: InboxStore, path: str, payload: Any, status: int, error: str
) -> None:
    assert client.post(path, json=payload).status_code == status
    assert store.messages()[0].error == error


def test_a_teams_card_the_flow_cannot_post_is_accepted_and_marked(
    client: TestClient, store: InboxStore
) -> None:
    # the workflow answers 202 before it posts: the failure never reaches the sender
    card = {
        "type": "AdaptiveCard",
        "body": [{"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": ""}]}],
        "actions": [{"type": "Action.OpenUrl", "title": "go"}],
    }
    payload = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }
    assert client.post(TEAMS, json=payload).status_code == 202
    assert store.messages()[0].error == (
        "accepted, but the flow cannot post the card: "
        "attachments[0].content.body[0].inlines[0]: a TextRun needs text"
    )
    card["body"] = []
    assert client.post(TEAMS, json=payload).status_code == 202
    assert store.messages()[0].error == (
        "accepted, but the flow cannot post the card: "
        "attachments[0].content.actions[0]: Action.OpenUrl needs an absolute url"
    )

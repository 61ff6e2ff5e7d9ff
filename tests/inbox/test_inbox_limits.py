"""The platforms' limits, enforced with their real answers: oversize bodies, Telegram's
HTML parser, Discord's embed limits, per-hook rate limits (on the inbox's clock) and
keywords. Every refusal is stored with the platform's words."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from freezegun import freeze_time
from starlette.testclient import TestClient

from erralert.inbox import InboxStore, create_app
from tests.inbox.conftest import Clock

DINGTALK = "/robot/send?access_token=t"
WECOM = "/cgi-bin/webhook/send?key=k"
FEISHU = "/open-apis/bot/v2/hook/h"
SLACK = "/services/T/B/X"
DISCORD = "/api/webhooks/1/tok?wait=true"
TELEGRAM = "/bot1:abc/sendMessage"
TEAMS = "/workflows/w/triggers/manual/paths/invoke?sig=s"
GOOGLECHAT = "/v1/spaces/S/messages?key=k&token=t"


def markdown(text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}


def card(text: str) -> dict[str, Any]:
    return {"msg_type": "interactive", "card": {"elements": [{"tag": "markdown", "content": text}]}}


def teams(text: str) -> dict[str, Any]:
    content = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": text}]}
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
        ],
    }


# -- oversize bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "status", "answer"),
    [
        (
            DINGTALK,
            markdown("x" * 20_001),
            200,
            {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"},
        ),
        (FEISHU, card("x" * 20_001), 400, {"code": 9499}),
        (
            WECOM,
            {"msgtype": "markdown", "markdown": {"content": "字" * 1366}},  # 4098 bytes
            200,
            {"errcode": 40058},
        ),
        (WECOM, {"msgtype": "text", "text": {"content": "x" * 2049}}, 200, {"errcode": 40058}),
        (TEAMS, teams("x" * 28_001), 413, {"error": {"code": "RequestEntityTooLarge"}}),
        (
            GOOGLECHAT,
            {"text": "x" * 32_001},
            400,
            {"error": {"code": 400, "status": "INVALID_ARGUMENT"}},
        ),
        (SLACK, {"text": "x", "blocks": []}, 200, None),
        (
            SLACK,
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 5},
            400,
            "msg_blocks_too_long",
        ),
    ],
)
def test_oversize_bodies(
    client: TestClient, store: InboxStore, path: str, payload: Any, status: int, answer: Any
) -> None:
    response = client.post(path, json=payload)
    assert response.status_code == status
    if isinstance(answer, dict):
        assert _contains(response.json(), answer)
        assert store.messages()[0].error is not None
    elif isinstance(answer, str):
        assert response.text == answer
    else:
        assert store.messages()[0].error is None


def _contains(document: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(document, dict) and all(
            k in document and _contains(document[k], v) for k, v in expected.items()
        )
    return bool(document == expected)


def test_within_the_limits_is_accepted(client: TestClient) -> None:
    assert client.post(DINGTALK, json=markdown("x" * 19_000)).json()["errcode"] == 0
    assert client.post(FEISHU, json=card("x" * 19_000)).json()["code"] == 0
    assert client.post(TEAMS, json=teams("x" * 27_000)).status_code == 202


# -- structure --------------------------------------------------------------------------------


def test_refusals_of_malformed_bodies(client: TestClient) -> None:
    assert client.post(SLACK, content=b"nope").text == "invalid_payload"
    assert client.post(SLACK, json={"text": ""}).text == "no_text"
    header = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
    response = client.post(SLACK, json={"blocks": [header]})
    assert (response.status_code, response.text) == (400, "invalid_blocks")
    assert client.post(DISCORD, content=b"{").json()["code"] == 50109
    assert client.post(DISCORD, json={"content": ""}).json()["code"] == 50006
    answer = client.post(TEAMS, json={"type": "message", "attachments": []})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "TriggerInputSchemaMismatch"
    assert client.post(TEAMS, content=b"<xml/>").json()["error"]["code"] == "InvalidRequestContent"
    assert client.post(DINGTALK, content=b"text").json()["errcode"] == 40035
    assert client.post(WECOM, json={"msgtype": "voice"}).json()["errcode"] == 40008
    assert client.post(WECOM, json={"msgtype": "text", "text": {"content": " "}}).json() == {
        "errcode": 44004,
        "errmsg": "empty content",
    }
    assert client.post(FEISHU, json={"msg_type": "text", "content": {}}).json()["code"] == 9499
    mattermost = client.post("/hooks/k", json={"text": ""})
    assert mattermost.json()["id"] == "web.incoming_webhook.text.app_error"
    assert client.post("/hooks/a/b", content=b"x").json()["success"] is False
    assert client.post("/webhook/x", content=b"x").status_code == 400


def test_success_shapes(client: TestClient) -> None:
    slack = client.post(SLACK, json={"text": "hi"})
    assert (slack.status_code, slack.text) == (200, "ok")
    assert client.post("/api/webhooks/1/tok", json={"content": "hi"}).status_code == 204
    waited = client.post(DISCORD, json={"content": "hi"})
    assert waited.status_code == 200
    assert waited.json()["content"] == "hi"
    assert waited.json()["webhook_id"] == "1"
    assert client.post(TEAMS, json=teams("hi")).status_code == 202
    chat = client.post(GOOGLECHAT, json={"text": "hi", "thread": {"threadKey": "k1"}}).json()
    assert chat["name"].startswith("spaces/S/messages/")
    assert chat["thread"]["name"] == "spaces/S/threads/k1"
    assert client.post("/hooks/k", json={"text": "hi"}).text == "ok"
    assert client.post("/hooks/a/b", json={"text": "hi"}).json() == {"success": True}
    telegram = client.post(
        TELEGRAM, json={"chat_id": -100, "text": "<b>hi</b>", "parse_mode": "HTML"}
    )
    assert telegram.json()["ok"] is True
    assert telegram.json()["result"]["text"] == "hi"
    assert telegram.json()["result"]["chat"] == {"id": -100, "type": "group"}
    assert client.post(DINGTALK, json=markdown("hi")).json() == {"errcode": 0, "errmsg": "ok"}
    assert client.post(
        WECOM, json={"msgtype": "markdown", "markdown": {"content": "hi"}}
    ).json() == {
        "errcode": 0,
        "errmsg": "ok",
    }
    feishu = client.post(FEISHU, json={"msg_type": "text", "content": {"text": "hi"}}).json()
    assert (feishu["code"], feishu["msg"]) == (0, "success")
    assert client.post("/webhook/x", json={"kind": "alert"}).json() == {"ok": True}


# -- Telegram's HTML --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("<b>bold", "can't parse entities: Can't find end tag corresponding to start tag \"b\""),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("1 < 2", "Unexpected end of name token at byte offset 2"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
    ],
)
def test_telegram_refuses_html_it_cannot_parse(
    client: TestClient, store: InboxStore, text: str, description: str
) -> None:
    response = client.post(TELEGRAM, json={"chat_id": 1, "text": text, "parse_mode": "HTML"})
    assert response.status_code == 400
    answer = response.json()
    assert answer["ok"] is False
    assert answer["error_code"] == 400
    assert answer["description"].startswith("Bad Request: can't parse entities: ")
    assert answer["description"].endswith(description)
    assert store.messages()[0].error == answer["description"]


def test_telegram_text_limits(client: TestClient) -> None:
    def send(**fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = client.post(TELEGRAM, json={"chat_id": 1, **fields}).json()
        return result

    assert send(text="")["description"] == "Bad Request: message text is empty"
    assert send(text="x" * 4097)["description"] == "Bad Request: message is too long"
    # counted after entity parsing: the tags do not count
    assert send(text=f"<b>{'x' * 4096}</b>", parse_mode="HTML")["ok"] is True
    assert send(text="&lt;" * 4096, parse_mode="HTML")["ok"] is True
    assert send(text="😀" * 2049)["description"] == "Bad Request: message is too long"  # UTF-16
    missing = client.post(TELEGRAM, json={"text": "x"}).json()
    assert missing["description"] == "Bad Request: chat_id is empty"
    assert client.post("/bot1:abc/getMe", json={}).json()["error_code"] == 404


# -- Discord's embed limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        ({"content": "x" * 2001}, ["content"], "Must be 2000 or fewer in length."),
        ({"embeds": [{"title": "x"}] * 11}, ["embeds"], "Must be 10 or fewer in length."),
        (
            {"embeds": [{"title": "x" * 257}]},
            ["embeds", "0", "title"],
            "Must be 256 or fewer in length.",
        ),
        (
            {"embeds": [{"description": "x" * 4097}]},
            ["embeds", "0", "description"],
            "Must be 4096 or fewer in length.",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
            ["embeds", "0", "fields"],
            "Must be 25 or fewer in length.",
        ),
        (
            {"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]},
            ["embeds", "0", "fields", "0", "name"],
            "Must be 256 or fewer in length.",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
            ["embeds", "0", "fields", "0", "value"],
            "Must be 1024 or fewer in length.",
        ),
        (
            {"embeds": [{"footer": {"text": "x" * 2049}}]},
            ["embeds", "0", "footer", "text"],
            "Must be 2048 or fewer in length.",
        ),
        (
            {"embeds": [{"description": "x" * 4000}, {"description": "x" * 2001}]},
            ["embeds"],
            "Embed size exceeds maximum size of 6000",
        ),
    ],
)
def test_discord_embed_limits(
    client: TestClient, payload: dict[str, Any], path: list[str], message: str
) -> None:
    response = client.post(DISCORD, json=payload)
    assert response.status_code == 400
    answer = response.json()
    assert (answer["code"], answer["message"]) == (50035, "Invalid Form Body")
    errors = answer["errors"]
    for key in path:
        errors = errors[key]
    assert errors["_errors"][0]["message"] == message


# -- rate limits ------------------------------------------------------------------------------


def test_dingtalk_20_per_minute_per_robot(client: TestClient, clock: Clock) -> None:
    for _ in range(20):
        assert client.post(DINGTALK, json=markdown("x")).json()["errcode"] == 0
        clock.tick(1)
    over = client.post(DINGTALK, json=markdown("x")).json()
    assert over == {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    # another robot has its own budget
    other = client.post("/robot/send?access_token=other", json=markdown("x")).json()
    assert other["errcode"] == 0
    clock.tick(40.5)  # the first of the 20 is now a minute old
    assert client.post(DINGTALK, json=markdown("x")).json()["errcode"] == 0


def test_rate_limits_under_freezegun(store: InboxStore) -> None:
    """The inbox's default clock is time.time(), read at each request: freezegun moves it."""
    with freeze_time("2027-01-01 00:00:00") as frozen:
        client = TestClient(create_app(store))
        for _ in range(20):
            assert (
                client.post(WECOM, json={"msgtype": "text", "text": {"content": "x"}}).json()[
                    "errcode"
                ]
                == 0
            )
        over = client.post(WECOM, json={"msgtype": "text", "text": {"content": "x"}}).json()
        assert over == {"errcode": 45009, "errmsg": "api freq out of limit"}
        frozen.tick(60)
        assert (
            client.post(WECOM, json={"msgtype": "text", "text": {"content": "x"}}).json()["errcode"]
            == 0
        )


def test_feishu_5_per_second_and_100_per_minute(client: TestClient, clock: Clock) -> None:
    send: Callable[[], dict[str, Any]] = lambda: client.post(  # noqa: E731
        FEISHU, json={"msg_type": "text", "content": {"text": "x"}}
    ).json()
    for _ in range(5):
        assert send()["code"] == 0
    assert send() == {"code": 11232, "data": {}, "msg": "frequency limited"}
    for _ in range(19):
        clock.tick(1.0)
        for _ in range(5):
            assert send()["code"] == 0
    clock.tick(1.0)  # 100 in the last minute
    assert send()["code"] == 11232


def test_slack_discord_telegram_googlechat_429(client: TestClient, clock: Clock) -> None:
    for _ in range(60):
        assert client.post(SLACK, json={"text": "x"}).status_code == 200
    slack = client.post(SLACK, json={"text": "x"})
    assert (slack.status_code, slack.text) == (429, "rate_limited")
    assert int(slack.headers["retry-after"]) >= 1

    for _ in range(5):
        assert client.post(DISCORD, json={"content": "x"}).status_code == 200
    discord = client.post(DISCORD, json={"content": "x"})
    assert discord.status_code == 429
    assert discord.json()["message"] == "You are being rate limited."
    assert 0 < discord.json()["retry_after"] <= 2
    assert discord.json()["global"] is False
    assert "retry-after" in discord.headers

    for _ in range(20):
        assert client.post(TELEGRAM, json={"chat_id": -5, "text": "x"}).json()["ok"] is True
    telegram = client.post(TELEGRAM, json={"chat_id": -5, "text": "x"})
    assert telegram.status_code == 429
    body = telegram.json()
    assert body["error_code"] == 429
    assert body["parameters"]["retry_after"] == 60
    assert body["description"] == "Too Many Requests: retry after 60"
    # another chat of the same bot has its own budget
    assert client.post(TELEGRAM, json={"chat_id": -6, "text": "x"}).json()["ok"] is True

    for _ in range(60):
        assert client.post(GOOGLECHAT, json={"text": "x"}).status_code == 200
    chat = client.post(GOOGLECHAT, json={"text": "x"})
    assert chat.status_code == 429
    assert chat.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    clock.tick(60)
    assert client.post(GOOGLECHAT, json={"text": "x"}).status_code == 200


# -- keywords ---------------------------------------------------------------------------------


def test_keyword_security(make_client: Callable[..., TestClient]) -> None:
    client = make_client(keywords={"dingtalk": "alert,告警", "feishu": "alert"})
    assert client.post(DINGTALK, json=markdown("nothing")).json() == {
        "errcode": 310000,
        "errmsg": "keywords not in content",
    }
    assert client.post(DINGTALK, json=markdown("服务告警")).json()["errcode"] == 0
    refused = client.post(FEISHU, json={"msg_type": "text", "content": {"text": "x"}}).json()
    assert (refused["code"], refused["msg"]) == (19024, "Key Words Not Found")
    accepted = client.post(FEISHU, json={"msg_type": "text", "content": {"text": "an alert"}})
    assert accepted.json()["code"] == 0


@pytest.mark.parametrize("platform", ["slack", "wecom", "nowhere"])
def test_a_keyword_for_a_platform_without_keyword_security_fails_at_set_up(
    platform: str,
) -> None:
    with pytest.raises(ValueError, match=f"keywords for '{platform}': only dingtalk, feishu, lark"):
        create_app(InboxStore(":memory:"), keywords={platform: "alert"})


def test_refused_requests_are_stored_with_the_reason(client: TestClient, store: InboxStore) -> None:
    client.post(DINGTALK, content=json.dumps(markdown("x" * 20_001)))
    (message,) = store.messages()
    assert message.platform == "dingtalk"
    assert message.status == 200
    assert message.error == "errcode 460101: message too long, exceed 20000 bytes"
    assert message.payload["msgtype"] == "markdown"

"""DingTalk: message in -> exact request out (signature recomputed here independently);
DingTalk's answer in -> verdict out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import pytest
from freezegun import freeze_time

from erralert._core.errors import ConfigError
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.dingtalk import BODY_LIMIT, DingTalkChannel
from tests import samples
from tests.channels import conformance

TOKEN = "5f1c0a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"
URL = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
SECRET = "SECb0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2"
NOW = 1_718_000_000.123


def dingtalk(**options: Any) -> DingTalkChannel:
    return DingTalkChannel(URL, ChannelOptions(**options))


def message(body: str = "### KeyError\n订单 1 不存在", **fields: Any) -> Message:
    return conformance.message(body, **fields)


def sent(channel: DingTalkChannel, msg: Message, now: float | None = NOW) -> Any:
    return conformance.sent(channel, msg, now)


def expected_sign(timestamp: str) -> str:
    """DingTalk's algorithm, written out again from its documentation."""
    key = SECRET.encode("utf-8")
    string_to_sign = f"{timestamp}\n{SECRET}".encode()
    return base64.b64encode(
        hmac.new(key, string_to_sign, digestmod=hashlib.sha256).digest()
    ).decode()


def test_markdown_payload() -> None:
    request = dingtalk().build_request(message(), NOW)
    assert str(request.url) == URL  # no secret: the URL as configured
    assert json.loads(request.content) == {
        "msgtype": "markdown",
        "markdown": {"title": "KeyError: 'order 1'", "text": "### KeyError\n订单 1 不存在"},
        "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},
    }
    # UTF-8 as is, not \\u escapes: DingTalk counts bytes
    assert "订单".encode() in request.content


def test_signed_url() -> None:
    request = dingtalk(secret=SECRET).build_request(message(), NOW)
    url = urlsplit(str(request.url))
    assert (url.scheme, url.netloc, url.path) == ("https", "oapi.dingtalk.com", "/robot/send")
    raw = dict(pair.split("=", 1) for pair in url.query.split("&"))
    assert raw["access_token"] == TOKEN
    assert raw["timestamp"] == "1718000000123"  # milliseconds
    # a base64 HMAC-SHA256 always ends in "=": encoded exactly once it is "%3D", never "%253D"
    assert raw["sign"].endswith("%3D")
    assert "%25" not in raw["sign"]
    assert unquote(raw["sign"]) == expected_sign("1718000000123")


@freeze_time("2024-06-01 12:00:00")
def test_signed_url_uses_the_clock_by_default() -> None:
    request = dingtalk(secret=SECRET).build_request(message())
    query = dict(parse_qsl(urlsplit(str(request.url)).query))
    assert query["timestamp"] == "1717243200000"
    assert query["sign"] == expected_sign("1717243200000")


def test_stale_timestamp_and_sign_in_the_url_are_replaced() -> None:
    channel = DingTalkChannel(f"{URL}&timestamp=1&sign=old", ChannelOptions(secret=SECRET))
    query = parse_qsl(urlsplit(str(channel.build_request(message(), NOW).url)).query)
    assert [k for k, _ in query].count("sign") == 1
    assert dict(query)["sign"] == expected_sign("1718000000123")


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("### 报警: KeyError", "### 报警: KeyError"),  # present: left alone
        ("### KeyError", "### KeyError\n\n报警"),  # missing: appended as the last line
    ],
)
def test_keyword_is_guaranteed(body: str, text: str) -> None:
    payload = sent(dingtalk(keyword="报警"), message(body, title="报警 KeyError"))
    assert payload["markdown"]["text"] == text


@pytest.mark.parametrize(
    ("ids", "at", "tail"),
    [
        (
            ("13800000000",),
            {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": False},
            "@13800000000",
        ),
        (
            ("manager01",),
            {"atMobiles": [], "atUserIds": ["manager01"], "isAtAll": False},
            "@manager01",
        ),
        (("all",), {"atMobiles": [], "atUserIds": [], "isAtAll": True}, None),
        (
            ("13800000000", "all", "ops1", "13900000000"),
            {"atMobiles": ["13800000000", "13900000000"], "atUserIds": ["ops1"], "isAtAll": True},
            "@13800000000 @13900000000 @ops1",
        ),
    ],
)
def test_mentions(ids: tuple[str, ...], at: dict[str, Any], tail: str | None) -> None:
    payload = sent(dingtalk(mention=ids), message(body="### KeyError", mentions=ids))
    assert payload["at"] == at
    expected = "### KeyError" + (f"\n\n{tail}" if tail else "")
    assert payload["markdown"]["text"] == expected


def test_no_mentions_unless_the_message_has_some() -> None:
    payload = sent(dingtalk(mention=("13800000000", "all")), message(body="x", mentions=()))
    assert payload["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    assert payload["markdown"]["text"] == "x"


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message(body="x", mentions=("13900000000", "lead7", "13900000000", "ALL"))
    assert sent(dingtalk(mention=("13800000000", "ops1")), msg) == {
        "msgtype": "markdown",
        "markdown": {"title": "KeyError: 'order 1'", "text": "x\n\n@13900000000 @lead7"},
        "at": {"atMobiles": ["13900000000"], "atUserIds": ["lead7"], "isAtAll": True},
    }


def test_mentions_without_any_configured() -> None:
    payload = sent(dingtalk(), message(body="x", mentions=("ops1",)))
    assert payload["at"] == {"atMobiles": [], "atUserIds": ["ops1"], "isAtAll": False}
    assert payload["markdown"]["text"] == "x\n\n@ops1"


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    payload = sent(dingtalk(), message(body="x", mentions=("ops 1", "", "ops1")))
    assert payload["at"] == {"atMobiles": [], "atUserIds": ["ops1"], "isAtAll": False}


@pytest.mark.parametrize("good", ["13800000000", "manager01", "all", "ALL"])
def test_check_mention_accepts(good: str) -> None:
    dingtalk().check_mention(good)


@pytest.mark.parametrize("bad", ["ops 1", "", " ops1", "ops\n1", "ops\u200b1"])
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"(?i)dingtalk mention") as caught:
        dingtalk(secret=SECRET).check_mention(bad)
    assert TOKEN not in str(caught.value)
    assert SECRET not in str(caught.value)
    with pytest.raises(ConfigError, match=r"(?i)dingtalk mention"):
        dingtalk(mention=(bad,))


def test_mentions_then_keyword() -> None:
    payload = sent(
        dingtalk(mention=("13800000000",), keyword="alert"),
        message(body="x", mentions=("13800000000",)),
    )
    assert payload["markdown"]["text"] == "x\n\n@13800000000\n\nalert"


def test_custom_payload_is_sent_as_is_and_still_signed() -> None:
    custom = {"msgtype": "text", "text": {"content": "自定义"}}
    request = dingtalk(secret=SECRET, keyword="k").build_request(message(payload=custom), NOW)
    assert json.loads(request.content) == custom
    assert "sign=" in str(request.url)


def test_oversized_body_is_cut_to_fit() -> None:
    body = "### 报警\n" + "错误信息" * 3000  # 36k bytes
    request = dingtalk(keyword="报警尾", mention=("13800000000",)).build_request(
        message(body=body, mentions=("13800000000",)), NOW
    )
    assert len(request.content) <= BODY_LIMIT
    text = json.loads(request.content.decode("utf-8"))["markdown"]["text"]
    assert text.startswith("### 报警\n错误信息")
    assert text.endswith("…(truncated)\n\n@13800000000\n\n报警尾")  # mentions and keyword kept


def test_body_that_fits_is_not_cut() -> None:
    body = "错" * (DingTalkChannel.max_length // 3)
    payload = sent(dingtalk(), message(body=body))
    assert payload["markdown"]["text"] == body


def test_masked_url_and_repr_hide_the_token_and_secret() -> None:
    channel = dingtalk(secret=SECRET)
    assert channel.masked_url == "https://oapi.dingtalk.com/robot/send?access_token=***"
    for text in (repr(channel), channel.name, repr(channel.options)):
        assert TOKEN not in text
        assert SECRET not in text


def answer(status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(json={"errcode": 0, "errmsg": "ok"}), Judgement(Verdict.OK)),
        (answer(json={"errcode": "0", "errmsg": "ok"}), Judgement(Verdict.OK)),
        (
            answer(json={"errcode": 310000, "errmsg": "sign not match"}),
            Judgement(Verdict.FAIL, "errcode 310000: sign not match"),
        ),
        (
            answer(json={"errcode": 310000, "errmsg": "keywords not in content"}),
            Judgement(Verdict.FAIL, "errcode 310000: keywords not in content"),
        ),
        (
            answer(json={"errcode": 460101, "errmsg": "message too long"}),
            Judgement(Verdict.FAIL, "errcode 460101: message too long"),
        ),
        (
            answer(json={"errcode": 300001, "errmsg": "token is not exist"}),
            Judgement(Verdict.FAIL, "errcode 300001: token is not exist"),
        ),
        (
            answer(json={"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
            Judgement(
                Verdict.RETRY, "errcode 130101: send too fast, exceed 20 times per minute", 60.0
            ),
        ),
        (
            answer(json={"errcode": -1, "errmsg": "系统繁忙"}),
            Judgement(Verdict.RETRY, "errcode -1: 系统繁忙"),
        ),
    ],
)
def test_judge_errcode(response: httpx.Response, expected: Judgement) -> None:
    assert dingtalk().judge(response) == expected


@pytest.mark.parametrize(
    ("response", "verdict", "retry_after"),
    [
        (answer(json={"status": 1111, "wait": 5, "message": "busy"}), Verdict.RETRY, 5.0),
        (answer(text="<html>gateway</html>"), Verdict.RETRY, None),
        (answer(json=["odd"]), Verdict.RETRY, None),
        (answer(json={"message": "no code"}), Verdict.RETRY, None),
        (answer(502, text="Bad Gateway"), Verdict.RETRY, None),
        (answer(429, headers={"Retry-After": "7"}), Verdict.RETRY, 7.0),
        (answer(404, text="not found"), Verdict.FAIL, None),
    ],
)
def test_judge_http(response: httpx.Response, verdict: Verdict, retry_after: float | None) -> None:
    judgement = dingtalk().judge(response)
    assert judgement.verdict is verdict
    assert judgement.retry_after == retry_after
    assert judgement.reason


# -- the acceptance checks every platform passes -------------------------------------------


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_hostile_error_mentions_nobody(kind: str) -> None:
    channel = DingTalkChannel(URL, ChannelOptions(secret="SECabc", keyword="alert"))
    body = conformance.payload(conformance.render(channel, kind, message=samples.HOSTILE))
    assert body["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}

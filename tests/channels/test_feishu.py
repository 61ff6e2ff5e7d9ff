"""Feishu and Lark custom bots: URL in -> exact request out (the signature recomputed here
independently); the platform's answer in -> verdict out; hostile and huge errors through
the default template."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from freezegun import freeze_time

from erralert._core.errors import ConfigError
from erralert._core.notice import Kind
from erralert._render.renderer import Renderer
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.feishu import BODY_LIMIT, FeishuChannel, LarkChannel
from erralert.channels.payloads import USER_AGENT
from tests import samples
from tests.channels import conformance

HOOK = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
FEISHU_URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK}"
LARK_URL = f"https://open.larksuite.com/open-apis/bot/v2/hook/{HOOK}"
SECRET = "qL0gzX8S3dY1vB7nWm2kTc"
NOW = 1_718_000_000.789
NOTE = "2024-06-10 06:13:20 UTC · event 5f0c2a9e0b7d"

PLATFORMS = [(FeishuChannel, FEISHU_URL), (LarkChannel, LARK_URL)]
BOTH = pytest.mark.parametrize(("cls", "url"), PLATFORMS, ids=["feishu", "lark"])


def feishu(**options: Any) -> FeishuChannel:
    return FeishuChannel(FEISHU_URL, ChannelOptions(**options))


def message(body: str = "**KeyError**: 订单 1 不存在", **fields: Any) -> Message:
    known = {"event_id": "5f0c2a9e0b7d4c1e9a3b6d8f1e2c4a7b", "created_at": 1_718_000_000.0}
    return conformance.message(body, **{**known, **fields})


def sent(channel: FeishuChannel, msg: Message, now: float | None = NOW) -> Any:
    return conformance.sent(channel, msg, now, url=channel.url)


def texts(payload: Any) -> list[str]:
    """The contents of a card's rich text (markdown) elements: the strings Feishu parses
    as markup."""
    return [e["content"] for e in payload["card"]["elements"] if e["tag"] == "markdown"]


def expected_sign(timestamp: str, secret: str = SECRET) -> str:
    """Feishu's algorithm, written out again from its documentation: the string
    "timestamp\\nsecret" is the HMAC-SHA256 *key*, the message is empty, base64."""
    string_to_sign = f"{timestamp}\n{secret}"
    digest = hmac.new(string_to_sign.encode("utf-8"), digestmod=hashlib.sha256).digest()
    return base64.b64encode(digest).decode("utf-8")


def card(
    title: str,
    template: str,
    elements: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
            "elements": elements,
        },
    }


def div(text: str) -> dict[str, Any]:
    """The card's rich text element (it has code spans and blocks; lark_md has none)."""
    return {"tag": "markdown", "content": text}


FOOTER = [{"tag": "hr"}, {"tag": "note", "elements": [{"tag": "plain_text", "content": NOTE}]}]


# -- the classes ---------------------------------------------------------------------------


def test_max_length_leaves_room_in_the_body() -> None:
    for cls in (FeishuChannel, LarkChannel):
        assert cls.max_length < BODY_LIMIT == 20000


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "url", "problem"),
    [
        (FeishuChannel, FEISHU_URL, None),
        (FeishuChannel, FEISHU_URL + "/", None),
        (LarkChannel, LARK_URL, None),
        (
            FeishuChannel,
            "https://open.feishu.cn/open-apis/bot/v2/hook/",
            "a Feishu bot URL is https://open.feishu.cn/open-apis/bot/v2/hook/<hook id>",
        ),
        (
            LarkChannel,
            f"https://open.larksuite.com/open-apis/bot/v2/hook/{HOOK}/extra",
            "a Lark bot URL is https://open.larksuite.com/open-apis/bot/v2/hook/<hook id>",
        ),
    ],
)
def test_check_native(cls: type[FeishuChannel], url: str, problem: str | None) -> None:
    assert cls.check_native(urlsplit(url)) == problem


@BOTH
def test_short_form_expands_to_the_native_url(cls: type[FeishuChannel], url: str) -> None:
    channel = cls(cls.expand_short(HOOK, ""))
    assert channel.url == url
    assert str(channel.build_request(message(), NOW).url) == url


@pytest.mark.parametrize(("host", "path"), [("", ""), (HOOK, "/extra"), ("a b", "")])
@BOTH
def test_bad_short_forms(cls: type[FeishuChannel], url: str, host: str, path: str) -> None:
    with pytest.raises(ValueError, match=rf"{cls.platform}://\[secret@\]hook_id"):
        cls.expand_short(host, path)


@BOTH
def test_masked_url_and_repr_hide_the_hook_and_secret(cls: type[FeishuChannel], url: str) -> None:
    channel = cls(url, ChannelOptions(secret=SECRET))
    host = urlsplit(url).netloc
    assert channel.masked_url == f"https://{host}/open-apis/bot/v2/hook/***"
    for text in (repr(channel), channel.name, repr(channel.options)):
        assert HOOK not in text
        assert SECRET not in text


def test_a_hook_id_that_looks_like_a_word_is_masked_too() -> None:
    channel = FeishuChannel("https://proxy.example/open-apis/bot/v2/hook/alerts?x=1")
    assert channel.masked_url == "https://proxy.example/open-apis/bot/v2/hook/***?x=***"


# -- the request ---------------------------------------------------------------------------


@BOTH
def test_card_payload(cls: type[FeishuChannel], url: str) -> None:
    request = cls(url).build_request(message(), NOW)
    assert request.method == "POST"
    assert str(request.url) == url
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == USER_AGENT
    assert json.loads(request.content) == card(
        "KeyError: 'order 1'", "red", [div("**KeyError**: 订单 1 不存在"), *FOOTER]
    )
    assert "订单".encode() in request.content  # UTF-8 as is, not \\u escapes: the limit is bytes


@BOTH
def test_signed_body(cls: type[FeishuChannel], url: str) -> None:
    payload = sent(cls(url, ChannelOptions(secret=SECRET)), message())
    assert payload["timestamp"] == "1718000000"  # seconds, as a string: not milliseconds
    assert payload["sign"] == expected_sign("1718000000")
    unsigned = {k: v for k, v in payload.items() if k not in ("timestamp", "sign")}
    assert unsigned == card(
        "KeyError: 'order 1'", "red", [div("**KeyError**: 订单 1 不存在"), *FOOTER]
    )


def test_signature_matches_a_known_value() -> None:
    # computed with openssl (HMAC key "1599360473\nsecret", empty message); guards both
    # implementations against a shared mistake
    assert expected_sign("1599360473", "secret") == "q4jswNiMy51J5JuQV566yJat0/lQ/c+22kINzUgKsGU="
    assert sent(feishu(secret="secret"), message(), 1599360473.9)["sign"] == expected_sign(
        "1599360473", "secret"
    )


@freeze_time("2024-06-01 12:00:00")
def test_signed_body_uses_the_clock_by_default() -> None:
    payload = sent(feishu(secret=SECRET), message(), None)
    assert payload["timestamp"] == "1717243200"
    assert payload["sign"] == expected_sign("1717243200")


def test_unsigned_without_a_secret() -> None:
    payload = sent(feishu(), message())
    assert "timestamp" not in payload
    assert "sign" not in payload


def test_custom_payload_is_sent_as_is_and_still_signed() -> None:
    custom = {"msg_type": "text", "content": {"text": "自定义"}, "timestamp": "1", "sign": "old"}
    payload = sent(feishu(secret=SECRET, keyword="k", mention=("all",)), message(payload=custom))
    assert payload == {**custom, "timestamp": "1718000000", "sign": expected_sign("1718000000")}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("**报警**: KeyError", "**报警**: KeyError"),  # present: left alone
        ("KeyError", "KeyError\n\n报警"),  # missing: appended as the last line
    ],
)
def test_keyword_is_guaranteed(body: str, text: str) -> None:
    assert texts(sent(feishu(keyword="报警"), message(body, title="报警 KeyError"))) == [text]


def test_keyword_makes_a_text_for_an_empty_body() -> None:
    assert texts(sent(feishu(keyword="alert"), message(""))) == ["alert"]


@pytest.mark.parametrize(
    ("ids", "markup"),
    [
        (
            ("ou_7d8a6e6df7621556ce0d21922b676706ccs",),
            "<at id=ou_7d8a6e6df7621556ce0d21922b676706ccs></at>",
        ),
        (("all",), "<at id=all></at>"),
        (("@all",), "<at id=all></at>"),
        (("b6xxxxg8", "all"), "<at id=b6xxxxg8></at> <at id=all></at>"),
    ],
)
def test_mentions(ids: tuple[str, ...], markup: str) -> None:
    payload = sent(feishu(mention=ids), message("KeyError", mentions=ids))
    assert payload["card"]["elements"] == [div("KeyError"), div(markup), *FOOTER]


def test_no_mentions_unless_the_message_has_some() -> None:
    payload = sent(feishu(mention=("ou_abc", "all")), message("KeyError", mentions=()))
    assert payload["card"]["elements"] == [div("KeyError"), *FOOTER]


@BOTH
def test_the_message_mentions_not_the_channel(cls: type[FeishuChannel], url: str) -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message("KeyError", mentions=("ou_lead", "b6xxxxg8", "ou_lead", "@all", "ALL"))
    assert sent(cls(url, ChannelOptions(mention=("ou_abc",))), msg) == card(
        "KeyError: 'order 1'",
        "red",
        [
            div("KeyError"),
            div("<at id=ou_lead></at> <at id=b6xxxxg8></at> <at id=all></at>"),
            *FOOTER,
        ],
    )


def test_mentions_without_any_configured() -> None:
    payload = sent(feishu(), message("x", mentions=("ou_abc",)))
    assert texts(payload) == ["x", "<at id=ou_abc></at>"]


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    payload = sent(feishu(), message("x", mentions=("ops@example.com", "ou_abc")))
    assert texts(payload) == ["x", "<at id=ou_abc></at>"]


@pytest.mark.parametrize("good", ["ou_7d8a6e6df7621556ce0d21922b676706ccs", "b6xxxxg8", "all"])
@BOTH
def test_check_mention_accepts(cls: type[FeishuChannel], url: str, good: str) -> None:
    cls(url).check_mention(good)


def test_mentions_then_keyword() -> None:
    payload = sent(feishu(mention=("ou_abc",), keyword="alert"), message("x", mentions=("ou_abc",)))
    assert texts(payload) == ["x\n\nalert", "<at id=ou_abc></at>"]


@pytest.mark.parametrize(
    ("mention", "words"),
    [
        ("ops@example.com", "cannot mention by e-mail"),
        ("13800000000", "looks like a mobile number"),
        ("+8613800000000", "looks like a mobile number"),
        ("ou_x></at><at id=all", "is not an open_id"),
        ("zhang san", "is not an open_id"),
        ("_x", "is not an open_id"),
    ],
)
@BOTH
def test_mentions_a_custom_bot_cannot_make_fail_at_configuration(
    cls: type[FeishuChannel], url: str, mention: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        cls(url, ChannelOptions(mention=(mention,)))
    assert HOOK not in str(info.value)
    with pytest.raises(ConfigError, match=words) as info:
        cls(url).check_mention(mention)
    assert HOOK not in str(info.value)


@pytest.mark.parametrize(
    ("kind", "level", "template"),
    [
        ("alert", "error", "red"),
        ("alert", "ERROR", "red"),
        ("alert", "critical", "carmine"),
        ("alert", "fatal", "carmine"),
        ("alert", "warning", "orange"),
        ("alert", "info", "blue"),
        ("alert", "debug", "grey"),
        ("alert", "notice", "red"),
        ("digest", "info", "yellow"),
        ("storm", "warning", "purple"),
    ],
)
def test_header_colour_by_kind_and_level(kind: Kind, level: str, template: str) -> None:
    payload = sent(feishu(), message(kind=kind, level=level))
    assert payload["card"]["header"]["template"] == template


def test_no_note_without_time_or_event_id() -> None:
    msg = Message(kind="alert", title="t", body="b")
    assert sent(feishu(), msg)["card"]["elements"] == [div("b")]


def test_header_title_is_plain_text_byte_for_byte() -> None:
    # plain_text is documented as shown as it is: no <at>, no markdown, nothing to escape
    payload = sent(feishu(), message(title='x <at id=all></at> <a href="https://e">'))
    title = payload["card"]["header"]["title"]
    assert title == {"tag": "plain_text", "content": 'x <at id=all></at> <a href="https://e">'}


def test_body_that_fits_is_not_cut() -> None:
    body = "错" * (FeishuChannel.max_length // 3)
    assert texts(sent(feishu(), message(body))) == [body]


def test_oversized_body_is_cut_to_fit() -> None:
    lines = [f'line {i:04d} "错误信息" 错误信息错误信息' for i in range(1500)]  # ~60k bytes
    request = feishu(secret=SECRET, keyword="报警尾", mention=("ou_abc",)).build_request(
        message("\n".join(lines), mentions=("ou_abc",)), NOW
    )
    assert len(request.content) <= BODY_LIMIT
    text, mentions = texts(json.loads(request.content))
    assert text.startswith("line 0000 ")
    assert "truncated, " in text
    assert text.endswith(f"{lines[-1]}\n\n报警尾")  # the tail and the keyword are kept
    assert mentions == "<at id=ou_abc></at>"


# -- the default template ------------------------------------------------------------------


@BOTH
def test_lark_and_feishu_use_feishu_j2(cls: type[FeishuChannel], url: str) -> None:
    channel = cls(url)
    assert channel.template_names[-1] == "feishu"
    body = texts(conformance.payload(conformance.render(channel)))[0]
    assert body.startswith("🆕 New error, first seen in ")  # feishu.j2, not the built-in one


def test_a_template_option_still_wins_on_lark() -> None:
    names = LarkChannel(LARK_URL, ChannelOptions(template="mine")).template_names
    assert names == ("mine", "lark", "feishu")


def test_a_lark_template_in_template_dir_beats_feishu_j2(tmp_path: Path) -> None:
    (tmp_path / "lark.j2").write_text(
        '{% extends "_base.j2" %}{% block body %}lark only{% endblock %}'
    )
    notice = samples.notice("alert")
    assert Renderer(tmp_path).render(notice, LarkChannel(LARK_URL)).body == "lark only"
    assert Renderer(tmp_path).render(notice, FeishuChannel(FEISHU_URL)).body != "lark only"


KIND_COLOURS = {"alert": "red", "digest": "yellow", "storm": "purple"}


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
@BOTH
def test_default_template_fits(cls: type[FeishuChannel], url: str, kind: str) -> None:
    request = conformance.render(cls(url, ChannelOptions(secret=SECRET)), kind)
    payload = conformance.payload(request)
    assert len(request.content) <= BODY_LIMIT
    assert payload["timestamp"] == str(int(samples.NOW))
    assert payload["card"]["header"]["template"] == KIND_COLOURS[kind]


@BOTH
def test_hostile_error_mentions_nobody_and_has_a_plain_header(
    cls: type[FeishuChannel], url: str
) -> None:
    channel = cls(url, ChannelOptions(mention=("ou_abc",)))
    payload = conformance.payload(conformance.render(channel, message=samples.HOSTILE))
    markup = texts(payload)
    assert len(markup) == 1  # the body: this notice mentions nobody
    assert "<at" not in markup[0]
    # the header is plain_text, which Feishu shows as it is (no <at> is parsed there)
    title = payload["card"]["header"]["title"]
    assert title["tag"] == "plain_text"


@BOTH
def test_hostile_error_with_mentions_mentions_only_the_configured_member(
    cls: type[FeishuChannel], url: str
) -> None:
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE), mentions=True)
    channel = cls(url, ChannelOptions(mention=("ou_abc",)))
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    body, mentions = texts(payload)
    conformance.assert_inert([body], cls.platform)
    assert "<at" not in body
    assert mentions == "<at id=ou_abc></at>"


def test_body_of_json_escapes_is_cut_to_fit() -> None:
    # every '"' and '\\' doubles in JSON: a text under max_length can still overflow
    body = "\n".join(['"\\' * 1000] * 6)
    request = feishu(secret=SECRET).build_request(message(body), NOW)
    assert len(request.content) <= BODY_LIMIT
    (text,) = texts(json.loads(request.content))
    assert "truncated, " in text
    assert text.endswith('"\\' * 1000)


# -- the platform's answers ----------------------------------------------------------------


def answer(status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(json={"code": 0, "msg": "success", "data": {}}), Judgement(Verdict.OK)),
        (
            answer(json={"StatusCode": 0, "StatusMessage": "success", "Extra": None}),
            Judgement(Verdict.OK),
        ),
        (
            answer(json={"code": 0, "msg": "success", "StatusCode": 0, "StatusMessage": "x"}),
            Judgement(Verdict.OK),
        ),
        (answer(json={"code": "0", "msg": "success"}), Judgement(Verdict.OK)),
        (
            answer(json={"code": 11232, "msg": "frequency limited", "data": {}}),
            Judgement(Verdict.RETRY, "code 11232: frequency limited", 5.0),
        ),
        (
            answer(
                json={"code": 11232, "msg": "frequency limited"},
                headers={"x-ogw-ratelimit-reset": "12"},
            ),
            Judgement(Verdict.RETRY, "code 11232: frequency limited", 12.0),
        ),
        (
            answer(
                400,
                json={"code": 99991400, "msg": "request trigger frequency limit"},
                headers={"x-ogw-ratelimit-reset": "52"},
            ),
            Judgement(Verdict.RETRY, "code 99991400: request trigger frequency limit", 52.0),
        ),
        (
            answer(json={"code": 2200, "msg": "Internal Error"}),
            Judgement(Verdict.RETRY, "code 2200: Internal Error"),
        ),
        (
            answer(json={"code": 9499, "msg": "Bad Request", "data": {}}),
            Judgement(Verdict.FAIL, "code 9499: Bad Request"),
        ),
        (
            answer(400, json={"code": 9499, "msg": "Bad Request", "data": {}}),
            Judgement(Verdict.FAIL, "code 9499: Bad Request"),
        ),
        (
            answer(json={"code": 19021, "msg": "sign match fail or timestamp is not within"}),
            Judgement(Verdict.FAIL, "code 19021: sign match fail or timestamp is not within"),
        ),
        (
            answer(json={"code": 19022, "msg": "Ip Not Allowed"}),
            Judgement(Verdict.FAIL, "code 19022: Ip Not Allowed"),
        ),
        (
            answer(json={"code": 19024, "msg": "Key Words Not Found"}),
            Judgement(Verdict.FAIL, "code 19024: Key Words Not Found"),
        ),
        (
            answer(json={"StatusCode": 19024, "StatusMessage": "Key Words Not Found"}),
            Judgement(Verdict.FAIL, "code 19024: Key Words Not Found"),
        ),
    ],
)
@BOTH
def test_judge_code(
    cls: type[FeishuChannel], url: str, response: httpx.Response, expected: Judgement
) -> None:
    assert cls(url).judge(response) == expected


@pytest.mark.parametrize(
    ("response", "verdict", "retry_after"),
    [
        (answer(text="<html>gateway</html>"), Verdict.RETRY, None),
        (answer(json=["odd"]), Verdict.RETRY, None),
        (answer(json={"msg": "no code"}), Verdict.RETRY, None),
        (answer(502, text="Bad Gateway"), Verdict.RETRY, None),
        (answer(500, json={"code": 9499, "msg": "Bad Request"}), Verdict.RETRY, None),
        (answer(429, headers={"Retry-After": "7"}), Verdict.RETRY, 7.0),
        (answer(429, headers={"x-ogw-ratelimit-reset": "30"}), Verdict.RETRY, 30.0),
        (answer(429, headers={"x-ogw-ratelimit-reset": "inf"}), Verdict.RETRY, None),
        (answer(404, text="404 page not found"), Verdict.FAIL, None),
        (answer(404, json={"code": 0}), Verdict.FAIL, None),
        (answer(400, json={"msg": "no code"}), Verdict.FAIL, None),
    ],
)
def test_judge_http(response: httpx.Response, verdict: Verdict, retry_after: float | None) -> None:
    judgement = feishu().judge(response)
    assert judgement.verdict is verdict
    assert judgement.retry_after == retry_after
    assert judgement.reason

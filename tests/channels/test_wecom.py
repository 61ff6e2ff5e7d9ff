"""WeCom group robots: URL in -> exact request out; WeCom's answer in -> verdict out; hostile
and huge errors through the default template."""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._render.renderer import Renderer
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.payloads import USER_AGENT
from erralert.channels.wecom import CONTENT_LIMIT, WeComChannel
from tests import samples
from tests.channels import conformance

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
NOW = 1_718_000_000.0


def wecom(*mention: str) -> WeComChannel:
    return WeComChannel(URL, ChannelOptions(mention=mention))


def message(body: str = "### KeyError\n订单 1 不存在", **fields: Any) -> Message:
    return conformance.message(body, **fields)


def sent(channel: WeComChannel, msg: Message) -> Any:
    return conformance.sent(channel, msg, NOW, url=URL)


def content(channel: WeComChannel, msg: Message) -> str:
    payload = sent(channel, msg)
    assert set(payload) == {"msgtype", "markdown"}  # never a mentioned_list of any kind
    text: str = payload["markdown"]["content"]
    return text


def test_max_length_leaves_room_for_the_mentions() -> None:
    assert WeComChannel.max_length < CONTENT_LIMIT == 4096


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (URL, None),
        (f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send/?debug=1&key={KEY}", None),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "the WeCom URL has no key"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=", "the WeCom URL has no key"),
        (
            f"https://qyapi.weixin.qq.com/cgi-bin/webhook/sendx?key={KEY}",
            "a WeCom robot URL is https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
        ),
    ],
)
def test_check_native(url: str, problem: str | None) -> None:
    assert WeComChannel.check_native(urlsplit(url)) == problem


def test_short_form_expands_to_the_native_url() -> None:
    channel = WeComChannel(WeComChannel.expand_short(KEY, ""))
    assert channel.url == URL
    assert str(channel.build_request(message(), NOW).url) == URL


@pytest.mark.parametrize(("host", "path"), [("", ""), (KEY, "/extra"), ("a b", ""), ("k<y", "")])
def test_bad_short_forms(host: str, path: str) -> None:
    with pytest.raises(ValueError, match=r"wecom://key"):
        WeComChannel.expand_short(host, path)


@pytest.mark.parametrize(
    "options",
    [ChannelOptions(secret="s3cret"), ChannelOptions(keyword="alert")],
    ids=["secret", "keyword"],
)
def test_options_wecom_cannot_honour_are_refused(options: ChannelOptions) -> None:
    with pytest.raises(ConfigError, match="not supported by wecom"):
        WeComChannel(URL, options)


def test_masked_url_and_repr_hide_the_key() -> None:
    channel = wecom("zhangsan")
    assert channel.masked_url == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"
    for text in (repr(channel), channel.name):
        assert KEY not in text


# -- the request ---------------------------------------------------------------------------


def test_markdown_payload() -> None:
    request = wecom().build_request(message(), NOW)
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == USER_AGENT
    assert json.loads(request.content) == {
        "msgtype": "markdown",
        "markdown": {"content": "### KeyError\n订单 1 不存在"},
    }
    assert "订单".encode() in request.content  # UTF-8 as is: WeCom counts bytes


@pytest.mark.parametrize(
    ("ids", "tail"),
    [
        (("zhangsan",), "<@zhangsan>"),
        (("zhangsan", "li.si", "wang-wu@corp"), "<@zhangsan> <@li.si> <@wang-wu@corp>"),
        (("10086",), "<@10086>"),  # a userid may be all digits: only mobile-shaped ones are not
    ],
)
def test_mentions(ids: tuple[str, ...], tail: str) -> None:
    assert content(wecom(*ids), message("### KeyError", mentions=ids)) == f"### KeyError\n\n{tail}"


def test_no_mentions_unless_the_message_has_some() -> None:
    assert content(wecom("zhangsan"), message("### KeyError", mentions=())) == "### KeyError"


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message("### KeyError", mentions=("lisi", "wang.wu", "lisi"))
    assert sent(wecom("zhangsan"), msg) == {
        "msgtype": "markdown",
        "markdown": {"content": "### KeyError\n\n<@lisi> <@wang.wu>"},
    }


def test_mentions_without_any_configured() -> None:
    assert content(wecom(), message("x", mentions=("lisi",))) == "x\n\n<@lisi>"


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    assert content(wecom(), message("x", mentions=("all", "lisi"))) == "x\n\n<@lisi>"


@pytest.mark.parametrize("good", ["zhangsan", "li.si", "wang-wu@corp", "10086"])
def test_check_mention_accepts(good: str) -> None:
    wecom().check_mention(good)


@pytest.mark.parametrize(
    ("mention", "words"),
    [
        ("all", "cannot mention everyone"),
        ("@all", "cannot mention everyone"),
        ("ALL", "cannot mention everyone"),
        ("13800000000", "looks like a mobile number"),
        ("+8613800000000", "looks like a mobile number"),
        ("zhang san", "is not a userid"),
        ("<@x>", "is not a userid"),
        ("_lead", "is not a userid"),
        ("u" * 65, "is not a userid"),
    ],
)
def test_mentions_wecom_markdown_cannot_make_fail_at_configuration(
    mention: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        wecom("zhangsan", mention)
    assert KEY not in str(info.value)
    with pytest.raises(ConfigError, match=words) as info:
        wecom().check_mention(mention)
    assert KEY not in str(info.value)


def test_custom_payload_is_sent_as_is() -> None:
    custom = {"msgtype": "text", "text": {"content": "自定义", "mentioned_list": ["@all"]}}
    assert sent(wecom("zhangsan"), message(payload=custom, mentions=("zhangsan",))) == custom


def test_body_that_fits_is_not_cut() -> None:
    body = "错" * (WeComChannel.max_length // 3)
    assert content(wecom(), message(body)) == body


def test_oversized_body_is_cut_to_fit_with_the_mentions_kept() -> None:
    lines = [f"line {i:03d} 错误信息错误信息" for i in range(300)]  # ~10k bytes
    text = content(
        wecom("zhangsan", "lisi"), message("\n".join(lines), mentions=("zhangsan", "lisi"))
    )
    assert len(text.encode()) <= CONTENT_LIMIT
    assert text.startswith("line 000 ")
    assert "truncated, " in text
    assert text.endswith(f"{lines[-1]}\n\n<@zhangsan> <@lisi>")  # the tail and the mentions


def test_empty_body_sends_the_escaped_title() -> None:
    text = content(wecom(), message("  ", title="KeyError: <@all> *x*"))
    assert text == "KeyError: &lt;@all> &#42;x&#42;"


# -- the default template ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "level", "colour"),
    [
        ("alert", "error", "warning"),
        ("alert", "critical", "warning"),
        ("alert", "warning", "warning"),
        ("alert", "info", "info"),
        ("alert", "debug", "comment"),
        ("digest", "error", "comment"),
        ("storm", "error", "warning"),
    ],
)
def test_heading_colour_by_kind_and_level(kind: str, level: str, colour: str) -> None:
    event = dataclasses.replace(samples.event(), level=level)
    text = conformance.payload(conformance.render(wecom(), kind, event))["markdown"]["content"]
    assert text.startswith(f'### <font color="{colour}">')


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_default_template_fits_and_names_the_error(kind: str) -> None:
    text = conformance.payload(conformance.render(wecom(), kind))["markdown"]["content"]
    assert len(text.encode()) <= WeComChannel.max_length
    assert "PaymentError" in text or "LookupError" in text


def test_hostile_error_mentions_nobody_and_keeps_only_our_colours() -> None:
    channel = wecom("ops01")
    request = conformance.render(channel, message=samples.HOSTILE)
    payload = conformance.payload(request)
    assert set(payload) == {"msgtype", "markdown"}  # no mentioned_list, no mentioned_mobile_list
    text = payload["markdown"]["content"]
    assert "<@" not in text  # not even the configured one: this notice mentions nobody
    assert "<at" not in text
    assert "<font" not in text.replace('<font color="warning">', "").replace(
        '<font color="comment">', ""
    )  # only the template's own colour tags


def test_hostile_error_with_mentions_mentions_only_the_configured_member() -> None:
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE), mentions=True)
    channel = wecom("ops01")
    text = conformance.payload(channel.build_request(Renderer().render(notice, channel)))[
        "markdown"
    ]["content"]
    assert text.endswith("\n\n<@ops01>")
    assert text.count("<@") == 1
    conformance.assert_inert([text.removesuffix("\n\n<@ops01>")], "wecom")


def test_huge_error_content_fits_in_the_bytes_wecom_counts() -> None:
    request = conformance.huge_request(wecom())
    text = conformance.payload(request)["markdown"]["content"]
    assert len(text.encode()) <= CONTENT_LIMIT  # the limit WeCom counts: the content's bytes


# -- WeCom's answers -----------------------------------------------------------------------


def answer(status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(json={"errcode": 0, "errmsg": "ok"}), Judgement(Verdict.OK)),
        (answer(json={"errcode": "0", "errmsg": "ok"}), Judgement(Verdict.OK)),
        (
            answer(json={"errcode": 45009, "errmsg": "api freq out of limit"}),
            Judgement(Verdict.RETRY, "errcode 45009: api freq out of limit", 60.0),
        ),
        (
            answer(json={"errcode": -1, "errmsg": "system busy"}),
            Judgement(Verdict.RETRY, "errcode -1: system busy"),
        ),
        (
            answer(json={"errcode": 93000, "errmsg": "invalid webhook url, hint: [1]"}),
            Judgement(Verdict.FAIL, "errcode 93000: invalid webhook url, hint: [1]"),
        ),
        (
            answer(json={"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}),
            Judgement(Verdict.FAIL, "errcode 40058: markdown.content exceed max length 4096"),
        ),
        (
            answer(json={"errcode": 44004, "errmsg": "empty content"}),
            Judgement(Verdict.FAIL, "errcode 44004: empty content"),
        ),
    ],
)
def test_judge_errcode(response: httpx.Response, expected: Judgement) -> None:
    assert wecom().judge(response) == expected


@pytest.mark.parametrize(
    ("response", "verdict", "retry_after"),
    [
        (answer(text="<html>gateway</html>"), Verdict.RETRY, None),
        (answer(json=["odd"]), Verdict.RETRY, None),
        (answer(json={"errmsg": "no code"}), Verdict.RETRY, None),
        (answer(json={"errcode": True}), Verdict.RETRY, None),
        (answer(502, text="Bad Gateway"), Verdict.RETRY, None),
        (answer(503, headers={"Retry-After": "3"}), Verdict.RETRY, 3.0),
        (answer(429, headers={"Retry-After": "7"}), Verdict.RETRY, 7.0),
        (answer(404, text="not found"), Verdict.FAIL, None),
    ],
)
def test_judge_http(response: httpx.Response, verdict: Verdict, retry_after: float | None) -> None:
    judgement = wecom().judge(response)
    assert judgement.verdict is verdict
    assert judgement.retry_after == retry_after
    assert judgement.reason

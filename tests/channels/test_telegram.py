"""Telegram: URL in -> exact request out; Telegram's answer in -> verdict out; the HTML
sent always parses (only Telegram's tags, all balanced), hostile and huge errors included."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._render.renderer import Renderer
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.payloads import USER_AGENT
from erralert.channels.registry import NATIVE_URLS, PLATFORMS, parse_webhook
from erralert.channels.telegram import (
    SAFE_LIMIT,
    TEXT_LIMIT,
    TelegramChannel,
    repair_html,
    visible_length,
)
from tests import samples
from tests.channels import conformance

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # the part of the token that must never show
API = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
CHAT = "-1001234567890"
# the tags of Telegram's HTML style that erralert's own templates may use
ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg-spoiler"}


def telegram(*mention: str, url: str = f"{API}?chat_id={CHAT}") -> TelegramChannel:
    return TelegramChannel(url, ChannelOptions(mention=mention))


def message(body: str = "<b>Culprit:</b> <code>orders.view</code>", **fields: Any) -> Message:
    return conformance.message(body, **fields)


def sent(channel: TelegramChannel, msg: Message) -> Any:
    return conformance.sent(channel, msg, 1_700_000_000.0)


def visible(text: str) -> str:
    """What a reader sees: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^<>]*>", "", text))


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}> is not a Telegram tag")
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"<{tag}/>: Telegram has no self-closing tags")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def assert_telegram_html(text: str) -> None:
    """``text`` parses as HTML with only Telegram's tags, every one closed, in order, and
    no ``<``, ``>`` or ``&`` outside a tag or an entity."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.problems, (checker.problems, text)
    assert not checker.open, (f"left open: {checker.open}", text)
    between = re.sub(r"<(/?)[a-z-]+(\s[^<>]*)?>", "", text)
    assert "<" not in between, text
    assert ">" not in between, text
    assert not re.search(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", between), text


# -- the class and its URLs ------------------------------------------------------------------


def test_max_length_leaves_a_margin_under_the_text_limit() -> None:
    assert TelegramChannel.max_length <= SAFE_LIMIT < TEXT_LIMIT == 4096


@pytest.mark.parametrize(
    ("make", "url", "target"),
    [
        # the short form: chat_id travels in the body, the URL carries only the token
        (
            lambda: TelegramChannel(TelegramChannel.expand_short(TOKEN, f"/{CHAT}")),
            API,
            {"chat_id": -1001234567890},
        ),
        (
            lambda: TelegramChannel(TelegramChannel.expand_short(f"bot{TOKEN}", "/@ops_alerts")),
            API,
            {"chat_id": "@ops_alerts"},
        ),
        (
            lambda: TelegramChannel(TelegramChannel.expand_short(TOKEN, "/%40ops_alerts/")),
            API,
            {"chat_id": "@ops_alerts"},
        ),
        # the native URL, pasted; a forum topic rides along into the body
        (lambda: telegram(), API, {"chat_id": -1001234567890}),
        (
            lambda: telegram(url=f"{API}?chat_id={CHAT}&message_thread_id=42"),
            API,
            {"chat_id": -1001234567890, "message_thread_id": 42},
        ),
        (
            lambda: telegram(url=f"{API}?message_thread_id=42&chat_id=12345"),
            API,
            {"chat_id": 12345, "message_thread_id": 42},
        ),
        # the Bot API's other parameters stay in the URL, byte for byte
        (
            lambda: telegram(url=f"{API}?chat_id=12345&disable_notification=true"),
            f"{API}?disable_notification=true",
            {"chat_id": 12345},
        ),
        # a local Bot API server or a proxy (telegram+http://…)
        (
            lambda: telegram(url=f"http://127.0.0.1:8081/bot{TOKEN}/sendMessage?chat_id=7"),
            f"http://127.0.0.1:8081/bot{TOKEN}/sendMessage",
            {"chat_id": 7},
        ),
    ],
)
def test_url_in_request_out(make: Any, url: str, target: dict[str, Any]) -> None:
    channel = make()
    request = channel.build_request(message(), 1_700_000_000.0)
    assert request.method == "POST"
    assert str(request.url) == url
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == USER_AGENT
    assert json.loads(request.content) == {
        **target,
        "text": "<b>KeyError: 'order 1'</b>\n<b>Culprit:</b> <code>orders.view</code>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"{API}?chat_id={CHAT}", None),
        (f"{API}?chat_id={CHAT}&message_thread_id=3", None),
        (f"https://api.telegram.org/bot{TOKEN}/sendMessage/?chat_id=1", None),
        (f"{API}", "no chat_id"),
        (f"{API}?chat_id=", "no chat_id"),
        (f"{API}?message_thread_id=3", "no chat_id"),
        (f"https://api.telegram.org/bot{TOKEN}/getUpdates?chat_id=1", "bot<token>/sendMessage"),
        ("https://api.telegram.org/botnotatoken/sendMessage?chat_id=1", "bot<token>/sendMessage"),
        (f"https://api.telegram.org/bot{TOKEN}?chat_id=1", "bot<token>/sendMessage"),
    ],
)
def test_check_native(url: str, problem: str | None) -> None:
    found = TelegramChannel.check_native(urlsplit(url))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert SECRET not in found


@pytest.mark.parametrize(
    ("host", "path", "error"),
    [
        ("notatoken", f"/{CHAT}", "digits, a colon"),
        ("", f"/{CHAT}", "digits, a colon"),
        (TOKEN, "", "names one chat"),
        (TOKEN, f"/{CHAT}/12345", "message_thread_id"),
    ],
)
def test_bad_short_forms(host: str, path: str, error: str) -> None:
    with pytest.raises(ValueError, match=error) as caught:
        TelegramChannel.expand_short(host, path)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (API, "no chat_id"),
        (f"{API}?chat_id=general", "neither a numeric chat id"),
        (f"{API}?chat_id=1.5", "neither a numeric chat id"),
        (f"{API}?chat_id=1&message_thread_id=topic", "message_thread_id 'topic'"),
    ],
)
def test_bad_chat_is_a_config_error(url: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as caught:
        TelegramChannel(url)
    assert SECRET not in str(caught.value)


def test_masked_url_hides_the_token() -> None:
    channel = telegram()
    assert channel.masked_url == "https://api.telegram.org/bot***/sendMessage?chat_id=***"
    for text in (repr(channel), channel.name, channel.masked_url):
        assert SECRET not in text
        assert "123456789" not in text


def test_through_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # how the lead's registry will reach the class: short form and pasted native URL
    monkeypatch.setitem(PLATFORMS, "telegram", TelegramChannel)
    monkeypatch.setitem(NATIVE_URLS, ("api.telegram.org", "/bot"), "telegram")
    short = parse_webhook(f"telegram://{TOKEN}/{CHAT}?message_thread_id=5&mention=alice,42")
    assert isinstance(short, TelegramChannel)
    assert (short.chat_id, short.message_thread_id, short.endpoint) == (-1001234567890, 5, API)
    assert short.options.mention == ("alice", "42")
    native = parse_webhook(f"{API}?chat_id={CHAT}&name=ops")
    assert isinstance(native, TelegramChannel)
    assert (native.chat_id, native.endpoint, native.name) == (-1001234567890, API, "ops")
    with pytest.raises(ConfigError, match="no chat_id") as caught:
        parse_webhook(API)
    assert SECRET not in str(caught.value)
    for url in ("telegram://SeCrEt/-100", f"telegram://123:SeCrEt/{CHAT}/9"):
        with pytest.raises(ConfigError, match="Telegram short form") as caught:
            parse_webhook(url)
        assert "SeCrEt" not in str(caught.value)


# -- the message -----------------------------------------------------------------------------


def test_title_is_escaped_bold() -> None:
    text = sent(telegram(), message(title="ValueError: <b>x</b> & @all"))["text"]
    # Telegram finds "@all" in text by itself: shown as code, where it finds nothing
    assert text.startswith("<b>ValueError: &lt;b&gt;x&lt;/b&gt; &amp; <code>@all</code></b>\n")


def test_long_title_is_cut() -> None:
    text = sent(telegram(), message(title="y" * 400))["text"]
    assert text.startswith("<b>" + "y" * 249 + "…</b>\n")


def test_empty_body_sends_the_title_alone() -> None:
    assert sent(telegram(), message(body=" \n"))["text"] == "<b>KeyError: 'order 1'</b>"


@pytest.mark.parametrize(
    ("ids", "markup"),
    [
        (("alice_ops",), "@alice_ops"),
        (("@alice_ops",), "@alice_ops"),
        (("123456789",), '<a href="tg://user?id=123456789">user</a>'),
        (("alice_ops", "42"), '@alice_ops <a href="tg://user?id=42">user</a>'),
    ],
)
def test_mentions_on_alerts_of_new_errors(ids: tuple[str, ...], markup: str) -> None:
    text = sent(telegram(*ids), message(mentions=ids))["text"]
    assert text == f"<b>KeyError: 'order 1'</b>\n{markup}\n<b>Culprit:</b> <code>orders.view</code>"
    assert_telegram_html(text)


def test_no_mentions_unless_the_message_has_some() -> None:
    text = sent(telegram("alice_ops", "42"), message(mentions=()))["text"]
    assert "@" not in text
    assert "tg://" not in text


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message(body="x", mentions=("bob_on_call", "777", "@bob_on_call", "777"))
    mentions = '@bob_on_call <a href="tg://user?id=777">user</a>'
    assert sent(telegram("alice_ops", "42"), msg) == {
        "chat_id": -1001234567890,
        "text": f"<b>KeyError: 'order 1'</b>\n{mentions}\nx",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


def test_mentions_without_any_configured() -> None:
    text = sent(telegram(), message(body="x", mentions=("alice_ops",)))["text"]
    assert text == "<b>KeyError: 'order 1'</b>\n@alice_ops\nx"


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    text = sent(telegram(), message(body="x", mentions=("all", "alice_ops")))["text"]
    assert text == "<b>KeyError: 'order 1'</b>\n@alice_ops\nx"


@pytest.mark.parametrize("good", ["alice_ops", "@alice_ops", "123456789"])
def test_check_mention_accepts(good: str) -> None:
    telegram().check_mention(good)


@pytest.mark.parametrize("bad", ["all", "here", "channel", "everyone", "bob smith", "abc", "@"])
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match="Telegram") as caught:
        telegram().check_mention(bad)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("bad", ["all", "here", "channel", "everyone", "bob smith", "abc", "@"])
def test_bad_mention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="Telegram") as caught:
        telegram(bad)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        ({"text": "custom"}, {"chat_id": -1001234567890, "text": "custom"}),
        # the template may name its own chat
        ({"chat_id": "@other", "text": "x"}, {"chat_id": "@other", "text": "x"}),
    ],
)
def test_custom_payload_is_sent_with_the_chat(
    payload: dict[str, Any], body: dict[str, Any]
) -> None:
    assert sent(telegram("alice_ops"), message(payload=payload, mentions=("alice_ops",))) == body


# -- HTML Telegram can parse -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "repaired"),
    [
        ("<b>x</b> <i>y</i>", "<b>x</b> <i>y</i>"),
        (
            "a &lt; b &amp;&amp; &#169; &#x1F600; &quot;",
            "a &lt; b &amp;&amp; &#169; &#x1F600; &quot;",
        ),
        # stray characters and unknown tags become text
        ("a & b < c > d", "a &amp; b &lt; c &gt; d"),
        ("<p>x</p><br/>", "&lt;p&gt;x&lt;/p&gt;&lt;br/&gt;"),
        ("&nbsp;", "&amp;nbsp;"),
        # a tag or an entity cut in half by truncation is dropped, the "…" kept
        ("<b>x</b> <blockq…", "<b>x</b> …"),
        ('<a href="https:/…', "…"),
        ("x &am…", "x …"),
        ("x &#12…\nnext", "x …\nnext"),
        # unclosed, misnested and stray closing tags
        ("<blockquote><b>T</b>: xxx…", "<blockquote><b>T</b>: xxx…</blockquote>"),
        ("<b>x <i>y</b> z</i>", "<b>x <i>y</i></b> z"),
        ("<b>bold</b></b>", "<b>bold</b>"),
        ("</b>x", "x"),  # nothing before it to reopen around
        # what Telegram does not nest
        ("<code><b>x</b></code>", "<code>x</code>"),
        ("<pre><i>x</i></pre>", "<pre>x</pre>"),
        (
            '<pre><code class="language-python">x</code></pre>',
            '<pre><code class="language-python">x</code></pre>',
        ),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "<blockquote>x</blockquote>"),
        # truncation dropped lines from inside a block: closed before the marker line,
        # reopened after it
        (
            "<pre>a\nb\n… truncated, 3 more lines …\nc\nd</pre>\nend",
            "<pre>a\nb</pre>\n… truncated, 3 more lines …\n<pre>c\nd</pre>\nend",
        ),
        (
            "<pre><code>a\n… truncated, 1 more line …\nb</code></pre>",
            "<pre><code>a</code></pre>\n… truncated, 1 more line …\n<pre><code>b</code></pre>",
        ),
        (
            "<blockquote><b>E</b>: xx…\n… truncated, 5 more lines …\nf()</pre>\n🆕",
            "<blockquote><b>E</b>: xx…</blockquote>\n… truncated, 5 more lines …\n"
            "<pre>f()</pre>\n🆕",
        ),
        # a link cannot be reopened without its address: its closing tag goes
        (
            '<a href="tg://user?id=1">a\n… truncated, 1 more line …\nb</a>',
            '<a href="tg://user?id=1">a</a>\n… truncated, 1 more line …\nb',
        ),
        # after other markup, a stray closing tag is dropped rather than reopened
        ("<i>y</i> z</b>", "<i>y</i> z"),
    ],
)
def test_repair_html(markup: str, repaired: str) -> None:
    assert repair_html(markup) == repaired
    assert_telegram_html(repaired)


@pytest.mark.parametrize(
    ("markup", "length"),
    [
        ("<b>abc</b>", 3),
        ("&lt;&amp;&gt;&quot;", 4),
        ('<a href="tg://user?id=1">user</a>', 4),
        ("😀", 2),  # outside the BMP: two UTF-16 code units, as Telegram counts
        ("é€", 2),
    ],
)
def test_visible_length(markup: str, length: int) -> None:
    assert visible_length(markup) == length


def test_body_over_the_limit_is_cut_and_repaired() -> None:
    # a body no renderer cut: one long <pre> block
    frames = "\n".join(f"  frame {i:03d} &lt;locals&gt; " + "z" * 40 for i in range(400))
    body = f"<b>Culprit:</b> <code>x</code>\n<pre>{frames}</pre>\nlast line"
    text = sent(telegram(), message(body=body))["text"]
    assert visible_length(text) <= SAFE_LIMIT
    assert_telegram_html(text)
    assert "truncated, " in text
    assert text.endswith("frame 399 &lt;locals&gt; " + "z" * 40 + "</pre>\nlast line")


def test_characters_outside_the_bmp_count_twice() -> None:
    body = "\n".join("😀" * 60 for _ in range(60))  # 3600 characters, 7200 UTF-16 units
    text = sent(telegram(), message(body=body))["text"]
    assert SAFE_LIMIT - 200 < visible_length(text) <= SAFE_LIMIT
    assert "truncated, " in text


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_default_template_is_telegram_html(kind: str) -> None:
    text = conformance.payload(conformance.render(telegram(), kind))["text"]
    assert_telegram_html(text)
    assert visible_length(text) <= SAFE_LIMIT


# -- acceptance: hostile and huge errors -----------------------------------------------------


def test_hostile_error_parses_and_shows_its_tags_as_text() -> None:
    text = conformance.payload(conformance.render(telegram(), message=samples.HOSTILE))["text"]
    assert_telegram_html(text)
    # the hostile <b> shows as text, it does not make anything bold
    assert "&lt;b&gt;bold&lt;/b&gt;" in text


def test_hostile_error_with_mentions_mentions_only_the_configured_users() -> None:
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE), mentions=True)
    channel = telegram("alice_ops", "42")
    text = conformance.payload(channel.build_request(Renderer().render(notice, channel)))["text"]
    title, mentions, rest = text.split("\n", 2)
    assert mentions == '@alice_ops <a href="tg://user?id=42">user</a>'
    conformance.assert_inert([title, rest], "telegram")
    assert "tg://" not in title + rest
    assert_telegram_html(text)


def test_huge_error_fits() -> None:
    request = conformance.huge_request(telegram())
    text = conformance.payload(request)["text"]
    assert_telegram_html(text)
    assert visible_length(text) <= TEXT_LIMIT
    # Telegram limits the text a reader sees, not the request: measure that
    shown = visible(text)
    as_counted = httpx.Request("POST", API, content=shown.encode())
    conformance.assert_huge_error_fits(as_counted, TEXT_LIMIT, "chars", [shown])


# -- Telegram's answers ----------------------------------------------------------------------


def answer(status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


def failure(code: int, description: str, **parameters: Any) -> httpx.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return httpx.Response(code, json=body)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(json={"ok": True, "result": {"message_id": 7}}), Judgement(Verdict.OK)),
        (
            failure(429, "Too Many Requests: retry after 17", retry_after=17),
            Judgement(Verdict.RETRY, "Telegram: Too Many Requests: retry after 17", 17.0),
        ),
        (
            answer(
                429,
                json={"ok": False, "error_code": 429, "description": "Too Many Requests"},
                headers={"Retry-After": "5"},
            ),
            Judgement(Verdict.RETRY, "Telegram: Too Many Requests", 5.0),
        ),
        (
            failure(500, "Internal Server Error"),
            Judgement(Verdict.RETRY, "Telegram: Internal Server Error"),
        ),
        (answer(502, text="Bad Gateway"), Judgement(Verdict.RETRY, "HTTP 502: Bad Gateway")),
        (
            answer(200, text="<html>portal</html>"),
            Judgement(Verdict.RETRY, "not a Telegram answer: '<html>portal</html>'"),
        ),
        (
            failure(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=-1001987654321,
            ),
            Judgement(
                Verdict.FAIL,
                "the group became a supergroup: use chat_id -1001987654321 "
                "(Telegram: Bad Request: group chat was upgraded to a supergroup chat)",
            ),
        ),
        (
            failure(
                400,
                'Bad Request: can\'t parse entities: Unsupported start tag "p" at byte offset 3',
            ),
            Judgement(
                Verdict.FAIL,
                "Telegram could not parse the message's HTML: a bug in erralert or in a custom "
                "template (Telegram: Bad Request: can't parse entities: Unsupported start tag "
                '"p" at byte offset 3)',
            ),
        ),
        (
            failure(400, "Bad Request: message is too long"),
            Judgement(
                Verdict.FAIL,
                "the text is over Telegram's 4096 characters: a bug in erralert or in a custom "
                "template (Telegram: Bad Request: message is too long)",
            ),
        ),
        (
            failure(401, "Unauthorized"),
            Judgement(
                Verdict.FAIL, "the bot token is invalid or was revoked (Telegram: Unauthorized)"
            ),
        ),
        (
            failure(403, "Forbidden: bot was kicked from the supergroup chat"),
            Judgement(
                Verdict.FAIL,
                "the bot may not post to this chat: it was kicked or blocked, or is not a member "
                "(Telegram: Forbidden: bot was kicked from the supergroup chat)",
            ),
        ),
        (
            failure(404, "Not Found"),
            Judgement(
                Verdict.FAIL, "no such bot: the token in the URL is wrong (Telegram: Not Found)"
            ),
        ),
        (
            failure(400, "Bad Request: chat not found"),
            Judgement(
                Verdict.FAIL,
                "chat not found: check chat_id, and that the bot was added to the chat "
                "(Telegram: Bad Request: chat not found)",
            ),
        ),
        (
            failure(400, "Bad Request: message thread not found"),
            Judgement(
                Verdict.FAIL,
                "the forum topic does not exist: check message_thread_id "
                "(Telegram: Bad Request: message thread not found)",
            ),
        ),
        (
            failure(400, "Bad Request: message text is empty"),
            Judgement(Verdict.FAIL, "Telegram: Bad Request: message text is empty"),
        ),
    ],
)
def test_judge(response: httpx.Response, expected: Judgement) -> None:
    assert telegram().judge(response) == expected

"""The inbox against messages built to hurt it (issue 17): a message that breaks its
renderer, markup that made rendering quadratic, refused bodies of 2 MB, other sites'
pages (Host header, unbounded storage), Teams mention entities that rewrote markup, and
the URLs ``erralert inbox`` prints."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from erralert.inbox import InboxMessage, InboxStore, create_app, start
from erralert.inbox import show as show_module
from erralert.inbox.show import render_body
from tests.cli.test_inbox_command import inbox_process
from tests.inbox.conftest import text_of

DINGTALK = "/robot/send?access_token=t"
SLACK = "/services/T/B/X"


def dingtalk_markdown(text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}


# -- 1. one message never breaks the page --------------------------------------------------


def test_a_thousand_quotes_neither_crash_the_page_nor_the_api(client: TestClient) -> None:
    answer = client.post(DINGTALK, json=dingtalk_markdown(">" * 1200))
    assert answer.json() == {"errcode": 0, "errmsg": "ok"}
    client.post(SLACK, json={"text": "the next alert"})
    page = client.get("/")
    assert page.status_code == 200
    assert "quotes nested deeper than 16 levels: the rest is shown as text" in page.text
    assert "the next alert" in page.text
    listed = client.get("/api/messages")
    assert listed.status_code == 200
    assert [m["platform"] for m in listed.json()["messages"]] == ["slack", "dingtalk"]
    # sixteen levels are drawn, the rest is text
    quote = listed.json()["messages"][1]["html"]
    assert quote.count("<blockquote>") == 16
    assert "&gt;" * (1200 - 16) in quote


def test_a_card_that_fails_is_shown_as_text_and_logged_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(payload: dict[str, Any]) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setitem(show_module.RENDERERS, "dingtalk", broken)
    client.post(DINGTALK, json=dingtalk_markdown("<b>cannot be shown</b>"))
    client.post(SLACK, json={"text": "the next alert"})
    with caplog.at_level(logging.ERROR, logger="erralert.inbox"):
        pages = [client.get("/"), client.get("/"), client.get("/api/messages")]
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert "the next alert" in pages[0].text
    assert "The inbox could not show this message (see its log)" in pages[0].text
    assert "&lt;b&gt;cannot be shown&lt;/b&gt;" in pages[0].text  # its body, as text
    failures = [r for r in caplog.records if "could not be shown" in r.getMessage()]
    assert len(failures) == 1


# -- 2. linear-time rendering ---------------------------------------------------------------

# each piece made some renderer quadratic (or exponential) before issue 17
_HOSTILE = [
    "<font color=red>a",  # an unclosed <font>: every one rescanned the rest (WeCom, 11.5 s)
    " __a__b",  # "__" closers that may not close
    '<b x="',  # unclosed quotes in tags
    '<a x="y" ',  # attributes a pattern could read two ways
    "<at id=",
    "**`a",
    "~~`",
    "||`",
    "[a](b",
    "*a ",
    "@a.",
    "(http://.",
    "<",
]


def _hostile_text(size: int) -> str:
    # a run of backticks of every length, each unclosed (n^1.5 before issue 17)
    ticks = "".join("`" * k + " " for k in range(1, 1200))
    share = (size - len(ticks)) // len(_HOSTILE)
    parts = [(piece * (share // len(piece) + 1))[:share] for piece in _HOSTILE]
    return "\n\n".join([ticks, *parts])


def _payload(platform: str, text: str) -> dict[str, Any]:
    shapes: dict[str, Any] = {
        "slack": {"text": text, "blocks": [{"type": "markdown", "text": text}]},
        "discord": {"content": text},
        "teams": {
            "attachments": [
                {
                    "content": {
                        "body": [{"type": "TextBlock", "text": text}],
                        "msteams": {
                            "entities": [
                                {
                                    "type": "mention",
                                    "text": "<at>a</at>",
                                    "mentioned": {"name": "A"},
                                }
                            ]
                        },
                    }
                }
            ]
        },
        "googlechat": {
            "text": text,
            "cardsV2": [{"card": {"sections": [{"widgets": [{"textParagraph": {"text": text}}]}]}}],
        },
        "mattermost": {"text": text},
        "rocketchat": {"text": text},
        "telegram": {"chat_id": 1, "text": text, "parse_mode": "HTML"},
        "dingtalk": dingtalk_markdown(text),
        "wecom": {"msgtype": "markdown", "markdown": {"content": text}},
        "feishu": {"card": {"elements": [{"tag": "markdown", "content": text}]}},
        "lark": {
            "card": {"elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]}
        },
        "webhook": {"text": text},
    }
    return dict(shapes[platform])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("platform", sorted(show_module.RENDERERS))
@pytest.mark.slow
def test_two_megabytes_render_in_linear_time(platform: str) -> None:
    text = _hostile_text(2_000_000)
    message = InboxMessage(1, 0.0, platform, "/", None, "", _payload(platform, text), "", 200, None)
    started = time.perf_counter()
    html = render_body(message)
    took = time.perf_counter() - started
    assert "does not have the shape" not in html
    # linear is about a second here on a slow, busy machine; quadratic was hours
    assert took < 10, f"{platform}: {took:.1f} s for 2 MB"


def test_a_slow_render_does_not_hold_a_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    rendering, answered = threading.Event(), threading.Event()

    def slow_card(message: InboxMessage) -> str:
        rendering.set()
        answered.wait(20)  # the render ends only once the webhook was answered
        return "<article></article>"

    monkeypatch.setattr("erralert.inbox.app.card_html", slow_card)
    with start() as inbox:
        inbox.store.add(platform="slack", path=SLACK, raw="{}", status=200)
        page = threading.Thread(target=httpx.get, args=(f"{inbox.url}/",), kwargs={"timeout": 30})
        page.start()
        assert rendering.wait(10)
        reply = httpx.post(
            f"{inbox.url}{SLACK}", json={"text": "while the page renders"}, timeout=5
        )
        answered.set()
        page.join(30)
    assert reply.status_code == 200


# -- 3. refused bodies ----------------------------------------------------------------------


def test_a_refused_body_of_two_megabytes_is_kept_as_an_excerpt(
    client: TestClient, store: InboxStore
) -> None:
    body = json.dumps(dingtalk_markdown("x" * 1_900_000)).encode()
    answer = client.post(DINGTALK, content=body)
    assert answer.json()["errcode"] == 460101
    (message,) = store.messages()
    assert (len(message.raw), message.payload, message.cut_from) == (64_000, None, len(body))
    assert message.raw == body[:64_000].decode()
    page = client.get("/").text
    assert (
        f"Only the first 64,000 characters of this refused body of {len(body):,} bytes are kept."
        in page
    )
    assert len(page) < 200_000


# -- 4. Host header ---------------------------------------------------------------------------


def test_another_host_is_refused() -> None:
    with start() as inbox:
        inbox.store.add(platform="slack", path=SLACK, raw="{}", status=200)
        port = inbox.port

        def get(host: str) -> httpx.Response:
            return httpx.get(f"{inbox.url}/api/messages", headers={"Host": host})

        rebound = get(f"attacker.example:{port}")
        assert rebound.status_code == 421
        assert rebound.text.startswith(
            f"this erralert inbox answers only requests for 127.0.0.1:{port}, [::1]:{port},"
            f" localhost:{port}, not for Host 'attacker.example:{port}'"
        )
        assert get(f"127.0.0.1:{port + 1}").status_code == 421
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert get(host).status_code == 200, host
        # webhooks too: a page of another site cannot add messages either
        posted = httpx.post(
            f"{inbox.url}{SLACK}", json={"text": "x"}, headers={"Host": "a.example"}
        )
        assert posted.status_code == 421
        assert inbox.store.count() == 1


# -- 5. bounded storage ----------------------------------------------------------------------


def test_the_oldest_messages_are_dropped_past_the_count() -> None:
    store = InboxStore(":memory:", max_messages=3)
    for n in range(5):
        store.add(platform="slack", path=SLACK, raw=f"message {n}", status=200)
    assert [m.raw for m in store.messages()] == ["message 4", "message 3", "message 2"]
    assert store.dropped() == 2
    store.clear()
    assert store.dropped() == 0


def test_the_oldest_messages_are_dropped_past_the_bytes(tmp_path: Path) -> None:
    store = InboxStore(tmp_path / "inbox.db", max_bytes=2_500_000)
    client = TestClient(create_app(store))
    big = {"text": "x" * 1_000_000}
    for _ in range(6):
        assert client.post("/webhook/errors", json=big).status_code == 200
    assert store.count() == 1  # raw and payload: 2 MB a message
    listed = client.get("/api/messages").json()
    assert listed["dropped"] == 5
    note = (
        "5 older messages were dropped: the inbox keeps the newest 1000 messages and 2.5 MB "
        "(erralert inbox --max-messages, --max-mb)."
    )
    assert listed["dropped_note"] == note
    assert note in client.get("/").text
    store.close()
    # the count survives a restart
    again = InboxStore(tmp_path / "inbox.db", max_bytes=2_500_000)
    assert again.dropped() == 5
    again.close()


# -- 6. Teams mention entities -----------------------------------------------------------------


def _teams_card(text: str, entities: list[dict[str, Any]]) -> dict[str, Any]:
    content = {"body": [{"type": "TextBlock", "text": text}], "msteams": {"entities": entities}}
    return {"attachments": [{"content": content}]}


def test_a_mention_entity_replaces_text_only() -> None:
    entities = [
        {"type": "mention", "text": "/a", "mentioned": {"name": "evil"}},
        {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"name": "Bob Lee"}},
        {"type": "mention", "text": "", "mentioned": {"name": "nobody"}},
    ]
    text = "[docs](https://example.com/a) for <at>Bob</at>, see /a"
    message = InboxMessage(
        1, 0.0, "teams", "/", None, "", _teams_card(text, entities), "", 200, None
    )
    html = render_body(message)
    assert html == (
        '<div class="ac-card"><div class="ac-text size-m color-default"><p>'
        '<a href="https://example.com/a" rel="noopener noreferrer nofollow" target="_blank">'
        'docs</a> for <span class="mention">@Bob Lee</span>, see '
        '<span class="mention">@evil</span></p></div></div>'
    )
    assert " ".join(text_of(html).split()) == "docs for @Bob Lee , see @evil"


# -- 7. the printed URLs ----------------------------------------------------------------------


@pytest.mark.e2e
def test_the_printed_urls_work_as_printed(tmp_path: Path) -> None:
    token = "a b&c/é+%="
    argv = ("--token", token, "--db", str(tmp_path / "inbox.db"))
    with inbox_process(*argv) as (_, lines):
        printed = lines[0].removeprefix("erralert inbox: ")
        assert printed.endswith("/?inbox_token=a+b%26c%2F%C3%A9%2B%25%3D")
        base = printed.split("?")[0].rstrip("/")
        with httpx.Client() as browser:
            assert browser.get(printed).status_code == 200
            # the page's own fetches carry only the cookie the printed URL set
            assert browser.get(f"{base}/api/messages").status_code == 200
        slack = next(line.strip() for line in lines if line.strip().startswith("slack+"))
        assert httpx.post(slack.removeprefix("slack+"), json={"text": "x"}).status_code == 200
        assert httpx.get(f"{base}/api/messages").status_code == 401

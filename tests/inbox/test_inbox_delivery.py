"""What erralert really sends, for every platform, against a real inbox (uvicorn on
127.0.0.1): accepted, stored with its title and kind, and rendered with the exception,
the culprit and the digest's count."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import erralert
from erralert.inbox import InboxMessage, RunningInbox, start
from erralert.inbox.show import card_html, render_body
from tests.inbox.conftest import text_of

WINDOW = 1.0  # seconds: repeats inside it come back as one digest
REPEATS = 3


def hooks(base: str) -> dict[str, str]:
    """One URL per platform, each at the path its own service uses (or /{platform}/…)."""
    host = base.removeprefix("http://")
    return {
        "slack": f"slack+http://{host}/services/T0/B0/X0",
        "discord": f"discord+http://{host}/api/webhooks/123/tok",
        "teams": f"teams+http://{host}/workflows/w1/triggers/manual/paths/invoke?sig=s",
        "googlechat": f"googlechat+http://{host}/v1/spaces/S1/messages?key=k&token=t",
        "mattermost": f"mattermost+http://{host}/hooks/key1",
        "rocketchat": f"rocketchat+http://{host}/hooks/id1/tok1",
        "telegram": f"telegram+http://{host}/bot1:abc/sendMessage?chat_id=-1001",
        "dingtalk": f"dingtalk+http://{host}/robot/send?access_token=t1&secret=SECgood",
        "wecom": f"wecom+http://{host}/cgi-bin/webhook/send?key=k1",
        "feishu": f"feishu+http://{host}/open-apis/bot/v2/hook/h1?secret=fsgood",
        "lark": f"lark+http://{host}/lark/open-apis/bot/v2/hook/h2?secret=lkgood",
        "webhook": f"webhook+http://{host}/webhook/errors?secret=whgood",
    }


PLATFORMS = sorted(hooks("http://x:1"))
SECRETS = {"dingtalk": "SECgood", "feishu": "fsgood", "lark": "lkgood", "webhook": "whgood"}
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/cart/checkout",
    "raw_path": b"/cart/checkout",
    "query_string": b"",
    "headers": [(b"host", b"shop.example"), (b"user-agent", b"pytest")],
    "scheme": "https",
    "server": ("shop.example", 443),
    "client": ("203.0.113.9", 5000),
}


def chargecard(amount: int) -> None:
    raise ValueError(f"card declined for {amount}")


def wait_until(condition: object, timeout: float = 20.0) -> None:
    """Until ``condition()`` holds (the outcome, not a fixed time, is waited for)."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningInbox]:
    """One alert and one digest (of REPEATS repeats) sent to every platform."""
    inbox = start(db_path=tmp_path_factory.mktemp("inbox") / "inbox.db", secrets=SECRETS)
    alerter = erralert.Alerter(list(hooks(inbox.url).values()), service="shop", window=WINDOW)
    try:
        for amount in range(REPEATS + 1):
            try:
                chargecard(amount)
            except ValueError as exc:
                alerter.capture_exception(exc, request=SCOPE)
        # the digest leaves once the window has ended; flush() claims it then
        wait_until(lambda: alerter.flush(5) and inbox.store.count() >= 2 * len(PLATFORMS))
        yield inbox
    finally:
        alerter.close(5)
        inbox.stop()


def of(inbox: RunningInbox, platform: str) -> dict[str, InboxMessage]:
    messages = inbox.store.messages(platform=platform)
    return {m.kind or "?": m for m in messages}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_accepted_and_stored_with_title_and_kind(delivered: RunningInbox, platform: str) -> None:
    messages = of(delivered, platform)
    assert set(messages) == {"alert", "digest"}, delivered.store.messages(platform=platform)
    for message in messages.values():
        assert message.error is None, message.error
        assert 200 <= message.status < 300
        assert message.payload is not None
    assert "ValueError" in messages["alert"].title
    assert "card declined" in messages["alert"].title
    assert "ValueError" in messages["digest"].title
    assert f"\u00d7{REPEATS}" in messages["digest"].title


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rendered_like_the_platform(delivered: RunningInbox, platform: str) -> None:
    messages = of(delivered, platform)
    alert = text_of(render_body(messages["alert"]))
    assert "ValueError" in alert
    assert "chargecard" in alert  # the culprit
    digest = text_of(render_body(messages["digest"]))
    assert f"\u00d7{REPEATS}" in digest or f"{REPEATS} more times" in digest
    card = card_html(messages["digest"])
    assert 'class="badge kind kind-digest"' in card
    assert f'data-platform="{platform}"' in card
    assert "<details><summary>raw JSON</summary>" in card


def test_platform_look(delivered: RunningInbox) -> None:
    """Each platform's own furniture: Slack's header block and colour bar, Discord's embed,
    Feishu's coloured card header, Teams' large bold title, Google Chat's card header."""
    assert '<div class="sl-header">' in render_body(of(delivered, "slack")["alert"])
    assert 'class="bar" style="border-left-color:#' in render_body(of(delivered, "slack")["alert"])
    assert '<div class="em-title">' in render_body(of(delivered, "discord")["alert"])
    assert '<div class="fs-header fs-red">' in render_body(of(delivered, "feishu")["alert"])
    assert '<div class="fs-header fs-yellow">' in render_body(of(delivered, "lark")["digest"])
    assert '<span class="size-xl color-attention"><b>' in render_body(
        of(delivered, "teams")["alert"]
    )
    assert '<div class="gc-title">' in render_body(of(delivered, "googlechat")["alert"])
    assert "<pre>" in render_body(of(delivered, "telegram")["alert"])


def test_persisted_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    with start(db_path=db) as inbox:
        alerter = erralert.Alerter([hooks(inbox.url)["mattermost"]], window=60)
        try:
            chargecard(1)
        except ValueError:
            alerter.capture_exception()
        assert alerter.flush(10)
        alerter.close(1)
        before = inbox.store.messages()
        assert len(before) == 1
    with start(db_path=db) as again:
        assert again.store.messages() == before
        assert again.port != 0

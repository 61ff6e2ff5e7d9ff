"""Acceptance: the inbox refuses a DingTalk request with a wrong sign and a Feishu request
with a stale timestamp with the platforms' real error codes, and erralert's own client
takes those answers as permanent failures (logged, not retried)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

import erralert
from erralert.channels.base import Message, Verdict
from erralert.channels.registry import parse_webhook
from erralert.inbox import RunningInbox, start

SECRETS = {"dingtalk": "SECright", "feishu": "fsright", "lark": "lkright", "webhook": "whright"}
MESSAGE = Message(kind="alert", title="ValueError: boom", body="**ValueError**: boom")


@pytest.fixture
def inbox() -> Iterator[RunningInbox]:
    with start(secrets=SECRETS) as running:
        yield running


def send(url: str, *, now: float | None = None) -> tuple[httpx.Response, Verdict]:
    """erralert's request for ``url`` (built at ``now``), sent; the answer and its verdict."""
    channel = parse_webhook(url)
    with httpx.Client() as client:
        response = client.send(channel.build_request(MESSAGE, now=now))
    return response, channel.judge(response).verdict


def test_dingtalk_wrong_sign_is_refused_and_erralert_gives_up(
    inbox: RunningInbox, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"dingtalk+{inbox.url}/robot/send?access_token=t&secret=SECwrong"
    response, verdict = send(url)
    assert response.status_code == 200  # DingTalk answers 200 to refusals too
    assert response.json() == {"errcode": 310000, "errmsg": "sign not match"}
    assert verdict is Verdict.FAIL

    inbox.store.clear()
    alerter = erralert.Alerter([url], window=60)
    with caplog.at_level(logging.ERROR, logger="erralert"):
        try:
            raise ValueError("boom")
        except ValueError:
            alerter.capture_exception()
        alerter.flush(10)
        alerter.close(1)
    assert inbox.store.count() == 1  # refused for good: not retried
    (stored,) = inbox.store.messages()
    assert stored.error == "errcode 310000: sign not match"
    assert any(
        "refused" in r.getMessage() and "310000: sign not match" in r.getMessage()
        for r in caplog.records
    )
    assert alerter.outbox.failed == 1


def test_dingtalk_right_sign_and_stale_timestamp(inbox: RunningInbox) -> None:
    url = f"dingtalk+{inbox.url}/robot/send?access_token=t&secret=SECright"
    response, verdict = send(url)
    assert response.json() == {"errcode": 0, "errmsg": "ok"}
    assert verdict is Verdict.OK
    response, verdict = send(url, now=time.time() - 2 * 3600)
    assert response.json() == {"errcode": 310000, "errmsg": "invalid timestamp"}
    assert verdict is Verdict.FAIL


@pytest.mark.parametrize(
    ("platform", "path", "secret"),
    [
        ("feishu", "/open-apis/bot/v2/hook/h", "fsright"),
        ("lark", "/lark/open-apis/bot/v2/hook/h", "lkright"),
    ],
)
def test_feishu_stale_timestamp_is_refused_with_19021(
    inbox: RunningInbox, platform: str, path: str, secret: str
) -> None:
    url = f"{platform}+{inbox.url}{path}?secret={secret}"
    response, verdict = send(url)  # signed now: accepted
    assert response.json()["code"] == 0
    assert verdict is Verdict.OK

    # the client's clock two hours behind: the right secret, a stale timestamp
    response, verdict = send(url, now=time.time() - 2 * 3600)
    assert response.json() == {
        "code": 19021,
        "data": {},
        "msg": "sign match fail or timestamp is not within one hour from current time",
    }
    assert verdict is Verdict.FAIL
    stored = inbox.store.messages(platform=platform)[0]
    assert stored.error is not None
    assert stored.error.startswith("code 19021")

    response, verdict = send(f"{platform}+{inbox.url}{path}?secret=wrong")
    assert response.json()["code"] == 19021
    assert verdict is Verdict.FAIL


def test_unsigned_request_to_a_signing_bot_is_refused(inbox: RunningInbox) -> None:
    response, verdict = send(f"feishu+{inbox.url}/open-apis/bot/v2/hook/h")
    assert response.json()["code"] == 19021
    assert verdict is Verdict.FAIL
    response, verdict = send(f"dingtalk+{inbox.url}/robot/send?access_token=t")
    assert response.json()["errcode"] == 310000
    assert verdict is Verdict.FAIL


def test_generic_webhook_signature(inbox: RunningInbox) -> None:
    response, verdict = send(f"webhook+{inbox.url}/webhook/x?secret=whright")
    assert response.status_code == 200
    assert verdict is Verdict.OK
    response, verdict = send(f"webhook+{inbox.url}/webhook/x?secret=nope")
    assert response.status_code == 401
    assert verdict is Verdict.FAIL


def test_platform_without_a_known_secret_takes_any_signature() -> None:
    with start() as inbox:
        response, verdict = send(f"dingtalk+{inbox.url}/robot/send?access_token=t&secret=SECx")
        assert response.json()["errcode"] == 0
        assert verdict is Verdict.OK

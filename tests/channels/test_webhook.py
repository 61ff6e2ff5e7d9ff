"""The generic JSON webhook: message in -> exact document and headers out; the HMAC
signature verifies the way the module docstring tells receivers to verify it."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

import httpx
import pytest
from freezegun import freeze_time

from erralert._core.links import Link
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.payloads import USER_AGENT
from erralert.channels.webhook import WebhookChannel, sign, verify_signature

URL = "https://ops.example.com/hooks/errors?team=core"
SECRET = "s3cr3t+with/odd=chars"
NOW = 1_718_000_000.9
DOCUMENT: dict[str, Any] = {
    "version": 1,
    "kind": "digest",
    "event": {"event_id": "e1", "title": "KeyError: 'order 1'", "level": "error"},
    "occurrences": {"count": 3, "total": 4},
    "storm": None,
}


def message(
    data: dict[str, Any] | None = DOCUMENT, payload: dict[str, Any] | None = None
) -> Message:
    return Message(
        kind="digest",
        title="KeyError: 'order 1' (3 times)",
        body="3 more times",
        data=data,
        payload=payload,
    )


def test_document() -> None:
    request = WebhookChannel(URL).build_request(message(), NOW)
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == USER_AGENT
    assert "X-Erralert-Signature" not in request.headers
    assert "X-Erralert-Timestamp" not in request.headers
    assert json.loads(request.content) == {
        **DOCUMENT,
        "links": [],
        "title": "KeyError: 'order 1' (3 times)",
        "text": "3 more times",
    }


def test_document_without_event_data() -> None:
    request = WebhookChannel(URL).build_request(message(data=None), NOW)
    assert json.loads(request.content) == {
        "version": 1,
        "kind": "digest",
        "links": [],
        "title": "KeyError: 'order 1' (3 times)",
        "text": "3 more times",
    }


def test_the_messages_links_are_a_top_level_list_in_order() -> None:
    links = (
        Link("source", "https://github.com/org/shop/blob/v1/shop/pay.py#L12"),
        Link("logs", "https://logs.example/explore?q=req-1"),
    )
    request = WebhookChannel(URL).build_request(replace(message(), links=links), NOW)
    assert json.loads(request.content) == {
        **DOCUMENT,
        "links": [
            {"name": "source", "url": "https://github.com/org/shop/blob/v1/shop/pay.py#L12"},
            {"name": "logs", "url": "https://logs.example/explore?q=req-1"},
        ],
        "title": "KeyError: 'order 1' (3 times)",
        "text": "3 more times",
    }


def test_custom_payload_is_sent_as_is() -> None:
    custom = {"alerts": [{"status": "firing"}]}
    request = WebhookChannel(URL).build_request(message(payload=custom), NOW)
    assert json.loads(request.content) == custom


def test_signature_verifies_like_the_docstring_says() -> None:
    channel = WebhookChannel(URL, ChannelOptions(secret=SECRET))
    request = channel.build_request(message(), NOW)
    timestamp = request.headers["X-Erralert-Timestamp"]
    assert timestamp == "1718000000"  # UNIX seconds
    body = request.content
    # the receiver's side, written from the documentation
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(request.headers["X-Erralert-Signature"], f"sha256={expected}")
    assert verify_signature(
        SECRET, timestamp, body, request.headers["X-Erralert-Signature"], now=NOW
    )


@freeze_time("2024-06-01 12:00:00")
def test_signature_timestamp_from_the_clock() -> None:
    channel = WebhookChannel(URL, ChannelOptions(secret=SECRET))
    request = channel.build_request(message())
    assert request.headers["X-Erralert-Timestamp"] == "1717243200"
    assert verify_signature(
        SECRET, "1717243200", request.content, request.headers["X-Erralert-Signature"]
    )


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("wrong", "1718000000", b"{}", NOW),  # another secret
        (SECRET, "1718000001", b"{}", NOW),  # another timestamp
        (SECRET, "1718000000", b"{ }", NOW),  # another body
        (SECRET, "1718000000", b"{}", NOW + 301),  # too old: a replay
        (SECRET, "soon", b"{}", NOW),  # not a timestamp
    ],
)
def test_verify_signature_refuses(secret: str, timestamp: str, body: bytes, now: float) -> None:
    signature = sign(SECRET, 1718000000, b"{}")
    assert verify_signature(SECRET, "1718000000", b"{}", signature, now=NOW)
    assert not verify_signature(secret, timestamp, body, signature, now=now)


def test_secret_is_not_in_the_request_or_repr() -> None:
    channel = WebhookChannel(URL, ChannelOptions(secret=SECRET))
    request = channel.build_request(message(), NOW)
    assert SECRET not in str(request.url)
    assert SECRET.encode() not in request.content
    assert SECRET not in repr(channel)
    assert channel.masked_url == "https://ops.example.com/hooks/errors?team=***"


@pytest.mark.parametrize(
    ("status", "headers", "verdict", "retry_after"),
    [
        (200, {}, Verdict.OK, None),
        (202, {}, Verdict.OK, None),
        (204, {}, Verdict.OK, None),
        (408, {}, Verdict.RETRY, None),
        (429, {"Retry-After": "30"}, Verdict.RETRY, 30.0),
        (500, {}, Verdict.RETRY, None),
        (503, {"Retry-After": "5"}, Verdict.RETRY, 5.0),
        (400, {}, Verdict.FAIL, None),
        (401, {}, Verdict.FAIL, None),
        (404, {}, Verdict.FAIL, None),
    ],
)
def test_judge(
    status: int, headers: dict[str, str], verdict: Verdict, retry_after: float | None
) -> None:
    judgement = WebhookChannel(URL).judge(httpx.Response(status, headers=headers, text="why"))
    assert judgement.verdict is verdict
    assert judgement.retry_after == retry_after
    if verdict is not Verdict.OK:
        assert judgement == Judgement(verdict, f"HTTP {status}: why", retry_after)

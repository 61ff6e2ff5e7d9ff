"""Acceptance 1, 6 and 7 of the foundation: real apps under real servers, alerts POSTed to
a real local receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import erralert
from erralert.inbox.show import markup_html
from tests.receiver import Answer, Receiver
from tests.servers import uvicorn_server, wsgi_server

SECRET = "SEC0123456789abcdef"


def dingtalk_url(receiver: Receiver) -> str:
    return f"dingtalk+{receiver.base}/robot/send?access_token=tok123&secret={SECRET}"


def checkout_failed(order_id: str) -> None:
    raise ValueError(f"payment declined for order {order_id}")


def starlette_app(alerter: erralert.Alerter) -> Any:
    async def pay(request: Request) -> PlainTextResponse:
        checkout_failed(request.path_params["order"])
        return PlainTextResponse("unreachable")

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("fine")

    app = Starlette(routes=[Route("/pay/{order}", pay, methods=["POST"]), Route("/ok", ok)])
    app.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    return app


def assert_signed(received: Any) -> None:
    timestamp = received.query["timestamp"]
    assert abs(int(timestamp) / 1000 - time.time()) < 60  # milliseconds
    digest = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert received.query["sign"] == base64.b64encode(digest).decode()
    assert received.query["access_token"] == "tok123"
    assert "secret" not in received.query


def test_starlette_50_failures_one_alert(receiver: Receiver) -> None:
    receiver.default = Answer(body={"errcode": 0, "errmsg": "ok"})
    alerter = erralert.Alerter([dingtalk_url(receiver)], service="checkout", window=300)
    with uvicorn_server(starlette_app(alerter)) as base:
        bodies = set()
        for i in range(50):
            r = httpx.post(f"{base}/pay/{1000 + i}")
            assert r.status_code == 500
            bodies.add(r.text)
        assert bodies == {"Internal Server Error"}  # Starlette's own 500, unchanged
        assert httpx.get(f"{base}/ok").text == "fine"
        assert alerter.flush(10)
    requests = receiver.wait_for(1)
    assert len(requests) == 1
    alert = requests[0]
    assert_signed(alert)
    text = alert.json["markdown"]["text"]
    assert alert.json["msgtype"] == "markdown"
    assert "ValueError" in text
    assert "payment declined for order" in text
    assert "POST" in text
    assert "/pay/1000" in text
    assert "checkout_failed" in text  # the culprit
    assert "test_middleware_e2e.py" in text
    alerter.close(5)
    # closing emits the 49 repeats early as one digest
    requests = receiver.wait_for(2)
    assert len(requests) == 2
    assert "49" in requests[1].json["markdown"]["text"]


def wsgi_failing_view(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    checkout_failed(environ["PATH_INFO"].rsplit("/", 1)[-1])
    return [b"unreachable"]


def wsgi_failing_body(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first chunk\n"
    raise RuntimeError("stream broke midway")


@pytest.mark.parametrize(
    ("app", "exception", "status"),
    [(wsgi_failing_view, "ValueError", 500), (wsgi_failing_body, "RuntimeError", 200)],
)
def test_wsgi_50_failures_one_alert(
    receiver: Receiver, app: Any, exception: str, status: int
) -> None:
    alerter = erralert.Alerter([f"slack+{receiver.base}/services/T0/B0/X"], window=300)
    wrapped = erralert.WSGIMiddleware(app, alerter=alerter)
    with wsgi_server(wrapped) as base:
        for i in range(50):
            try:
                r = httpx.get(f"{base}/pay/{2000 + i}")
                assert r.status_code == status
            except httpx.RemoteProtocolError:
                assert status == 200  # the body broke after the headers were sent
        assert alerter.flush(10)
    requests = receiver.wait_for(1)
    assert len(requests) == 1
    payload = requests[0].json
    text = str(payload)
    assert exception in payload["text"]
    assert "GET" in text
    assert "/pay/2000" in text
    alerter.close(1)


def test_slow_webhook_does_not_delay_the_request(receiver: Receiver) -> None:
    receiver.default = Answer(delay=5.0)
    alerter = erralert.Alerter([f"slack+{receiver.base}/services/T0/B0/X"], window=300)
    with uvicorn_server(starlette_app(alerter)) as base:
        started = time.monotonic()
        assert httpx.post(f"{base}/pay/1").status_code == 500
        elapsed = time.monotonic() - started
        assert elapsed < 2.0  # generous: the webhook takes 5 s
        assert receiver.wait_for(1, timeout=5)  # delivery started meanwhile
    alerter.close(10)


def test_hostile_text_reaches_chat_defused(receiver: Receiver) -> None:
    receiver.default = Answer(body={"errcode": 0, "errmsg": "ok"})
    alerter = erralert.Alerter(
        [dingtalk_url(receiver), f"slack+{receiver.base}/services/T0/B0/X"], window=300
    )

    async def evil(request: Request) -> PlainTextResponse:
        raise RuntimeError("<!channel> @all [x](http://evil.example) postgresql://u:hunter2@db/x")

    app = Starlette(routes=[Route("/evil", evil)])
    app.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    with uvicorn_server(app) as base:
        r = httpx.get(f"{base}/evil", headers={"Authorization": "Bearer abc123"})
        assert r.status_code == 500
        assert alerter.flush(10)
    requests = receiver.wait_for(2)
    assert len(requests) == 2
    for received in requests:
        body = received.body.decode()
        assert "abc123" not in body
        assert "hunter2" not in body
    dingtalk = next(r for r in requests if r.path == "/robot/send").json
    # DingTalk mentions only through `at` (so "@all" in the text is only text); the
    # markdown can form no link: "[" and a bare URL's ":" are character references
    assert dingtalk["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    text = dingtalk["markdown"]["text"]
    assert "RuntimeError" in text
    for live in ("[x](", "http://evil"):
        assert live not in text
    assert "<a " not in markup_html("dingtalk", text)  # as DingTalk reads it: no link
    slack = next(r for r in requests if r.path.startswith("/services")).json
    rendered = [slack["text"]] + [
        block["text"]["text"] for block in slack["attachments"][0]["blocks"]
    ]
    for text in rendered:
        assert "<!channel>" not in text  # Slack mentions need a raw "<"
        assert "&lt;!channel&gt;" in text or "channel" not in text
    # no auto-link in the message body: the URL is only inside code (the culprit's line)
    assert "<a " not in markup_html("slack", rendered[1])
    alerter.close(1)

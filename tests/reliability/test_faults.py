"""Every transport fault is retried (never raised into the app, never silent): connection
refused, DNS failure, TLS failure, timeouts, 5xx; the reason is logged with the URL
masked, and delivery resumes when the fault heals."""

from __future__ import annotations

import logging
import socket
import threading

import httpx
import pytest

import erralert
from tests.receiver import Answer, Receiver
from tests.servers import free_port

pytestmark = pytest.mark.slow


def _boom(alerter: erralert.Alerter) -> None:
    event_id = None
    try:
        raise RuntimeError("fault injected")
    except RuntimeError as exc:
        event_id = alerter.capture_exception(exc)
    assert event_id is not None


def _pauses(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "pausing it" in r.getMessage()]


def test_connection_refused_is_retried_and_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    port = free_port()  # nothing listens there
    alerter = erralert.Alerter([f"slack+http://127.0.0.1:{port}/services/T0/B0/SECRETTOKEN"])
    _boom(alerter)
    assert not alerter.flush(1.5)  # still retrying
    (pause,) = _pauses(caplog)
    assert "ConnectError" in pause
    assert "SECRETTOKEN" not in caplog.text
    assert alerter.outbox.outstanding == 1  # kept, not lost
    alerter.close(0.1)


def test_dns_failure_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    """What httpx raises when the name does not resolve (injected: no resolver here)."""
    caplog.set_level(logging.WARNING, logger="erralert")
    calls: list[httpx.Request] = []

    def resolve_fails(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)
        return httpx.Response(200, text="ok")

    alerter = erralert.Alerter(["slack://T0/B0/XXXX"], transport=httpx.MockTransport(resolve_fails))
    _boom(alerter)
    assert alerter.flush(5)
    assert len(calls) == 2  # failed, paused about a second, then delivered
    assert "Name or service not known" in _pauses(caplog)[0]
    alerter.close(0.1)


def test_tls_failure_is_retried(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    """https:// to a server that speaks plain HTTP: the handshake fails, for real."""
    caplog.set_level(logging.WARNING, logger="erralert")
    alerter = erralert.Alerter([receiver.base.replace("http://", "webhook+https://") + "/hook"])
    _boom(alerter)
    assert not alerter.flush(1.5)
    (pause,) = _pauses(caplog)
    assert "SSL" in pause or "TLS" in pause or "ConnectError" in pause
    assert alerter.outbox.delivered == 0
    alerter.close(0.1)


def test_a_timeout_is_retried_then_delivered(receiver: Receiver) -> None:
    receiver.answers = [Answer(delay=2.0)]  # the first answer comes too late
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"], timeout=0.5)
    _boom(alerter)
    assert alerter.flush(10)
    assert alerter.outbox.delivered == 1
    assert len(receiver.requests) == 2  # the platform saw it twice: at least once
    alerter.close(0.1)


def test_a_server_error_is_retried_then_delivered(receiver: Receiver) -> None:
    receiver.answers = [Answer(502, "bad gateway"), Answer(500, "oops")]
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"])
    _boom(alerter)
    assert alerter.flush(15)
    assert len(receiver.requests) == 3
    assert alerter.outbox.delivered == 1
    alerter.close(0.1)


def test_a_refused_connection_heals_when_the_server_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    port = free_port()
    alerter = erralert.Alerter([f"webhook+http://127.0.0.1:{port}/hook"])
    _boom(alerter)
    got: list[bytes] = []

    def serve() -> None:
        with socket.create_server(("127.0.0.1", port)) as server:
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"fault injected" not in data:  # headers and body come apart
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                got.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    threading.Timer(1.0, lambda: threading.Thread(target=serve, daemon=True).start()).start()
    assert alerter.flush(15)
    assert got
    assert b"fault injected" in got[0]
    assert any("accepts messages again" in r.getMessage() for r in caplog.records)
    alerter.close(0.1)

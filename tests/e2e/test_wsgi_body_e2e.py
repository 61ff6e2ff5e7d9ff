"""The WSGI body under real servers (wsgiref and waitress, real sockets): a client that
leaves mid-stream, a close() that fails, a body of one chunk. Each case runs the same app
bare and with erralert, and the server must see no difference."""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from flask import Flask, Response

import erralert
import erralert.integrations.flask as ea_flask
from erralert.testing import CapturedAlert, capture_alerts
from tests.servers import waitress_server, wsgi_server

HOOK = "webhook+http://127.0.0.1:9/hook"  # never called: capture_alerts records instead
CHUNK = b"row\n" * 16384  # 64 KiB
CHUNKS = 2000  # 128 MiB, far more than the socket buffers hold: the client leaves first

Server = Callable[[Callable[..., Any]], AbstractContextManager[str]]
SERVERS: dict[str, Server] = {"wsgiref": wsgi_server, "waitress": waitress_server}


class Export:
    """A Flask app streaming a long export, with a ``call_on_close`` callback (run by the
    response's close(), werkzeug's ``ClosingIterator``) that counts its runs and may fail."""

    def __init__(self, close_fails: bool) -> None:
        self.closes = 0
        self.finished = False  # the whole body was sent: the client did not leave early
        self.app = Flask(__name__)

        @self.app.get("/export")
        def export() -> Response:
            response = Response(self.rows())
            response.call_on_close(self.on_close)
            return response

        self.close_fails = close_fails

    def rows(self) -> Iterator[bytes]:
        for _ in range(CHUNKS):
            yield CHUNK
        self.finished = True

    def on_close(self) -> None:
        self.closes += 1
        if self.close_fails:
            raise OSError("cleanup failed")


def leave_mid_stream(base: str, path: str) -> None:
    """GET ``path``, read the answer's head, then reset the connection (a client gone)."""
    url = urlsplit(base)
    assert url.hostname is not None
    assert url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            assert data, "the server closed before answering"
            head += data
        assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Outcome:
    """What a server did with one abandoned export."""

    def __init__(self, closes: int, said: str, unraisable: list[Any]) -> None:
        self.closes = closes
        self.said = said  # what the server printed or logged about "cleanup failed"
        self.unraisable = unraisable  # "Exception ignored in …" (a finalised generator)


def abandon_export(
    server: str,
    wrapped: bool,
    close_fails: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Outcome:
    export = Export(close_fails)
    alerter = erralert.Alerter([HOOK], window=300)
    if wrapped:
        ea_flask.init_app(export.app, alerter)
    unraisable: list[Any] = []
    capsys.readouterr()
    caplog.clear()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "unraisablehook", unraisable.append)
        with SERVERS[server](export.app) as base:  # leaving waits for the request's end
            leave_mid_stream(base, "/export")
    alerter.close(0.1)  # a second capture of the error would show as a digest of one repeat
    assert not export.finished  # the client's reset cut the stream short
    lines = capsys.readouterr().err.splitlines() + caplog.text.splitlines()
    said = "\n".join(line for line in lines if "cleanup failed" in line or "Exception" in line)
    return Outcome(export.closes, said, unraisable)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", SERVERS)
def test_flask_call_on_close_runs_once_when_the_client_leaves(
    server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with capture_alerts() as alerts:
        bare = abandon_export(server, False, False, monkeypatch, capsys, caplog)
        wrapped = abandon_export(server, True, False, monkeypatch, capsys, caplog)
    assert (bare.closes, wrapped.closes) == (1, 1)
    assert (wrapped.said, wrapped.unraisable) == (bare.said, [])
    assert alerts == []  # a client that leaves is no error of the app


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", SERVERS)
def test_failing_close_is_reported_once_when_the_client_leaves(
    server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bare = abandon_export(server, False, True, monkeypatch, capsys, caplog)
    alerts: list[CapturedAlert]
    with capture_alerts() as alerts:
        wrapped = abandon_export(server, True, True, monkeypatch, capsys, caplog)
    assert (bare.closes, wrapped.closes) == (1, 1)
    # the server prints (wsgiref) or logs (waitress) the error as it does without erralert,
    # and nothing else: no "Exception ignored in generator"
    assert bare.said.count("cleanup failed") >= 1
    assert wrapped.said.count("cleanup failed") == bare.said.count("cleanup failed")
    assert "Exception ignored" not in wrapped.said
    assert wrapped.unraisable == []
    assert [a.kind for a in alerts] == ["alert"]
    event = alerts[0].notice.event
    assert event.exception is not None
    assert event.exception.type == "OSError"
    assert event.request is not None
    assert event.request.route == "/export"


class Rows(list[bytes]):
    """A list subclass: not exactly a list, so the middleware wraps it."""


def one_chunk(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Rows([b"hello"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", SERVERS)
def test_body_of_one_chunk_keeps_its_content_length(server: str) -> None:
    alerter = erralert.Alerter([HOOK])
    apps: dict[str, Callable[..., Any]] = {
        "bare": one_chunk,
        "erralert": erralert.WSGIMiddleware(one_chunk, alerter),
    }
    heads = {}
    for name, app in apps.items():
        with SERVERS[server](app) as base:
            response = httpx.get(f"{base}/")
        assert response.text == "hello"
        heads[name] = (
            response.headers.get("content-length"),
            response.headers.get("transfer-encoding"),
        )
    alerter.close(0.1)
    assert heads == {"bare": ("5", None), "erralert": ("5", None)}

"""Middleware and logging-handler behaviour, in-process (the e2e tests run real servers)."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.util import FileWrapper

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

import erralert
from erralert.testing import capture_alerts

SLACK = "slack://T000/B000/XXXXXXXX"


@pytest.fixture
def alerter() -> Iterator[erralert.Alerter]:
    a = erralert.Alerter([SLACK])
    yield a
    a.close(0.1)


def test_websocket_errors_are_reported(alerter: erralert.Alerter) -> None:
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        raise ConnectionError("feed broke")

    app = Starlette(routes=[WebSocketRoute("/feed", feed)])
    app.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    with (
        capture_alerts() as alerts,
        TestClient(app) as client,
        pytest.raises(ConnectionError),
        client.websocket_connect("/feed") as ws,
    ):
        ws.receive_text()
    assert len(alerts) == 1
    request = alerts[0].notice.event.request
    assert request is not None
    assert (request.method, request.path) == ("WEBSOCKET", "/feed")


def test_nested_middlewares_capture_once(alerter: erralert.Alerter) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("inner")

    outer = erralert.ASGIMiddleware(erralert.ASGIMiddleware(app, alerter=alerter), alerter=alerter)
    with capture_alerts() as alerts, pytest.raises(ValueError, match="inner"):
        TestClient(outer).get("/")
    assert len(alerts) == 1


def test_lifespan_failures_are_left_to_the_server(alerter: erralert.Alerter) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("startup failed")

    wrapped = erralert.ASGIMiddleware(app, alerter=alerter)
    with capture_alerts() as alerts, pytest.raises(RuntimeError), TestClient(wrapped):
        pass
    assert alerts == []


def test_middleware_with_its_own_options() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("own")

    wrapped = erralert.ASGIMiddleware(app, webhooks=[SLACK], service="billing")
    assert wrapped.alerter is not None
    assert wrapped.alerter.service == "billing"
    with capture_alerts() as alerts, pytest.raises(ValueError):
        TestClient(wrapped).get("/")
    assert alerts[0].notice.event.service == "billing"
    wrapped.alerter.close(0.1)


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return lambda data: None


ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/file",
    "wsgi.url_scheme": "http",
    "HTTP_HOST": "example",
    "wsgi.file_wrapper": FileWrapper,
}


def test_wsgi_file_wrapper_passes_through(alerter: erralert.Alerter) -> None:
    body = FileWrapper(io.BytesIO(b"data"))

    def app(environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        start("200 OK", [])
        return body

    assert erralert.WSGIMiddleware(app, alerter=alerter)(dict(ENVIRON), start_response) is body


def test_wsgi_error_in_close_is_reported(alerter: erralert.Alerter) -> None:
    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"ok"

        def close(self) -> None:
            raise OSError("cleanup failed")

    def app(environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        start("200 OK", [])
        return Body()

    result = erralert.WSGIMiddleware(app, alerter=alerter)(dict(ENVIRON), start_response)
    with capture_alerts() as alerts:
        assert list(result) == [b"ok"]
        with pytest.raises(OSError, match="cleanup failed"):
            result.close()  # type: ignore[attr-defined]
    assert [a.notice.event.exception.type for a in alerts] == ["OSError"]  # type: ignore[union-attr]


@pytest.fixture
def log(alerter: erralert.Alerter) -> Iterator[logging.Logger]:
    handler = erralert.LoggingHandler(alerter)
    root = logging.getLogger()
    root.addHandler(handler)
    yield logging.getLogger("shop.payments")
    root.removeHandler(handler)


def test_logging_messages_group_by_their_template(log: logging.Logger) -> None:
    with capture_alerts() as alerts:
        for order in range(5):
            log.error("payment %s declined by %s", order, "bank")
        log.warning("only a warning")  # below the handler's level
    assert len(alerts) == 1
    event = alerts[0].notice.event
    assert event.title == "payment 0 declined by bank"
    assert event.logger == "shop.payments"
    assert "test_middleware.py" in event.culprit


def test_logging_exception_reports_the_exception(log: logging.Logger) -> None:
    with capture_alerts() as alerts:
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed")
    assert alerts[0].notice.event.exception.type == "KeyError"  # type: ignore[union-attr]
    assert alerts[0].notice.event.message == "lookup failed"


@pytest.mark.parametrize(
    "name", ["erralert", "erralert._delivery.outbox", "httpx", "httpcore.http11"]
)
def test_logging_ignores_its_own_and_the_http_clients_loggers(
    alerter: erralert.Alerter, name: str
) -> None:
    handler = erralert.LoggingHandler(alerter)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        with capture_alerts() as alerts:
            logger.error("delivery failed")
        assert alerts == []
    finally:
        logger.removeHandler(handler)


def test_wsgi_list_bodies_pass_through(alerter: erralert.Alerter) -> None:
    body = [b"o", b"k"]

    def app(environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        start("200 OK", [])
        return body

    assert erralert.WSGIMiddleware(app, alerter=alerter)(dict(ENVIRON), start_response) is body


# -- the WSGI body: close() once, len() kept -------------------------------------------------------
class ClosingBody:
    """A body that is its own iterator, as werkzeug's ``ClosingIterator`` (every Flask
    response) is; counts its close() calls, and raises a fresh error from each one if asked."""

    def __init__(self, chunks: int = 3, close_fails: bool = False) -> None:
        self.chunks = iter([b"chunk"] * chunks)
        self.close_fails = close_fails
        self.closed = 0

    def __iter__(self) -> ClosingBody:
        return self

    def __next__(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        self.closed += 1
        if self.close_fails:
            raise OSError("cleanup failed")


def wrapped_body(alerter: erralert.Alerter, body: Iterable[bytes]) -> Iterable[bytes]:
    def app(environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        start("200 OK", [])
        return body

    return erralert.WSGIMiddleware(app, alerter=alerter)(dict(ENVIRON), start_response)


def serve_until_the_client_leaves(result: Iterable[bytes]) -> None:
    """What wsgiref and waitress do when writing the first chunk fails: leave the loop (the
    loop's iterator is dropped), then close the body."""
    try:
        for _chunk in result:
            raise BrokenPipeError("the client went away")
    except BrokenPipeError:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def test_wsgi_body_closed_once_when_the_client_leaves(alerter: erralert.Alerter) -> None:
    body = ClosingBody()
    serve_until_the_client_leaves(wrapped_body(alerter, body))
    assert body.closed == 1


def test_wsgi_failing_close_reported_once_when_the_client_leaves(
    alerter: erralert.Alerter, monkeypatch: pytest.MonkeyPatch
) -> None:
    unraisable: list[Any] = []  # "Exception ignored in ...": what a finalised generator prints
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    body = ClosingBody(close_fails=True)
    with capture_alerts() as alerts:
        with pytest.raises(OSError, match="cleanup failed"):
            serve_until_the_client_leaves(wrapped_body(alerter, body))
        alerter.close(0.1)  # a second capture would show as a digest of one repeat
    assert (body.closed, unraisable) == (1, [])
    assert [a.kind for a in alerts] == ["alert"]
    assert alerts[0].notice.event.exception.type == "OSError"  # type: ignore[union-attr]


def test_wsgi_error_while_iterating_is_reported(alerter: erralert.Alerter) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"first"
        raise LookupError("the rows went away")

    result = wrapped_body(alerter, chunks())
    received: list[bytes] = []

    def serve() -> None:
        for chunk in result:
            received.append(chunk)

    with capture_alerts() as alerts, pytest.raises(LookupError, match="the rows went away"):
        serve()
    assert received == [b"first"]
    assert [a.notice.event.exception.type for a in alerts] == ["LookupError"]  # type: ignore[union-attr]


class Rows(list[bytes]):
    """A list subclass: not exactly a list, so the middleware wraps it."""

    def close(self) -> None:
        pass


class SizedChunks:
    """An iterable with a length that is not a sequence."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


@pytest.mark.parametrize("body", [Rows([b"ok"]), SizedChunks(b"ok")], ids=["list", "sized"])
def test_wsgi_body_keeps_its_length(alerter: erralert.Alerter, body: Iterable[bytes]) -> None:
    # servers set Content-Length from the one chunk when len(body) == 1
    result = wrapped_body(alerter, body)
    assert result is not body
    assert len(result) == 1  # type: ignore[arg-type]
    assert list(result) == [b"ok"]


def test_wsgi_body_without_a_length_has_none(alerter: erralert.Alerter) -> None:
    # waitress asks hasattr(body, "__len__") before len(): the wrapper must not invent one
    result = wrapped_body(alerter, iter([b"ok"]))
    assert not hasattr(result, "__len__")
    assert list(result) == [b"ok"]

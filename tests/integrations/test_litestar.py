"""Litestar: the plugin's hooks (after_exception + before_send: the answer's status
decides), late failures of streamed responses, quiet answers and departures, and the
reference app under a real uvicorn, with uvicorn's error logger routed to erralert."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, Response, Router, WebSocket, get, post, websocket
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    LitestarException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers import BaseRouteHandler, asgi
from litestar.response import Stream
from litestar.testing import TestClient
from litestar.types import Receive, Scope, Send

import erralert
from erralert._core.event import Event
from erralert.integrations.litestar import ErrAlertPlugin
from erralert.testing import CapturedAlert, capture_alerts
from tests.integrations.test_starlette import (
    assert_one_alert_per_error,
    fresh_connections,
    logging_config,
    read_into,
    reference_env,
    uvicorn_logging_to_erralert,
)
from tests.receiver import Answer, Receiver
from tests.servers import uvicorn_process

ROOT = Path(__file__).resolve().parent.parent.parent
SLACK = "slack://T000/B000/XXXXXXXX"

# Litestar 2.2x prefers FromPath[int] to "{item_id:int}"; the plain style works on every 2.x
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated inferred style:DeprecationWarning")


@pytest.fixture
def alerter() -> Iterator[erralert.Alerter]:
    a = erralert.Alerter([SLACK], window=300)
    yield a
    a.close(0.1)


@pytest.fixture
def alerts() -> Iterator[list[CapturedAlert]]:
    with capture_alerts() as captured:
        yield captured


def events(alerts: list[CapturedAlert]) -> list[Event]:
    return [a.notice.event for a in alerts if a.kind == "alert"]


def requests(alerts: list[CapturedAlert]) -> list[tuple[str, str | None, str | None, str | None]]:
    """(title, method, path, route template) of each alert."""
    found = []
    for event in events(alerts):
        assert event.request is not None
        request = event.request
        found.append((event.title, request.method, request.path, request.route))
    return found


class Conflict(Exception):
    pass


class DatabaseDown(Exception):
    pass


class HandlerBug(Exception):
    pass


def conflict(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    return Response({"error": "conflict"}, status_code=409)


def database_down(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    return Response({"error": "try later"}, status_code=503)


def broken_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    raise RuntimeError("the error page itself failed")


def admins_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    raise PermissionDeniedException("admins only")


@get("/items/{item_id:int}", sync_to_thread=False)
def item(item_id: int) -> str:
    raise ValueError(f"item {item_id} has no price")


@post("/orders/{order_id:int}/pay", sync_to_thread=False)
def pay(order_id: int) -> str:
    raise LookupError(f"no card for order {order_id}")


@get("/missing", sync_to_thread=False)
def missing() -> str:
    raise NotFoundException("no such thing")


@get("/search", sync_to_thread=False)
def search(limit: int) -> str:
    return str(limit)  # ?limit=many: ValidationException (400)


@get("/admin", guards=[admins_only], sync_to_thread=False)
def admin() -> str:
    return "secret"


@get("/conflict", sync_to_thread=False)
def conflicting() -> str:
    raise Conflict("version 3 is not the latest")


@get("/db", sync_to_thread=False)
def db() -> str:
    raise DatabaseDown("primary unreachable")


@get("/maintenance", sync_to_thread=False)
def maintenance() -> str:
    raise ServiceUnavailableException("back at noon")


@get("/bug", sync_to_thread=False)
def bug() -> str:
    raise HandlerBug("the answer to this fails too")


@post("/upload")
async def upload(request: Request[Any, Any, Any]) -> str:
    return str(len(await request.body()))


@get("/exports/{name:str}")
async def export(name: str) -> Stream:
    async def rows() -> AsyncIterator[str]:
        yield "a,b\n"
        raise RuntimeError(f"export {name} lost its cursor")

    return Stream(rows())


@websocket("/rooms/{room:str}")
async def room(socket: WebSocket[Any, Any, Any], room: str) -> None:
    await socket.accept()
    message = await socket.receive_text()  # raises WebSocketDisconnect if the client left
    raise ConnectionError(f"room {room} lost its backend after {message!r}")


@asgi("/files", is_mount=True, copy_scope=True)
async def files(scope: Scope, receive: Receive, send: Send) -> None:
    raise OSError("file store unreachable")


HANDLERS = [
    Router("/api/{version:str}", route_handlers=[item]),
    pay,
    missing,
    search,
    admin,
    conflicting,
    db,
    maintenance,
    bug,
    upload,
    export,
    room,
    files,
]


def make_app(plugin: ErrAlertPlugin) -> Litestar:
    return Litestar(
        HANDLERS,
        plugins=[plugin],
        exception_handlers={
            Conflict: conflict,
            DatabaseDown: database_down,
            HandlerBug: broken_handler,
        },
    )


@pytest.fixture
def client(alerter: erralert.Alerter) -> Iterator[TestClient[Litestar]]:
    with TestClient(make_app(ErrAlertPlugin(alerter))) as client:
        yield client


# -- failures -------------------------------------------------------------------------------------
def test_failing_route_alerts_once_with_template_and_method(
    client: TestClient[Litestar], alerts: list[CapturedAlert]
) -> None:
    for _ in range(3):
        assert client.get("/api/v2/items/7").status_code == 500
        assert client.post("/orders/42/pay").status_code == 500
    assert requests(alerts) == [
        (
            "ValueError: item 7 has no price",
            "GET",
            "/api/v2/items/7",
            "/api/{version}/items/{item_id}",
        ),
        ("LookupError: no card for order 42", "POST", "/orders/42/pay", "/orders/{order_id}/pay"),
    ]
    assert events(alerts)[0].frames[-1].function == "item"


def test_answers_below_500_are_quiet(
    client: TestClient[Litestar], alerts: list[CapturedAlert]
) -> None:
    assert client.get("/missing").status_code == 404  # NotFoundException
    assert client.get("/no/such/page").status_code == 404  # routing
    assert client.post("/missing").status_code == 405
    assert client.get("/search", params={"limit": "many"}).status_code == 400
    assert client.get("/admin").status_code == 403  # a guard
    assert client.get("/conflict").status_code == 409  # the app's exception handler
    assert alerts == []


def test_5xx_answers_alert(client: TestClient[Litestar], alerts: list[CapturedAlert]) -> None:
    assert client.get("/db").status_code == 503  # the app's handler answers 503
    assert client.get("/maintenance").status_code == 503  # raised on purpose
    assert client.get("/bug").status_code == 500  # the handler itself failed
    titles = [event.title for event in events(alerts)]
    assert titles == [
        "DatabaseDown: primary unreachable",
        "ServiceUnavailableException: 503: back at noon",
        "RuntimeError: the error page itself failed",
    ]
    assert [route for *_, route in requests(alerts)] == ["/db", "/maintenance", "/bug"]


def test_capture_http_5xx_false_keeps_http_exceptions_quiet(alerts: list[CapturedAlert]) -> None:
    plugin = ErrAlertPlugin(webhooks=[SLACK], capture_http_5xx=False)
    with TestClient(make_app(plugin)) as client:
        assert client.get("/maintenance").status_code == 503
        assert client.get("/db").status_code == 503
        assert client.get("/api/v1/items/1").status_code == 500
    assert [event.title for event in events(alerts)] == [
        "DatabaseDown: primary unreachable",
        "ValueError: item 1 has no price",
    ]
    assert plugin.alerter is not None
    plugin.alerter.close(0.1)


def test_mounted_app_alerts_with_its_whole_path(
    client: TestClient[Litestar], alerts: list[CapturedAlert]
) -> None:
    assert client.get("/files/reports/q3.pdf").status_code == 500
    assert requests(alerts) == [
        ("OSError: file store unreachable", "GET", "/files/reports/q3.pdf", None)
    ]


# -- websockets -----------------------------------------------------------------------------------
def test_websocket_failure_alerts(
    client: TestClient[Litestar], alerts: list[CapturedAlert]
) -> None:
    with client.websocket_connect("/rooms/lobby") as socket:
        socket.send_text("hello")
        with pytest.raises(Exception, match="Internal Server Error"):
            socket.receive_text()
    assert requests(alerts) == [
        (
            "ConnectionError: room lobby lost its backend after 'hello'",
            "WEBSOCKET",
            "/rooms/lobby",
            "/rooms/{room}",
        )
    ]


def test_websocket_client_leaving_is_quiet(
    client: TestClient[Litestar], alerts: list[CapturedAlert]
) -> None:
    with client.websocket_connect("/rooms/lobby") as socket:
        socket.close()
    assert alerts == []


# -- client disconnect ----------------------------------------------------------------------------
def test_client_disconnect_is_quiet(alerter: erralert.Alerter, alerts: list[CapturedAlert]) -> None:
    app = make_app(ErrAlertPlugin(alerter))
    incoming: list[dict[str, Any]] = [{"type": "http.request", "body": b"hello", "more_body": True}]
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "raw_path": b"/upload",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"shop.example"), (b"content-length", b"10")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 500  # Litestar's answer to the vanished client
    assert alerts == []


# -- streamed responses ---------------------------------------------------------------------------
def test_stream_failure_alerts_once_and_its_wrapper_is_marked(
    alerter: erralert.Alerter, client: TestClient[Litestar], alerts: list[CapturedAlert]
) -> None:
    wrappers = []
    for _ in range(2):
        with pytest.raises(LitestarException, match="after response started") as info:
            client.get("/exports/q3")
        wrappers.append(info.value)
    assert requests(alerts) == [
        ("RuntimeError: export q3 lost its cursor", "GET", "/exports/q3", "/exports/{name}")
    ]
    # what the server would log: already alerted, so a logging hook adds nothing
    assert alerter.capture_exception(wrappers[0]) is None
    assert len(alerts) == 1


def test_stream_failure_alerts_without_a_lifespan(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    client = TestClient(make_app(ErrAlertPlugin(alerter)))  # no `with`: no lifespan
    with pytest.raises(LitestarException):
        client.get("/exports/q4")
    assert [event.title for event in events(alerts)] == ["RuntimeError: export q4 lost its cursor"]


# -- configuration and lifespan -------------------------------------------------------------------
def test_default_alerter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, alerts: list[CapturedAlert]
) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", SLACK)
    monkeypatch.setenv("ERRALERT_SERVICE", "shop")
    with TestClient(make_app(ErrAlertPlugin())) as client:
        client.get("/api/v1/items/1")
    assert [event.service for event in events(alerts)] == ["shop"]


def test_end_of_lifespan_delivers_the_queue_and_open_windows(alerter: erralert.Alerter) -> None:
    """uvicorn skips atexit hooks: the lifespan's end is the last chance to send repeats."""
    app = make_app(ErrAlertPlugin(alerter))
    handler = app.asgi_handler
    with capture_alerts() as alerts:
        with TestClient(app) as client:
            assert app.asgi_handler is not handler  # wrapped while the app runs
            for _ in range(3):
                assert client.get("/api/v2/items/7").status_code == 500
            assert [a.kind for a in alerts] == ["alert"]
        assert app.asgi_handler is handler
        assert [a.kind for a in alerts] == ["alert", "digest"]
        assert alerts[1].notice.occurrences.count == 2


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litestar", None)
    monkeypatch.delitem(sys.modules, "erralert.integrations.litestar")
    with pytest.raises(ImportError, match=r"pip install 'erralert\[litestar\]'") as info:
        importlib.import_module("erralert.integrations.litestar")
    assert "erralert.integrations.litestar needs Litestar" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_reference_app_has_exactly_one_erralert_line() -> None:
    source = (ROOT / "integrations" / "litestar_app.py").read_text()
    marked = [line for line in source.splitlines() if "# erralert: the one line" in line]
    assert marked == ["    plugins=[ErrAlertPlugin()],  # erralert: the one line"]
    assert "\nfrom erralert.integrations.litestar import ErrAlertPlugin\n" in source


# -- end to end: the reference app under uvicorn --------------------------------------------------
EXPECTED = {  # exception type -> (method, route template, path, requests made)
    "PaymentDeclined": ("POST", "/orders/{order_id}/pay", "/orders/42/pay", 3),
    "KeyError": ("GET", "/api/{version}/inventory/{sku}", "/api/v1/inventory/ghost", 3),
    "RuntimeError": ("GET", "/orders/{order_id}/export", "/orders/42/export", 2),
}


def drive_reference_app(base: str) -> None:
    with fresh_connections(base) as client:
        for _ in range(3):
            response = client.post("/orders/42/pay")
            assert response.status_code == 500
            assert response.json() == {"status_code": 500, "detail": "Internal Server Error"}
            assert client.get("/api/v1/inventory/ghost").status_code == 500
        assert client.get("/orders/999").status_code == 404  # NotFoundException
        assert client.get("/no/such/page").status_code == 404
        for _ in range(2):
            chunks: list[bytes] = []
            with client.stream("GET", "/orders/42/export") as stream:
                assert stream.status_code == 200
                with pytest.raises(httpx.RemoteProtocolError):  # closed mid-body
                    read_into(chunks, stream)
            assert b"".join(chunks) == b"item,quantity\nespresso,3\ncroissant,2\n"
        assert client.get("/health").json() == {"status": "ok"}  # still serving


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_reference_app_under_uvicorn(receiver: Receiver) -> None:
    receiver.default = Answer(delay=0.25)  # alerts still queued when the server stops
    with uvicorn_process("integrations.litestar_app:app", env=reference_env(receiver)) as base:
        drive_reference_app(base)
    assert_one_alert_per_error(receiver, EXPECTED, counts=False)


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_uvicorn_error_logger_and_plugin_alert_once(receiver: Receiver, tmp_path: Path) -> None:
    log_file = tmp_path / "uvicorn-errors.log"
    config = logging_config(tmp_path / "logging.json", log_file)
    env = reference_env(receiver, window=3)
    with uvicorn_logging_to_erralert("integrations.litestar_app:app", env, config) as base:
        drive_reference_app(base)
        assert len(receiver.wait_for(6, timeout=20)) >= 6  # 3 alerts, then 3 digests
    assert_one_alert_per_error(receiver, EXPECTED, counts=True)
    # Litestar answers the other failures itself; the late ones reach uvicorn, which logs
    # them (wrapped) to the logger erralert listens to
    logged = log_file.read_text()
    assert logged.count("ERROR uvicorn.error Exception in ASGI application") == 2

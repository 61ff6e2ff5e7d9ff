"""Starlette and FastAPI: route templates (included routers, mounts, older Starlette),
handled 5xx answers (capture_http_5xx), quiet disconnects and 404s, streaming failures,
and the FastAPI reference app under a real uvicorn, with uvicorn's error logger routed
to erralert as well."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

import erralert
from erralert._core.event import Event
from erralert.integrations.asgi import ReportedScope, client_disconnected
from erralert.integrations.starlette import ErrAlertMiddleware, route_template
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Answer, Receiver
from tests.servers import free_port, server_process, uvicorn_process

ROOT = Path(__file__).resolve().parent.parent.parent
SLACK = "slack://T000/B000/XXXXXXXX"


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


def routes(alerts: list[CapturedAlert]) -> list[tuple[str | None, str | None, str | None]]:
    """(method, path, route template) of each alert's request."""
    found = []
    for event in events(alerts):
        assert event.request is not None
        found.append((event.request.method, event.request.path, event.request.route))
    return found


def fails(message: str) -> None:
    raise ValueError(message)


# -- route templates ------------------------------------------------------------------------------
def shop(alerter: erralert.Alerter) -> FastAPI:
    """A FastAPI app with a failing route at every kind of place a route can be."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> None:
        fails(f"item {item_id}")

    inner = APIRouter(prefix="/inner")

    @inner.get("/things/{thing_id}")
    def thing(thing_id: int) -> None:
        fails(f"thing {thing_id}")

    router = APIRouter()

    @router.get("/orders/{order_id}")
    def order(order_id: int) -> None:
        fails(f"order {order_id}")

    router.include_router(inner, prefix="/nest")
    app.include_router(router, prefix="/api/{version}")

    sub = FastAPI()

    @sub.get("/jobs/{job_id}")
    def job(job_id: int) -> None:
        fails(f"job {job_id}")

    sub_router = APIRouter(prefix="/reports")

    @sub_router.get("/{name}")
    def report(name: str) -> None:
        fails(f"report {name}")

    sub.include_router(sub_router)
    app.mount("/tenants/{tenant}", sub)

    async def page(request: Request) -> Response:
        fails("page")
        return Response()

    plain = Starlette(
        routes=[
            Route("/pages/{page_id:int}", page),
            Mount("/v{major}", routes=[Mount("/sections/{section}", routes=[Route("/{p}", page)])]),
        ]
    )
    app.mount("/site", plain)
    app.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    return app


TEMPLATES = [
    ("/items/7", "/items/{item_id}"),
    ("/api/v2/orders/7", "/api/{version}/orders/{order_id}"),
    ("/api/v2/nest/inner/things/7", "/api/{version}/nest/inner/things/{thing_id}"),
    ("/tenants/acme/jobs/7", "/tenants/{tenant}/jobs/{job_id}"),
    ("/tenants/acme/reports/q3", "/tenants/{tenant}/reports/{name}"),
    ("/site/pages/7", "/site/pages/{page_id}"),  # the :int converter is left out
    ("/site/v3/sections/intro/p1", "/site/v{major}/sections/{section}/{p}"),
]


@pytest.mark.parametrize(("path", "template"), TEMPLATES)
def test_alert_names_the_full_route_template(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], path: str, template: str
) -> None:
    client = TestClient(shop(alerter), raise_server_exceptions=False)
    assert client.get(path).status_code == 500
    assert routes(alerts) == [("GET", path, template)]


class ScopeSpy:
    """Innermost-but-one middleware keeping the scope as routing left it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            self.scopes.append(scope)


# FastAPI >= 0.120 keeps included routers whole (their routes match only through FastAPI's
# own routing) and always records the route it chose; older versions copied the routes of
# an included router, prefix and all, into the app's router, like plain routes here
UNINCLUDED = [(path, template) for path, template in TEMPLATES if not path.startswith("/api/")]
UNINCLUDED.remove(("/tenants/acme/reports/q3", "/tenants/{tenant}/reports/{name}"))


@pytest.mark.parametrize(("path", "template"), UNINCLUDED)
def test_template_found_again_when_routing_recorded_nothing(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], path: str, template: str
) -> None:
    """Starlette before scope["route"] existed leaves only the router in the scope: the
    routes are matched again, mounts included."""
    spy = ScopeSpy(shop(alerter))
    TestClient(spy, raise_server_exceptions=False).get(path)
    (scope,) = spy.scopes
    assert route_template(scope) == template
    bare = {k: v for k, v in scope.items() if k not in ("route", "fastapi")}
    assert route_template(bare) == template


def test_no_template_for_a_404_or_a_non_starlette_scope(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    spy = ScopeSpy(shop(alerter))
    TestClient(spy).get("/no/such/page")
    assert route_template(spy.scopes[0]) is None
    assert route_template({"type": "http", "path": "/x", "route": object()}) is None
    assert route_template({"type": "http", "path": "/x", "router": "not a router"}) is None


def test_template_is_worked_out_once_not_for_every_repeat(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    reads: list[str] = []

    def reader(scope: Any) -> str:
        reads.append(scope["path"])
        return "/items/{item_id}"

    scope = {"type": "http", "method": "GET", "path": "/items/1", "headers": []}
    for i in range(5):
        try:
            fails(f"item {i}")
        except ValueError as exc:
            alerter.capture_exception(exc, request=ReportedScope(scope, reader))
    assert reads == ["/items/1"]  # for the alert; the repeats only count
    assert routes(alerts) == [("GET", "/items/1", "/items/{item_id}")]


def test_a_failing_route_reader_leaves_the_scope_route(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    def broken(scope: Any) -> str:
        raise RuntimeError("reader broke")

    class Route_:
        path = "/from/{scope}"

    scope = {"type": "http", "method": "GET", "path": "/from/x", "headers": [], "route": Route_()}
    try:
        fails("x")
    except ValueError as exc:
        alerter.capture_exception(exc, request=ReportedScope(scope, broken))
    assert routes(alerts) == [("GET", "/from/x", "/from/{scope}")]


# -- quiet: answers and departures ----------------------------------------------------------------
def quiet_app(alerter: erralert.Alerter, middleware: type[erralert.ASGIMiddleware]) -> FastAPI:
    app = FastAPI()

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(404, "no such thing")

    @app.get("/unavailable")
    def unavailable() -> None:
        raise HTTPException(503, "maintenance")

    @app.post("/upload")
    async def upload(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()  # the client is gone: WebSocketDisconnect

    app.router.routes.append(WebSocketRoute("/feed", feed))
    app.add_middleware(middleware, alerter=alerter)
    return app


@pytest.mark.parametrize("middleware", [erralert.ASGIMiddleware, ErrAlertMiddleware])
def test_404s_are_answers(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], middleware: Any
) -> None:
    client = TestClient(quiet_app(alerter, middleware))
    assert client.get("/missing").status_code == 404  # HTTPException(404)
    assert client.get("/no/such/route").status_code == 404
    assert client.post("/missing").status_code == 405
    assert client.get("/unavailable").status_code == 503  # handled: quiet by default
    assert alerts == []


def run_asgi(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[Any]:
    """Call ``app`` once with scripted incoming messages; return what it sent."""
    sent: list[Any] = []
    incoming = list(messages)

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


HTTP_SCOPE = {
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


@pytest.mark.parametrize("middleware", [erralert.ASGIMiddleware, ErrAlertMiddleware])
def test_client_disconnect_is_not_an_alert(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], middleware: Any
) -> None:
    app = quiet_app(alerter, middleware)
    # the body stops half-way: the client went away while the app was reading it
    messages = [{"type": "http.request", "body": b"hello", "more_body": True}]
    with pytest.raises(ClientDisconnect):
        run_asgi(app, dict(HTTP_SCOPE), messages)
    assert alerts == []


def test_websocket_client_leaving_is_not_an_alert(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    client = TestClient(quiet_app(alerter, erralert.ASGIMiddleware))
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/feed") as websocket:
        websocket.close()
    assert alerts == []


def test_cancellation_is_not_an_alert(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError  # the server cancels the task of a vanished client

    with pytest.raises(asyncio.CancelledError):
        run_asgi(erralert.ASGIMiddleware(app, alerter=alerter), dict(HTTP_SCOPE), [])
    assert alerts == []


def test_client_disconnected() -> None:
    from uvicorn.protocols.utils import ClientDisconnected

    assert client_disconnected(ClientDisconnect())
    assert client_disconnected(WebSocketDisconnect(1001))
    assert client_disconnected(ClientDisconnected())
    assert client_disconnected(ExceptionGroup("gone", [ClientDisconnect(), ClientDisconnect()]))
    assert not client_disconnected(ExceptionGroup("mixed", [ClientDisconnect(), ValueError()]))
    assert not client_disconnected(ConnectionResetError())  # e.g. the app's database went away
    assert not client_disconnected(ValueError())


# -- capture_http_5xx -----------------------------------------------------------------------------
class DatabaseDown(Exception):
    pass


class Overdrawn(Exception):
    pass


def handled_app() -> FastAPI:
    app = FastAPI()

    @app.get("/maintenance/{area}")
    def maintenance(area: str) -> None:
        raise HTTPException(503, f"{area} under maintenance")

    @app.get("/db")
    async def db() -> None:
        raise DatabaseDown("primary unreachable")

    @app.get("/account")
    def account() -> None:
        raise Overdrawn("balance below zero")

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(404)

    @app.get("/broken")
    def broken() -> None:
        fails("unhandled")

    @app.exception_handler(DatabaseDown)
    async def database_down(request: Request, exc: DatabaseDown) -> JSONResponse:
        return JSONResponse({"error": "try later"}, status_code=503)

    @app.exception_handler(Overdrawn)
    def overdrawn(request: Request, exc: Overdrawn) -> JSONResponse:  # sync: in a thread
        return JSONResponse({"error": "overdrawn"}, status_code=402)

    return app


def test_handled_5xx_alert_with_capture_http_5xx(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = handled_app()
    app.add_middleware(ErrAlertMiddleware, alerter=alerter, capture_http_5xx=True)
    client = TestClient(app, raise_server_exceptions=False)
    for _ in range(3):
        assert client.get("/maintenance/billing").status_code == 503
        assert client.get("/db").status_code == 503
        assert client.get("/account").status_code == 402  # handled below 500: quiet
        assert client.get("/missing").status_code == 404  # quiet
        assert client.get("/broken").status_code == 500  # unhandled: as always
    assert routes(alerts) == [
        ("GET", "/maintenance/billing", "/maintenance/{area}"),
        ("GET", "/db", "/db"),
        ("GET", "/broken", "/broken"),
    ]
    http_exception, database_down, broken = events(alerts)
    assert http_exception.title == "HTTPException: 503: billing under maintenance"
    assert http_exception.frames[-1].function == "handled_app.<locals>.maintenance"
    assert database_down.title == "DatabaseDown: primary unreachable"
    assert broken.title == "ValueError: unhandled"


def test_handled_5xx_quiet_without_the_option(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    for middleware in (ErrAlertMiddleware, erralert.ASGIMiddleware):
        app = handled_app()
        app.add_middleware(middleware, alerter=alerter)
        client = TestClient(app, raise_server_exceptions=False)
        assert client.get("/maintenance/billing").status_code == 503
        assert client.get("/db").status_code == 503
    assert alerts == []


def test_capture_http_5xx_on_plain_starlette(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    async def gone(request: Request) -> Response:
        raise StarletteHTTPException(502, "upstream gone")

    app = Starlette(routes=[Route("/proxy/{target}", gone)])
    app.add_middleware(ErrAlertMiddleware, alerter=alerter, capture_http_5xx=True)
    assert TestClient(app).get("/proxy/billing").status_code == 502
    assert routes(alerts) == [("GET", "/proxy/billing", "/proxy/{target}")]


async def passthrough(request: Request, call_next: RequestResponseEndpoint) -> Response:
    return await call_next(request)


def test_capture_http_5xx_under_a_base_http_middleware(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    """Added first, ErrAlertMiddleware sits under a BaseHTTPMiddleware added later."""
    app = handled_app()
    app.add_middleware(ErrAlertMiddleware, alerter=alerter, capture_http_5xx=True)
    app.add_middleware(BaseHTTPMiddleware, dispatch=passthrough)
    assert TestClient(app).get("/maintenance/billing").status_code == 503
    assert routes(alerts) == [("GET", "/maintenance/billing", "/maintenance/{area}")]


def test_capture_http_5xx_and_the_raw_middleware_alert_once(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = handled_app()
    app.add_middleware(ErrAlertMiddleware, alerter=alerter, capture_http_5xx=True)
    app.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/broken").status_code == 500
    assert client.get("/db").status_code == 503
    assert [e.title for e in events(alerts)] == [
        "ValueError: unhandled",
        "DatabaseDown: primary unreachable",
    ]


def test_err_alert_middleware_with_its_own_options() -> None:
    app = handled_app()
    app.add_middleware(ErrAlertMiddleware, webhooks=[SLACK], service="billing")
    with capture_alerts() as captured:
        TestClient(app, raise_server_exceptions=False).get("/broken")
    assert [e.service for e in events(captured)] == ["billing"]


# -- streaming ------------------------------------------------------------------------------------
def test_streaming_failure_alerts_once_with_route(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = FastAPI()

    @app.get("/exports/{name}")
    def export(name: str) -> StreamingResponse:
        def rows() -> Iterator[str]:
            yield "a,b\n"
            raise RuntimeError(f"export {name} lost its cursor")

        return StreamingResponse(rows(), media_type="text/csv")

    app.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    client = TestClient(app)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="lost its cursor"):
            client.get("/exports/q3")
    assert routes(alerts) == [("GET", "/exports/q3", "/exports/{name}")]


# -- the end of the lifespan -----------------------------------------------------------------------
def test_end_of_lifespan_delivers_the_queue_and_open_windows(alerter: erralert.Alerter) -> None:
    """uvicorn skips atexit hooks: the lifespan's end is the last chance to send repeats."""
    app = handled_app()
    app.add_middleware(ErrAlertMiddleware, alerter=alerter)
    with capture_alerts() as alerts:
        with TestClient(app, raise_server_exceptions=False) as client:
            for _ in range(3):
                assert client.get("/broken").status_code == 500
            assert [a.kind for a in alerts] == ["alert"]
        assert [a.kind for a in alerts] == ["alert", "digest"]
        assert alerts[1].notice.occurrences.count == 2


def test_end_of_lifespan_builds_no_default_alerter() -> None:
    from erralert import _default

    app = handled_app()
    app.add_middleware(erralert.ASGIMiddleware)
    with TestClient(app):
        pass
    assert _default.current() is None


# -- packaging and the reference app --------------------------------------------------------------
def test_needs_only_starlette(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # FastAPI is optional
    monkeypatch.delitem(sys.modules, "erralert.integrations.starlette")
    module = importlib.import_module("erralert.integrations.starlette")
    assert module.ErrAlertMiddleware.__mro__[1] is erralert.ASGIMiddleware


def test_reference_app_has_exactly_one_erralert_line() -> None:
    source = (ROOT / "integrations" / "fastapi_app.py").read_text()
    marked = [line for line in source.splitlines() if "# erralert: the one line" in line]
    assert marked == ["app.add_middleware(erralert.ASGIMiddleware)  # erralert: the one line"]
    assert "\nimport erralert\n" in source


# -- end to end: the reference app under uvicorn --------------------------------------------------
EXPECTED = {  # exception type -> (method, route template, path, requests made)
    "PaymentDeclined": ("POST", "/orders/{order_id}/pay", "/orders/42/pay", 3),
    "KeyError": ("GET", "/api/{version}/inventory/{sku}", "/api/v1/inventory/ghost", 3),
    "TimeoutError": ("GET", "/admin/jobs/{job_id}", "/admin/jobs/7", 3),
    "RuntimeError": ("GET", "/orders/{order_id}/export", "/orders/42/export", 2),
}


def read_into(chunks: list[bytes], stream: httpx.Response) -> None:
    for chunk in stream.iter_bytes():
        chunks.append(chunk)


def fresh_connections(base: str) -> httpx.Client:
    # uvicorn closes the connection of a request whose app raised after answering: a
    # client reusing it would race the close
    return httpx.Client(base_url=base, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


def drive_reference_app(base: str) -> None:
    with fresh_connections(base) as client:
        for _ in range(3):
            response = client.post("/orders/42/pay")
            assert (response.status_code, response.text) == (500, "Internal Server Error")
            assert client.get("/api/v1/inventory/ghost").status_code == 500
            assert client.get("/admin/jobs/7").status_code == 500
        assert client.get("/orders/999").status_code == 404  # HTTPException(404)
        assert client.get("/no/such/page").status_code == 404
        for _ in range(2):
            chunks: list[bytes] = []
            with client.stream("GET", "/orders/42/export") as stream:
                assert stream.status_code == 200
                with pytest.raises(httpx.RemoteProtocolError):  # closed mid-body
                    read_into(chunks, stream)
            assert b"".join(chunks) == b"item,quantity\nespresso,3\ncroissant,2\n"
        assert client.get("/health").json() == {"status": "ok"}  # still serving


def assert_one_alert_per_error(
    receiver: Receiver, expected: dict[str, tuple[str, str, str, int]], *, counts: bool
) -> None:
    """Exactly one alert per distinct error, with its request; with ``counts``, the
    digests that followed report every request exactly once."""
    documents = [r.json for r in receiver.requests]
    alerts = [d for d in documents if d["kind"] == "alert"]
    by_type = {d["event"]["exceptions"][-1]["type"]: d for d in alerts}
    assert len(alerts) == len(by_type) == len(expected), [d["event"]["title"] for d in alerts]
    assert set(by_type) == set(expected)
    for kind, (method, route, path, hits) in expected.items():
        request = by_type[kind]["event"]["request"]
        assert (request["method"], request["route"], request["path"]) == (method, route, path)
        if counts:  # a second capture of the same error by another hook would count twice
            fingerprint = by_type[kind]["event"]["fingerprint"]
            counted = [
                d["occurrences"]["count"]
                for d in documents
                if d["event"]["fingerprint"] == fingerprint
            ]
            assert sum(counted) == hits, (kind, counted)


def reference_env(receiver: Receiver, window: float = 300) -> dict[str, str]:
    return {"ERRALERT_WEBHOOKS": f"webhook+{receiver.base}/hook", "ERRALERT_WINDOW": str(window)}


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_reference_app_under_uvicorn(receiver: Receiver) -> None:
    # a slow chat: alerts are still queued when the server is told to stop
    receiver.default = Answer(delay=0.25)
    with uvicorn_process("integrations.fastapi_app:app", env=reference_env(receiver)) as base:
        drive_reference_app(base)
    # uvicorn re-raises SIGTERM after its shutdown (no atexit hooks): the middleware
    # delivered the queue at the end of the lifespan
    assert_one_alert_per_error(receiver, EXPECTED, counts=False)


def logging_config(path: Path, log_file: Path) -> Path:
    """uvicorn --log-config: its error logger ("Exception in ASGI application", with the
    exception) goes to erralert as well, and to a file the test reads."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "erralert": {"class": "erralert.LoggingHandler", "level": "ERROR"},
            "file": {
                "class": "logging.FileHandler",
                "filename": str(log_file),
                "formatter": "plain",
            },
        },
        "loggers": {
            "uvicorn.error": {"handlers": ["erralert", "file"], "level": "INFO", "propagate": False}
        },
    }
    path.write_text(json.dumps(config))
    return path


@contextmanager
def uvicorn_logging_to_erralert(app: str, env: dict[str, str], log_config: Path) -> Iterator[str]:
    """``uvicorn app --log-config log_config`` as a subprocess on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    with server_process([*argv, "--log-config", str(log_config)], port, env) as url:
        yield url


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_uvicorn_error_logger_and_middleware_alert_once(receiver: Receiver, tmp_path: Path) -> None:
    log_file = tmp_path / "uvicorn-errors.log"
    config = logging_config(tmp_path / "logging.json", log_file)
    # a short window, so that the digests of the repeats come while the server runs
    env = reference_env(receiver, window=3)
    with uvicorn_logging_to_erralert("integrations.fastapi_app:app", env, config) as base:
        drive_reference_app(base)
        # 4 alerts, then one digest per error when its window ends
        assert len(receiver.wait_for(8, timeout=20)) >= 8
    assert_one_alert_per_error(receiver, EXPECTED, counts=True)
    # uvicorn did log each failure with its exception, to the logger erralert listens to
    logged = log_file.read_text()
    assert logged.count("ERROR uvicorn.error Exception in ASGI application") == 11

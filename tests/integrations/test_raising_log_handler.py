"""A handler on the ``erralert`` logger that raises never changes what the application sees.

erralert logs its own failures (here: a ``before_send`` hook that raises) on the
application's thread, from inside the middleware's ``except`` block; a handler the
application put on the ``erralert`` logger may raise, and that exception must not take the
place of the application's own.
"""

from __future__ import annotations

import ast
import asyncio
import io
import logging
import sys
import wsgiref.util
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import flask
import httpx
import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

import erralert
import erralert.integrations.flask
import tests.integrations.test_django  # noqa: F401  configures Django as the suite does
from erralert._core.event import Event
from erralert._core.safelog import safe_logger

PACKAGE = Path(erralert.__file__).parent


class RaisingHandler(logging.Handler):
    """An application's handler whose disk is full."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        raise OSError("no space left on the log disk")


@pytest.fixture
def raising_handler() -> Iterator[RaisingHandler]:
    handler = RaisingHandler()
    erralert_logger = logging.getLogger("erralert")
    erralert_logger.addHandler(handler)
    yield handler
    erralert_logger.removeHandler(handler)


def _broken_hook(event: Event) -> Event:
    raise RuntimeError("before_send broke")


@pytest.fixture
def failing_alerter() -> erralert.Alerter:
    """The default alerter, whose every capture fails and is logged by erralert."""
    return erralert.init(
        webhooks=["https://hooks.slack.com/services/T0/B0/X"],
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        before_send=_broken_hook,
    )


# -- the applications, each failing with a KeyError -------------------------------------------
def lookup() -> NoReturn:
    raise KeyError("order-42")


def run_asgi() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        lookup()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    asyncio.run(erralert.ASGIMiddleware(app)(scope, receive, send))


def run_wsgi() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        lookup()

    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    erralert.WSGIMiddleware(app)(environ, lambda status, headers, exc_info=None: None)


def run_flask() -> None:
    app = flask.Flask(__name__)
    app.testing = True  # the test client raises what the app raised

    @app.route("/")
    def index() -> str:
        lookup()

    erralert.integrations.flask.init_app(app)
    app.test_client().get("/")


def fail(request: HttpRequest) -> HttpResponse:
    lookup()


urlpatterns = [path("fail", fail)]


def run_django() -> None:
    with override_settings(
        ROOT_URLCONF=__name__, MIDDLEWARE=["erralert.integrations.django.ErrAlertMiddleware"]
    ):
        Client(raise_request_exception=True).get("/fail")


def run_logging_handler() -> None:
    shop = logging.getLogger("shop.orders")
    handler = erralert.LoggingHandler()
    shop.addHandler(handler)
    try:
        try:
            lookup()
        except KeyError:
            shop.exception("the order lookup failed")
            raise
    finally:
        shop.removeHandler(handler)


@pytest.mark.parametrize(
    "run",
    [run_asgi, run_wsgi, run_flask, run_django, run_logging_handler],
    ids=["asgi", "wsgi", "flask", "django", "logging-handler"],
)
@pytest.mark.usefixtures("failing_alerter")
def test_the_app_sees_its_own_exception(
    run: Callable[[], None],
    raising_handler: RaisingHandler,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(KeyError, match="order-42") as raised:
        run()
    assert raised.value.__context__ is None  # nothing of erralert's was raised on the way
    assert raising_handler.calls == 1  # erralert did log its failure, and the handler raised
    assert "Logging error" not in capsys.readouterr().err  # nor did logging complain


# -- the logger itself ---------------------------------------------------------------------------
class RaisingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        raise ValueError("a filter that breaks")


def test_a_safe_logger_returns_whatever_its_handlers_and_filters_do(
    raising_handler: RaisingHandler,
) -> None:
    logger = safe_logger()
    logger.error("erralert: %s", "one")
    logger.warning("erralert: two")
    try:
        raise KeyError("in flight")
    except KeyError:
        logger.exception("erralert: three")
        assert sys.exc_info()[0] is KeyError  # the exception being handled is untouched
    assert raising_handler.calls == 3
    broken = RaisingFilter()
    logging.getLogger("erralert").addFilter(broken)
    try:
        logger.error("erralert: four")
    finally:
        logging.getLogger("erralert").removeFilter(broken)
    assert raising_handler.calls == 3  # the filter broke first


def test_a_record_names_the_line_that_logged() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(module)s.%(funcName)s:%(lineno)d %(message)s"))
    erralert_logger = logging.getLogger("erralert")
    erralert_logger.addHandler(handler)
    try:
        line = sys._getframe().f_lineno + 1
        safe_logger().log(logging.ERROR, "erralert: %d message(s) undelivered", 3)
    finally:
        erralert_logger.removeHandler(handler)
    expected = f"test_raising_log_handler.test_a_record_names_the_line_that_logged:{line}"
    assert stream.getvalue() == f"{expected} erralert: 3 message(s) undelivered\n"


def test_erralert_logs_only_through_the_safe_logger() -> None:
    """Every module's logger is a SafeLogger: no `logging.getLogger(...)` left to call."""
    offenders = []
    for source in sorted(PACKAGE.rglob("*.py")):
        if source.name == "safelog.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and not _only_configures(source, node)
            ):
                offenders.append(f"{source.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def _only_configures(source: Path, node: ast.Call) -> bool:
    # erralert.integrations.logging installs its redacting filter on loggers: no log call
    return source == PACKAGE / "integrations" / "logging.py"

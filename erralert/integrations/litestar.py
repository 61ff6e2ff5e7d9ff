"""Litestar: the exceptions that Litestar answers with a 5xx, and failures of streamed
responses.

    from erralert.integrations.litestar import ErrAlertPlugin

    app = Litestar(route_handlers=[...], plugins=[ErrAlertPlugin()])

Litestar answers every exception itself (its default handler, or one of the app's
``exception_handlers``), so an outer ASGI middleware never sees one. The plugin is an
``InitPlugin`` (Litestar's way of packaging an extension: it only edits the app's
configuration) and registers Litestar's hooks for observability:

- ``after_exception``: receives every exception of a request or websocket handler,
  dependency, guard or middleware, with the scope (the route template is
  ``scope["path_template"]``). It keeps the exception on the scope; a websocket's is
  reported at once.
- ``before_send``: when the response to that exception starts, reports the exception if
  the status is 500 or more. The answer decides, not the exception's type: a domain error
  that one of your ``exception_handlers`` turns into a 409 is an answer, a ``KeyError``
  that Litestar turns into a 500 is a failure.
- a middleware, for what the hooks never see: an exception raised after the response
  started (a ``Stream`` whose iterator fails). Litestar re-raises those to the server,
  wrapped in ``LitestarException("Exception caught after response started")``; the
  middleware reports the exception inside.
- a lifespan context. While the app runs, it marks that wrapper as already alerted as it
  leaves the app: the server logs it ("Exception in ASGI application"), and with the
  server's error logger routed to :class:`erralert.LoggingHandler` it would otherwise be a
  second alert, for a different exception object. (It wraps ``app.asgi_handler``, the
  only place outside Litestar's own exception handling; without a lifespan, as with a
  ``TestClient`` used outside ``with``, that mark is all that is missing.) At shutdown
  it delivers the alerts still queued: uvicorn ends a SIGTERM'd process without running
  atexit hooks.

Quiet: every answer below 500 (``NotFoundException``, ``ValidationException``,
``PermissionDeniedException``, your handlers' 4xx …), ``WebSocketException`` (a deliberate
close code) and ``WebSocketDisconnect``, a client that disconnects while the body is read.
An ``HTTPException`` of 500 or more alerts by default, unlike a handled one in Starlette:
Litestar raises those for failures of its own (``ImproperlyConfiguredException``);
``ErrAlertPlugin(capture_http_5xx=False)`` keeps every ``HTTPException`` quiet, the ones
you raise on purpose (``ServiceUnavailableException``) and Litestar's alike.

Configuration: ``ErrAlertPlugin(alerter=...)`` uses that alerter, ``ErrAlertPlugin(**options)``
builds one from Alerter options; with neither, the default alerter (``erralert.init()``,
else built from the ``ERRALERT_*`` environment).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

try:
    from litestar import Litestar
    from litestar.enums import ScopeType
    from litestar.exceptions import (
        HTTPException,
        InternalServerException,
        LitestarException,
        WebSocketException,
    )
except ImportError as exc:  # pragma: no cover - exercised in a test by hiding litestar
    raise ImportError(
        "erralert.integrations.litestar needs Litestar: pip install 'erralert[litestar]'"
    ) from exc

from erralert._alerter.alerter import Alerter
from erralert._alerter.context import mark_captured, was_captured
from erralert._default import Reporter
from erralert.integrations.asgi import ReportedScope, client_disconnected, flush_at_shutdown

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ErrAlertPlugin"]

# where after_exception leaves the exception for before_send, in the request's scope
_PENDING = "erralert.exception"
# The texts by which Litestar's exceptions say what happened; they carry no other marker.
_AFTER_START = "Exception caught after response started"  # the wrapper of a late failure
_CLIENT_GONE = "client disconnected prematurely"  # an InternalServerException, sadly a 500
_MAX_WRAPPERS = 8  # LitestarException wrappers around one late failure (one per layer)


class ErrAlertPlugin(Reporter):
    """Reports the failures of a Litestar app (see the module).

    An ``InitPlugin`` by Litestar's protocol (``on_app_init``), without inheriting from
    it: ``InitPlugin`` is new in Litestar 2.15 and its predecessor is deprecated there.
    """

    def __init__(
        self,
        alerter: Alerter | None = None,
        *,
        capture_http_5xx: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(alerter, **options)
        self.capture_http_5xx = capture_http_5xx

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.after_exception.append(self.after_exception)
        app_config.before_send.append(self.before_send)
        # appended last, so outermost of the route middleware: a late failure reaches it
        # through the app's own middleware
        app_config.middleware.append(self.middleware)
        app_config.lifespan.append(self._lifespan)
        return app_config

    async def after_exception(self, exc: Exception, scope: Scope) -> None:
        """Litestar's ``after_exception`` hook: keep ``exc`` for :meth:`before_send` (a
        websocket's is reported now: its answer is a close code)."""
        if not self.reportable(exc):
            return
        if scope["type"] == ScopeType.HTTP:
            cast("MutableMapping[str, Any]", scope)[_PENDING] = exc
        else:
            self.report(_unwrap(exc), _reported(scope))

    async def before_send(self, message: Message, scope: Scope) -> None:
        """Litestar's ``before_send`` hook: report the exception a 5xx answers."""
        if message["type"] != "http.response.start":
            return
        exc = cast("MutableMapping[str, Any]", scope).pop(_PENDING, None)
        status = message.get("status")
        if exc is not None and isinstance(status, int) and status >= 500:
            self.report(_unwrap(exc), _reported(scope))

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Litestar middleware factory (called with ``app=``): reports late failures."""
        return _LateFailures(app, self)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        handler = app.asgi_handler
        app.asgi_handler = _ServerSide(handler)
        try:
            yield
        finally:
            app.asgi_handler = handler
            await flush_at_shutdown(self._alerter)

    def reportable(self, exc: BaseException) -> bool:
        """False for exceptions that say what to answer, or that the client went away."""
        if isinstance(exc, HTTPException):
            if isinstance(exc, InternalServerException) and exc.detail == _CLIENT_GONE:
                return False
            return self.capture_http_5xx
        if isinstance(exc, WebSocketException):  # WebSocketDisconnect is one too
            return False
        return not client_disconnected(exc)


class _LateFailures:
    """Route middleware: reports an exception raised after the response started, which
    Litestar re-raises to the server wrapped, without calling ``after_exception``."""

    __slots__ = ("app", "plugin")

    def __init__(self, app: ASGIApp, plugin: ErrAlertPlugin) -> None:
        self.app = app
        self.plugin = plugin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            failure = _unwrap(exc)
            # anything else leaving the route (an exception handler that raised) goes on
            # to the app's exception handling, and to the hooks
            if failure is not exc and self.plugin.reportable(failure):
                self.plugin.report(failure, _reported(scope))
            raise


class _ServerSide:
    """Wraps the whole app while it runs: a late failure leaves it wrapped (by Litestar)
    around the exception the middleware reported; mark the wrapper as reported too."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            failure = _unwrap(exc)
            if failure is not exc and was_captured(failure):
                mark_captured(exc)
            raise


def _unwrap(exc: BaseException) -> BaseException:
    """The failure inside Litestar's "caught after response started" wrappers, and inside
    a one-member exception group (the task group that streams a response)."""
    for _ in range(_MAX_WRAPPERS):
        cause = exc.__cause__
        if (
            type(exc) is LitestarException
            and getattr(exc, "detail", None) == _AFTER_START
            and isinstance(cause, BaseException)
        ):
            exc = cause
        elif isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        else:
            break
    return exc


def _reported(scope: Scope) -> ReportedScope:
    # Litestar's scopes are TypedDicts, i.e. mappings
    scope_ = cast("Mapping[str, Any]", scope)
    return ReportedScope(scope_, route=_path_template, path=_mounted_path)


def _path_template(scope: Mapping[str, Any]) -> str | None:
    """The template Litestar routed the request by, converters left out:
    ``"/items/{item_id}"`` for ``@get("/items/{item_id:int}")``."""
    template = scope.get("path_template")  # set once routing found a handler
    return template if isinstance(template, str) and template else None


def _mounted_path(scope: Mapping[str, Any]) -> str | None:
    """The request's whole path for a mounted ASGI app, whose scope["path"] Litestar cut
    down to the part below the mount (and which has no path template)."""
    if not getattr(scope.get("route_handler"), "is_mount", False):
        return None
    raw_path = scope.get("raw_path")
    return unquote(raw_path.decode("latin-1")) if isinstance(raw_path, bytes) else None

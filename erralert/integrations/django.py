"""Django: unhandled exceptions of views and middleware to chat, with one line in settings.py::

    MIDDLEWARE = [..., "erralert.integrations.django.ErrAlertMiddleware"]

Django turns every exception into a response itself (a 500 page), so none ever reaches a
WSGI/ASGI middleware wrapped around the project. This module hooks Django's own error path
instead, at two places that report the same exception object (the alerter alerts it once):

- ``process_exception`` sees the exceptions raised by views and remembers them; they are
  reported when their response turns out to be a 5xx. An exception that another
  middleware's ``process_exception`` turns into a redirect or a 4xx page stays quiet.
- the ``got_request_exception`` signal, which Django sends for every exception it converts
  into a 500 itself, also those raised by other middleware or by an error handler.

Errors Django maps to 4xx (``Http404``, ``PermissionDenied``, ``SuspiciousOperation``,
``BadRequest``, ``MultiPartParserError``) are not reported. A ``LOGGING`` config that sends
``django.request`` to ``erralert.LoggingHandler`` adds no second alert: the log record
carries the same exception object.

The middleware is sync- and async-capable, so it adds no thread hop to async views.

Reporting changes nothing Django answers: the user's id is reported only when the request
has already loaded the user (a view or a middleware read ``request.user``); erralert never
loads it, since that reads the session (the response would gain ``Vary: Cookie``), queries
the session and user tables, and logs out a session whose auth hash no longer verifies.

Under uvicorn, which ends the process on SIGTERM without exit hooks and runs no lifespan
for Django, what is still queued when the server is told to stop is delivered first (see
:mod:`erralert.integrations.stop_signals`), off the event loop, and then the server gets the signal.

Configuration: ``settings.ERRALERT`` (a dict of :class:`erralert.Alerter` options, e.g.
``{"webhooks": [...], "service": "shop"}``) is passed to :func:`erralert.init` once per
process when the middleware is first loaded, so it becomes the default alerter (also the
one ``erralert.LoggingHandler`` and ``erralert.capture_exception()`` use), with the
``ERRALERT_*`` environment variables filling the options it leaves out. Without
``ERRALERT`` the default alerter is built from the environment on first use.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from erralert._alerter.alerter import Alerter
from erralert._capture.request import request_from_asgi, request_from_wsgi
from erralert._core.errors import ConfigError
from erralert._core.event import Request
from erralert._core.safelog import safe_logger
from erralert._default import init, resolve
from erralert.integrations.stop_signals import flush_on_stop_signals

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.exceptions import (  # type: ignore[import-untyped]
        BadRequest,
        ImproperlyConfigured,
        PermissionDenied,
        SuspiciousOperation,
    )
    from django.core.signals import (  # type: ignore[import-untyped]
        got_request_exception,
        setting_changed,
    )
    from django.http import Http404  # type: ignore[import-untyped]
    from django.http.multipartparser import MultiPartParserError  # type: ignore[import-untyped]
    from django.utils.functional import LazyObject, empty  # type: ignore[import-untyped]
except ImportError as exc:
    raise ImportError(
        "erralert.integrations.django needs Django: pip install 'erralert[django]'"
    ) from exc

__all__ = ["ErrAlertMiddleware", "request_from_django"]

logger = safe_logger()

# what Django answers with a 4xx page (django.core.handlers.exception.response_for_exception):
# the client's mistake, not the application's
_CLIENT_ERRORS = (
    Http404,
    PermissionDenied,
    SuspiciousOperation,
    BadRequest,
    MultiPartParserError,
)

# the view's exception, kept on the request until its response shows whether it became a 5xx
_PENDING = "_erralert_exception"


HttpRequest = Any  # django.http.HttpRequest (Django ships no type information)
GetResponse = Callable[[HttpRequest], Any]


class ErrAlertMiddleware:
    """Report the exceptions Django turns into 5xx responses (see the module docstring).

    >>> MIDDLEWARE = [..., "erralert.integrations.django.ErrAlertMiddleware"]
    """

    # Django builds a sync or an async chain around it, whichever the stack needs
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            # tells Django (and asgiref) that calling this instance returns a coroutine
            markcoroutinefunction(self)
        # settings are ready when Django loads middleware: a broken ERRALERT fails start-up
        _configure(strict=True)
        _connect_signals()
        # `uvicorn project.asgi:application` loads the app on its running loop, with its
        # signal handlers in place; an app built before `uvicorn.run(app)` is checked again
        # at its first request on the loop
        self._watch_stop_signals = not _flush_before_server_stops()

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        response = self.get_response(request)
        exc = request.__dict__.pop(_PENDING, None)
        if exc is not None and _is_server_error(response):
            _report(exc, request)
        return response

    async def _acall(self, request: HttpRequest) -> Any:
        if self._watch_stop_signals:
            self._watch_stop_signals = False
            _flush_before_server_stops()
        response = await self.get_response(request)
        exc = request.__dict__.pop(_PENDING, None)
        if exc is not None and _is_server_error(response):
            # a capture may wait on a shared store (SQLite, Redis): not on the event loop
            await sync_to_async(_report, thread_sensitive=True)(exc, request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Remember the view's exception; returning None lets Django (or another
        middleware) build the response as usual."""
        if not isinstance(exception, _CLIENT_ERRORS):
            request.__dict__[_PENDING] = exception


def request_from_django(request: HttpRequest, *, load_user: bool = False) -> Request:
    """The :class:`erralert._core.event.Request` of a Django ``HttpRequest``: method, path, URL,
    route template (``"orders/<int:pk>/"``), headers (scrubbed later by the alerter),
    client IP and the authenticated user's id (never the username or email).

    The user is read only if the request has already loaded it. ``load_user=True`` loads
    it, with what loading does in Django: the session is read (the response gains
    ``Vary: Cookie``), the session and user tables are queried, and a session whose auth
    hash no longer verifies is flushed (the user is logged out). The middleware never
    asks for that."""
    scope = getattr(request, "scope", None)  # ASGIRequest keeps the ASGI scope
    if isinstance(scope, Mapping):
        base = request_from_asgi(scope)
    else:
        base = request_from_wsgi(getattr(request, "META", None) or {})
    return replace(
        base,
        method=_str(getattr(request, "method", None)) or base.method,
        route=_route(request),
        user=_user_id(request, load=load_user),
    )


# -- reporting -----------------------------------------------------------------------------------
def _report(exc: BaseException, request: HttpRequest) -> None:
    """Capture ``exc`` with the request's context; never raises into Django."""
    alerter = _alerter()
    if alerter is None:
        return
    # built only for the first occurrence of a window
    alerter.capture_exception(exc, request=lambda: _request_context(request))


def _on_request_exception(sender: Any, request: HttpRequest = None, **kwargs: Any) -> None:
    """``got_request_exception``: Django sends it inside the ``except`` block that turns an
    exception into a 500 (asgiref carries that state into the worker thread on ASGI). A
    receiver that raises would break Django's 500 page, so nothing escapes."""
    try:
        exc = sys.exc_info()[1]
        pending = request.__dict__.pop(_PENDING, None) if request is not None else None
        if exc is None:
            exc = pending  # the signal sent by hand, outside an except block
        if isinstance(exc, Exception) and not isinstance(exc, _CLIENT_ERRORS):
            _report(exc, request)
    except Exception as error:
        logger.error("erralert: got_request_exception: %s: %s", type(error).__name__, error)


def _request_context(request: HttpRequest) -> Request | None:
    return None if request is None else request_from_django(request)


def _is_server_error(response: object) -> bool:
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and status >= 500


def _route(request: HttpRequest) -> str | None:
    match = getattr(request, "resolver_match", None)  # None until the URL resolved
    route = getattr(match, "route", None)
    return route if isinstance(route, str) and route else None


def _user_id(request: HttpRequest, *, load: bool = False) -> str | None:
    """``request.user.pk`` when authenticated (``load``: loading the user if need be)."""
    try:
        user = getattr(request, "user", None) if load else _loaded_user(request)
        if user is None or user.is_authenticated is not True:
            return None
        pk = user.pk
        return None if pk is None else str(pk)
    except Exception:
        return None


def _loaded_user(request: HttpRequest) -> Any:
    """The user the request has loaded already, or None; never loads it.

    ``AuthenticationMiddleware`` sets ``request.user`` to a ``SimpleLazyObject`` around
    ``get_user(request)``: the first attribute read on it loads the user. Three places tell
    whether that happened without causing it, all read from instance dictionaries so that
    no descriptor, ``__getattr__`` or lazy ``__class__`` runs: the lazy object's
    ``_wrapped`` (anything but ``empty`` once loaded), and Django's caches on the request,
    ``_cached_user`` (``request.user``) and ``_acached_user`` (``await request.auser()``,
    which leaves the lazy object unloaded). They are Django's internals, but the ones it
    relies on itself since 1.x (5.0 for ``auser``); if they ever move, the user is not
    reported — nothing is loaded. A ``request.user`` that is not lazy was put there as is
    (by ``login()``, ``RemoteUserMiddleware`` or the app's own middleware) and is read."""
    state = getattr(request, "__dict__", None) or {}
    user = state.get("user")
    if not issubclass(type(user), LazyObject):  # type(): isinstance may read __class__
        return user
    wrapped = (getattr(user, "__dict__", None) or {}).get("_wrapped", empty)
    if wrapped is not empty:
        return wrapped
    return state.get("_cached_user", state.get("_acached_user"))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- configuration -------------------------------------------------------------------------------
_lock = threading.Lock()
_configured = False


def _alerter() -> Alerter | None:
    _configure(strict=False)
    return resolve(None)


def _configure(*, strict: bool) -> None:
    """``settings.ERRALERT`` → ``erralert.init(**ERRALERT)``, once per process (again after
    ``override_settings(ERRALERT=...)``). Read lazily: settings may not be configured when
    this module is imported."""
    global _configured
    if _configured:
        return
    with _lock:
        if _configured:
            return
        try:
            options = getattr(settings, "ERRALERT", None)
            if options is not None:
                if not isinstance(options, Mapping):
                    raise ConfigError(
                        f"expected a dict of Alerter options, got {type(options).__name__}"
                    )
                init(**options)
        except Exception as error:
            if strict:  # at start-up: loud
                raise ImproperlyConfigured(f"settings.ERRALERT: {error}") from error
            # while reporting: never raise into Django; the default alerter takes over
            logger.error("erralert: settings.ERRALERT: %s", error)
        _configured = True


def _on_setting_changed(sender: Any, setting: str = "", **kwargs: Any) -> None:
    global _configured
    if setting == "ERRALERT":
        _configured = False


def _flush_before_server_stops() -> bool:
    """Under an ASGI server (its event loop running here), chain the flush of the default
    alerter in front of the server's SIGTERM handler. False when no loop runs here (yet):
    WSGI, or an app built before its server runs, to be checked again on the loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    try:
        flush_on_stop_signals()  # nothing off the main thread, nor without a server handler
    except Exception as error:  # signal.signal refused (an embedded interpreter …)
        logger.error("erralert: cannot watch the server's stop signal: %s", error)
    return True


def _connect_signals() -> None:
    # dispatch_uid: connected once however often Django loads the middleware (each test
    # client loads it again)
    got_request_exception.connect(
        _on_request_exception, dispatch_uid="erralert.integrations.django.exception"
    )
    setting_changed.connect(
        _on_setting_changed, dispatch_uid="erralert.integrations.django.settings"
    )

"""``ASGIMiddleware``: pure ASGI, for http and websocket scopes.

State lives in locals; the exception is always re-raised after it is captured, so the
server and outer middleware (Starlette's ServerErrorMiddleware) answer exactly as before.

At the end of the ASGI lifespan (the server shutting down) the middleware flushes its
alerter, so that alerts still queued are delivered before the process goes. The flush
waits in a thread of its own: the event loop goes on serving its other tasks meanwhile.

A client that goes away is not a bug of the app: Starlette's ``ClientDisconnect`` and
``WebSocketDisconnect``, uvicorn's ``ClientDisconnected`` are re-raised without an alert
(``asyncio.CancelledError`` is a ``BaseException`` and is never caught at all).

Scopes that Starlette or FastAPI routed are reported with the full route template
(``/api/{version}/items/{item_id}``, mounts included), worked out by
:func:`erralert.integrations.starlette_routes.route_template` only when the alerter builds the
request, i.e. for the first occurrence of a window, not for every repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any, NamedTuple

from erralert import _default as defaults
from erralert._alerter.alerter import Alerter
from erralert._core.frames import type_names
from erralert._default import Reporter

__all__ = ["ASGIMiddleware", "ReportedScope", "client_disconnected", "flush_at_shutdown"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ScopeReader = Callable[[Mapping[str, Any]], "str | None"]

# exceptions that mean "the client went away", by qualified name so that checking them
# imports nothing (the servers and frameworks that define them may not be installed)
_POLL_SECONDS = 0.01  # how often a final flush on a non-asyncio loop (trio) checks its thread

_DISCONNECTS = frozenset(
    {
        "starlette.requests.ClientDisconnect",
        "starlette.websockets.WebSocketDisconnect",
        "uvicorn.protocols.utils.ClientDisconnected",
    }
)


class ASGIMiddleware(Reporter):
    """Report unhandled exceptions of an ASGI app.

    >>> app.add_middleware(erralert.ASGIMiddleware)                    # default alerter
    >>> app = erralert.ASGIMiddleware(app, webhooks=["slack://T/B/X"])  # its own alerter
    """

    # `app` positional-only: with `**options` beside it, mypy matches the class against
    # Starlette's middleware-factory protocol (`app.add_middleware(ASGIMiddleware)`) only so
    def __init__(self, app: ASGIApp, /, alerter: Alerter | None = None, **options: Any) -> None:
        super().__init__(alerter, **options)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # lifespan failures are the server's business (it reports them at start-up)
            await self.app(scope, receive, self._flush_at_shutdown(send))
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if scope["type"] in ("http", "websocket") and not client_disconnected(exc):
                self.report(exc, ReportedScope(scope))
            raise

    def _flush_at_shutdown(self, send: Send) -> Send:
        async def flushing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await flush_at_shutdown(self._alerter)
            await send(message)

        return flushing


async def flush_at_shutdown(alerter: Alerter | None) -> None:
    """Deliver what ``alerter`` (None: the default one, if it was built) has queued and the
    repeats still counted in open windows, waiting at most its ``shutdown_timeout``. For
    the end of an ASGI lifespan: uvicorn ends a SIGTERM'd process by raising the signal
    again once it has shut down, so atexit hooks never run.

    The flush blocks (it waits for the delivery worker, and may ask a shared store), so it
    runs in a thread of its own, not on the event loop: the loop keeps serving what is
    still running (a request finishing, the server's own shutdown, the app's background
    tasks). Not the loop's default executor: the app may have filled it. Never raises."""
    if alerter is None:
        alerter = defaults.current()  # not built just for this
    if alerter is None:
        return
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None  # not asyncio: trio (Starlette, hypercorn and granian run on it too)
    flushed = threading.Event()
    woken: asyncio.Future[None] | None = loop.create_future() if loop is not None else None

    def flush() -> None:
        try:
            alerter.flush(alerter.shutdown_timeout, final=True)
        finally:
            flushed.set()
            if loop is not None and woken is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, woken)

    try:
        threading.Thread(target=flush, name="erralert-shutdown-flush", daemon=True).start()
    except RuntimeError:  # no new thread (a thread limit, a finalizing interpreter)
        # delivering beats not blocking: the last alerts would be lost with the process
        alerter.flush(alerter.shutdown_timeout, final=True)
        return
    # bounded here too: the flush's deadline starts after it asked the store for the
    # repeats of open windows, which a slow shared store could drag out
    if woken is not None:
        await asyncio.wait([woken], timeout=alerter.shutdown_timeout)
    else:
        await _poll(flushed, alerter.shutdown_timeout)


async def _poll(done: threading.Event, timeout: float) -> None:
    """Wait for ``done`` without an asyncio loop to wake us (trio): anyio's sleep runs on
    every event loop it supports, and anyio comes with Starlette, a dependency."""
    import anyio

    deadline = time.monotonic() + timeout
    while not done.is_set() and time.monotonic() < deadline:
        await anyio.sleep(_POLL_SECONDS)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def client_disconnected(exc: BaseException) -> bool:
    """True for the exceptions that only say the client went away (an exception group
    counts when every member does)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(client_disconnected(member) for member in exc.exceptions)
    # type_names: a metaclass may make `cls.__module__` raise; this check must not
    return any(_dotted(cls) in _DISCONNECTS for cls in type(exc).__mro__)


def _dotted(cls: type) -> str:
    qualname, module = type_names(cls)
    return f"{module}.{qualname}"


class _Route(NamedTuple):
    """Stands for a route object in the scope: the request builder reads its ``path``."""

    path: str


def _starlette_route(scope: Mapping[str, Any]) -> str | None:
    try:
        from erralert.integrations.starlette_routes import route_template
    except ImportError:  # pragma: no cover - Starlette is a dependency of erralert
        return None
    return route_template(scope)


class ReportedScope(Mapping[str, Any]):
    """A failed request's scope as the alerter reads it: the scope itself, except that
    ``"route"`` is the full route template, asked of ``route`` (default: Starlette's
    routing), and ``"path"`` is asked of ``path`` when given (a framework that rewrites the
    scope's path) — only when the alerter builds the request, which it does for the first
    occurrence of a window, not for every repeat."""

    __slots__ = ("_path", "_route", "_scope")

    def __init__(
        self,
        scope: Mapping[str, Any],
        route: ScopeReader = _starlette_route,
        path: ScopeReader | None = None,
    ) -> None:
        self._scope = scope
        self._route = route
        self._path = path

    def __getitem__(self, key: str) -> Any:
        if key == "route":
            template = self._read(self._route)
            if template:
                return _Route(template)
        elif key == "path" and self._path is not None:
            path = self._read(self._path)
            if path:
                return path
        return self._scope[key]

    def _read(self, reader: ScopeReader) -> str | None:
        try:
            return reader(self._scope)
        except Exception:  # a scope shaped unlike the reader expects: use the scope's own
            return None

    def __iter__(self) -> Iterator[str]:
        return iter(self._scope)

    def __len__(self) -> int:
        return len(self._scope)

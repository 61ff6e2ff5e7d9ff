"""``WSGIMiddleware``: errors raised by the app, while the body is iterated, or in
``close()``. File-wrapper responses pass through untouched so servers keep sendfile."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from erralert._alerter.alerter import Alerter
from erralert._default import Reporter

__all__ = ["WSGIMiddleware"]

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class WSGIMiddleware(Reporter):
    """Report unhandled exceptions of a WSGI app: ``app = erralert.WSGIMiddleware(app)``."""

    def __init__(self, app: WSGIApp, alerter: Alerter | None = None, **options: Any) -> None:
        super().__init__(alerter, **options)
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            body = self.app(environ, start_response)
        except Exception as exc:
            self.report(exc, environ)
            raise
        if type(body) is list or type(body) is tuple:
            return body  # iterating it cannot fail and it has no close(): nothing to guard
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            return body
        if hasattr(body, "__len__"):
            # servers answer with a Content-Length when len(body) == 1
            return _GuardedSizedBody(body, environ, self)
        return _GuardedBody(body, environ, self)


class _GuardedBody:
    """The response iterable, with errors raised while iterating it or in close() reported."""

    __slots__ = ("_body", "_environ", "_middleware")

    def __init__(self, body: Iterable[bytes], environ: Environ, middleware: WSGIMiddleware):
        self._body = body
        self._environ = environ
        self._middleware = middleware

    def __iter__(self) -> Iterator[bytes]:
        try:
            # a for loop, not ``yield from``, which hands close() on: a server that stops
            # early (the client went away) drops this generator, and the body would be
            # closed then and again by the server's close(). A generator all the same: an
            # iterator object's __next__ (a Python call per chunk, the StopIteration raised
            # through it) costs about 0.4 µs more per request.
            for chunk in self._body:  # noqa: UP028 (see above)
                yield chunk
        except Exception as exc:
            self._middleware.report(exc, self._environ)
            raise

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is None:
            return
        try:
            close()
        except Exception as exc:
            self._middleware.report(exc, self._environ)
            raise


class _GuardedSizedBody(_GuardedBody):
    """A guarded body whose own body has a length: the wrapper has the same one. A class
    of its own because waitress asks ``hasattr(body, "__len__")`` before calling len()."""

    __slots__ = ()

    def __len__(self) -> int:
        return len(self._body)  # type: ignore[arg-type]

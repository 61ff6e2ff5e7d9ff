"""``WSGIMiddleware``: errors raised by the app, while the body is iterated, or in
``close()``. File-wrapper responses pass through untouched so servers keep sendfile."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from erralert.alerter import Alerter
from erralert.default import Reporter

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
        return _GuardedBody(body, environ, self)


class _GuardedBody:
    """The response iterable, with errors during iteration and close() reported."""

    __slots__ = ("_body", "_environ", "_middleware")

    def __init__(self, body: Iterable[bytes], environ: Environ, middleware: WSGIMiddleware):
        self._body = body
        self._environ = environ
        self._middleware = middleware

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
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

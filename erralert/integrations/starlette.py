"""Starlette and FastAPI: route templates, and an opt-in alert for handled 5xx answers.

    app.add_middleware(erralert.ASGIMiddleware)

is all either framework needs: both re-raise an unhandled exception after sending their
500, so the core middleware sees it, and its alerts name the route template that
:func:`route_template` works out (``/api/{version}/items/{item_id}``: the prefixes of
FastAPI's included routers and of every ``Mount`` on the way, converters left out, as
OpenTelemetry's ``http.route`` shows it). This module needs only Starlette; FastAPI is
optional.

:class:`ErrAlertMiddleware` is that middleware with one more option::

    from erralert.integrations.starlette import ErrAlertMiddleware

    app.add_middleware(ErrAlertMiddleware, capture_http_5xx=True)

``capture_http_5xx`` (off by default): also alert when one of the app's exception handlers
answers an exception with a status of 500 or more — ``raise HTTPException(503)``, or a
handler of your own that turns ``DatabaseDown`` into a 503. Such exceptions are *handled*:
they never propagate, so no middleware sees them raised. Starlette sends the handler's
response from inside its ``except`` block, though, so when a response with status >= 500
starts while an exception is being handled, the middleware reports that exception (with
its traceback and the request). Answers below 500 (``HTTPException(404)``, validation
errors) never alert, with or without the option.

Place it under any ``BaseHTTPMiddleware`` (``@app.middleware("http")``): those run the rest
of the app in another task, where the handled exception is out of sight. ``add_middleware``
puts the middleware added last outermost, so add ``ErrAlertMiddleware`` first.
"""

from __future__ import annotations

import sys
from typing import Any

try:
    from erralert.integrations.starlette_routes import route_template
except ImportError as exc:  # pragma: no cover - Starlette is a dependency of erralert
    raise ImportError(
        "erralert.integrations.starlette needs Starlette, a dependency of erralert: "
        "pip install --force-reinstall erralert"
    ) from exc

from erralert._alerter.alerter import Alerter
from erralert.integrations.asgi import (
    ASGIApp,
    ASGIMiddleware,
    Message,
    Receive,
    ReportedScope,
    Scope,
    Send,
    client_disconnected,
)

__all__ = ["ErrAlertMiddleware", "route_template"]


class ErrAlertMiddleware(ASGIMiddleware):
    """:class:`erralert.ASGIMiddleware`, plus ``capture_http_5xx`` (see the module)."""

    # `app` positional-only, as in ASGIMiddleware: else mypy --strict rejects
    # `app.add_middleware(ErrAlertMiddleware, capture_http_5xx=True)` in user code
    def __init__(
        self,
        app: ASGIApp,
        /,
        alerter: Alerter | None = None,
        *,
        capture_http_5xx: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(app, alerter, **options)
        self.capture_http_5xx = capture_http_5xx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.capture_http_5xx and scope["type"] == "http":
            send = self._watch(scope, send)
        await super().__call__(scope, receive, send)

    def _watch(self, scope: Scope, send: Send) -> Send:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and _status(message) >= 500:
                # Starlette awaits the handler's response inside `except exc:`; the
                # exception being handled is the one the 5xx answers
                exc = sys.exc_info()[1]
                if isinstance(exc, Exception) and not client_disconnected(exc):
                    self.report(exc, ReportedScope(scope))
            await send(message)

        return watched


def _status(message: Message) -> int:
    status = message.get("status")
    return status if isinstance(status, int) else 0

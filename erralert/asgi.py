"""``ASGIMiddleware``: pure ASGI, for http and websocket scopes.

State lives in locals; the exception is always re-raised after it is captured, so the
server and outer middleware (Starlette's ServerErrorMiddleware) answer exactly as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from erralert.alerter import Alerter
from erralert.default import Reporter

__all__ = ["ASGIMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ASGIMiddleware(Reporter):
    """Report unhandled exceptions of an ASGI app.

    >>> app.add_middleware(erralert.ASGIMiddleware)                    # default alerter
    >>> app = erralert.ASGIMiddleware(app, webhooks=["slack://T/B/X"])  # its own alerter
    """

    def __init__(self, app: ASGIApp, alerter: Alerter | None = None, **options: Any) -> None:
        super().__init__(alerter, **options)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            # lifespan failures are the server's business (it reports them at start-up)
            if scope["type"] in ("http", "websocket"):
                self.report(exc, scope)
            raise

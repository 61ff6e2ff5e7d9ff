"""The inbox as a Starlette app: the webhook endpoints of every platform, the page, and a
small JSON API the page polls.

Routes: ``POST /<any platform path>`` (see ``erralert.inbox.receive``), ``GET /`` (the
page), ``GET /api/messages?platform=&after=&limit=`` (newest first, each with its rendered
``html``, plus the counts per platform), ``GET /api/messages/{id}`` (the raw JSON as
received), ``DELETE /api/messages`` (clear).

With a ``token``, every route — page, API and webhooks alike — needs it: ``?token=…`` (or
``?inbox_token=…`` where a platform's URL already has a ``token`` parameter, as Google
Chat's does), ``Authorization: Bearer …``, or the cookie the page sets after its first
``?token=`` visit. Anything else is answered 401.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets as secrets_module
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from erralert.inbox.page import content_security_policy, page_html
from erralert.inbox.receive import TOKEN_PARAMS, Receiver
from erralert.inbox.show import card_html
from erralert.inbox.store import InboxMessage, InboxStore

__all__ = ["COOKIE", "MAX_BODY", "create_app", "require_token_for"]

COOKIE = "erralert_inbox_token"
MAX_BODY = 2_000_000  # bytes the inbox reads of a request; every platform's limit is far below
_LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def require_token_for(host: str) -> bool:
    """True when an inbox bound to ``host`` must have a token: any address but loopback
    (an open inbox would publish a team's stack traces to its network)."""
    name = host.strip().strip("[]").lower()
    if name in _LOCAL_NAMES:
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return True


def create_app(
    store: InboxStore,
    *,
    secrets: Mapping[str, str] | None = None,
    keywords: Mapping[str, str] | None = None,
    token: str | None = None,
    on_message: Callable[[InboxMessage], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> Starlette:
    """The inbox app over ``store``.

    ``secrets``: signing secrets by platform (``{"dingtalk": "SEC…", "feishu": "…"}``),
    checked like the platforms check them; ``keywords``: keyword security by platform
    (``{"dingtalk": "alert"}``); ``token``: required on every route when set;
    ``on_message``: called with each stored message; ``clock``: UNIX seconds for the
    rate limits and signature times (tests)."""
    receiver = Receiver(
        store, secrets=secrets, keywords=keywords, token=token, clock=clock, on_message=on_message
    )

    async def page(request: Request) -> Response:
        messages = store.messages(limit=200)
        nonce = secrets_module.token_urlsafe(16)
        body = page_html(
            "".join(card_html(m) for m in messages),
            store.counts(),
            messages[0].id if messages else 0,
            nonce,
        )
        response = HTMLResponse(
            body,
            headers={
                "Content-Security-Policy": content_security_policy(nonce),
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )
        given = request.query_params.get("token")
        if token is not None and given and hmac.compare_digest(given.encode(), token.encode()):
            # the page's own fetches then carry the token without it in every URL
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return response

    async def list_messages(request: Request) -> Response:
        params = request.query_params
        platform = params.get("platform") or None
        try:
            after = int(params.get("after") or 0)
            limit = min(500, max(1, int(params.get("limit") or 200)))
        except ValueError:
            return JSONResponse({"error": "after and limit are numbers"}, status_code=400)
        messages = store.messages(platform=platform, after_id=after, limit=limit)
        return JSONResponse(
            {
                "messages": [_summary(m) for m in messages],
                "counts": store.counts(),
                "total": store.count(),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def one_message(request: Request) -> Response:
        try:
            ident = int(request.path_params["ident"])
        except ValueError:
            ident = -1
        message = store.get(ident)
        if message is None:
            return JSONResponse({"error": "no such message"}, status_code=404)
        if message.payload is None:
            return PlainTextResponse(message.raw)
        return JSONResponse(message.payload)

    async def clear(request: Request) -> Response:
        store.clear()
        return Response(status_code=204)

    async def webhook(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request body too large for the inbox", status_code=413)
        answer, _ = receiver.receive(
            request.url.path, request.url.query, dict(request.headers), bytes(body)
        )
        return Response(
            answer.body,
            status_code=answer.status,
            media_type=answer.media_type,
            headers=dict(answer.headers),
        )

    app = Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/api/messages", list_messages, methods=["GET"]),
            Route("/api/messages", clear, methods=["DELETE"]),
            Route("/api/messages/{ident}", one_message, methods=["GET"]),
            Route("/{path:path}", webhook, methods=["POST"]),
        ]
    )
    if token is not None:
        app.add_middleware(_TokenGate, token=token)
    app.state.receiver = receiver
    app.state.store = store
    return app


def _summary(message: InboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "received_at": message.received_at,
        "platform": message.platform,
        "path": message.path,
        "kind": message.kind,
        "title": message.title,
        "status": message.status,
        "error": message.error,
        "html": card_html(message),
    }


class _TokenGate:
    """Lets a request through only with the inbox's token (query, bearer or cookie)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "this inbox needs its token: ?token=…, a Bearer token or its cookie"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="erralert inbox"'},
        )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        offered: list[str] = []
        query = scope.get("query_string", b"").decode("latin-1")
        offered += [v for k, v in parse_qsl(query, keep_blank_values=True) if k in TOKEN_PARAMS]
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    offered.append(credential.strip())
            elif name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed cookie header offers nothing
                    continue
                if COOKIE in cookie:
                    offered.append(cookie[COOKIE].value)
        # compared in constant time, and every offer is compared (no early exit on a match)
        matches = [hmac.compare_digest(o.encode(), self.token) for o in offered]
        return any(matches)

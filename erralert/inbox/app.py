"""The inbox as a Starlette app: the webhook endpoints of every platform, the page, and a
small JSON API the page polls.

Routes: ``POST /<any platform path>`` (see ``erralert.inbox.receive``), ``GET /`` (the
page), ``GET /api/messages?platform=&after=&limit=`` (newest first, each with its rendered
``html``, plus the counts per platform), ``GET /api/messages/{id}`` (the raw JSON as
received), ``DELETE /api/messages`` (clear), ``GET /metrics`` (the counts in the
Prometheus text format: ``erralert.inbox.metrics``).

With a ``token``, every route — page, API and webhooks alike — needs it: ``?inbox_token=…``
(or ``?token=…``; ``erralert inbox`` prints the first, which no platform's own URL uses),
``Authorization: Bearer …``, or the cookie the page sets after its first visit with the
token in its URL. Anything else is answered 401.

With ``hosts``, a request whose ``Host`` header is not one of them is answered 421 before
anything else: a web page that rebinds its own name to 127.0.0.1 (DNS rebinding) reaches
the inbox with its own name in ``Host``, and would otherwise read every stack trace.

Rendering runs in a worker thread, off the event loop: a message that takes long to render
delays only the page that shows it, never a webhook.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets as secrets_module
from collections.abc import Callable, Collection, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from erralert._core.exposition import CONTENT_TYPE
from erralert.inbox.metrics import metrics_text
from erralert.inbox.page import content_security_policy, dropped_note, page_html
from erralert.inbox.receive import TOKEN_PARAMS, Receiver
from erralert.inbox.show import card_html
from erralert.inbox.store import InboxMessage, InboxStore

__all__ = ["COOKIE", "MAX_BODY", "create_app", "loopback_hosts", "require_token_for"]

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


def loopback_hosts(port: int, host: str | None = None) -> frozenset[str]:
    """The ``Host`` headers of requests meant for an inbox on ``port``: 127.0.0.1,
    localhost and [::1] there, and ``host`` (the address it was told to bind) when it names
    one; without the port too on port 80, where clients leave it out."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host:
        name = host.strip().strip("[]").lower()
        names.add(f"[{name}]" if ":" in name else name)
    hosts = {f"{name}:{port}" for name in names}
    return frozenset(hosts | names if port == 80 else hosts)


def create_app(
    store: InboxStore,
    *,
    secrets: Mapping[str, str] | None = None,
    keywords: Mapping[str, str] | None = None,
    token: str | None = None,
    on_message: Callable[[InboxMessage], None] | None = None,
    clock: Callable[[], float] | None = None,
    hosts: Collection[str] | None = None,
) -> Starlette:
    """The inbox app over ``store``.

    ``secrets``: signing secrets by platform (``{"dingtalk": "SEC…", "feishu": "…"}``),
    checked like the platforms check them; ``keywords``: keyword security by platform
    (``{"dingtalk": "alert"}``); ``token``: required on every route when set;
    ``on_message``: called with each stored message; ``clock``: UNIX seconds for the
    rate limits and signature times (tests); ``hosts``: the only ``Host`` headers answered
    (``loopback_hosts(port)``; ``start`` and ``serve`` always pass them), None: any."""
    receiver = Receiver(
        store, secrets=secrets, keywords=keywords, token=token, clock=clock, on_message=on_message
    )

    def render_page(nonce: str) -> str:
        messages = store.messages(limit=200)
        return page_html(
            "".join(card_html(m) for m in messages),
            store.counts(),
            messages[0].id if messages else 0,
            nonce,
            dropped_note(store.dropped(), store.max_messages, store.max_bytes),
        )

    async def page(request: Request) -> Response:
        nonce = secrets_module.token_urlsafe(16)
        body = await run_in_threadpool(render_page, nonce)
        response = HTMLResponse(
            body,
            headers={
                "Content-Security-Policy": content_security_policy(nonce),
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )
        given = next((v for k, v in request.query_params.multi_items() if k in TOKEN_PARAMS), "")
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
        listed = await run_in_threadpool(listing, platform, after, limit)
        return JSONResponse(listed, headers={"Cache-Control": "no-store"})

    def listing(platform: str | None, after: int, limit: int) -> dict[str, Any]:
        messages = store.messages(platform=platform, after_id=after, limit=limit)
        dropped = store.dropped()
        return {
            "messages": [_summary(m) for m in messages],
            "counts": store.counts(),
            "total": store.count(),
            "dropped": dropped,
            "dropped_note": dropped_note(dropped, store.max_messages, store.max_bytes),
        }

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

    def metrics_now() -> str:
        return metrics_text(receiver.counts, store.counts(), store.dropped())

    async def metrics(request: Request) -> Response:
        text = await run_in_threadpool(metrics_now)  # the store is read off the loop
        return Response(text, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    async def clear(request: Request) -> Response:
        store.clear()
        return Response(status_code=204)

    async def webhook(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request body too large for the inbox", status_code=413)
        # the time is read here: freezegun leaves the clock of worker threads alone
        answer, _ = await run_in_threadpool(
            receiver.receive,
            request.url.path,
            request.url.query,
            dict(request.headers),
            bytes(body),
            receiver.now(),
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
            Route("/metrics", metrics, methods=["GET"]),
            Route("/{path:path}", webhook, methods=["POST"]),
        ]
    )
    if token is not None:
        app.add_middleware(_TokenGate, token=token)
    if hosts is not None:  # outermost: a request for another host learns nothing else
        app.add_middleware(_HostGate, hosts=hosts)
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


class _HostGate:
    """Answers 421 to a request whose ``Host`` header is none of the inbox's own (DNS
    rebinding). Starlette's TrustedHostMiddleware compares the name only, without the port,
    and cuts an IPv6 address at its first colon; this compares the whole header."""

    def __init__(self, app: ASGIApp, hosts: Collection[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"host"), b"").decode("latin-1")
        if given.lower() in self.hosts:
            await self.app(scope, receive, send)
            return
        allowed = ", ".join(sorted(self.hosts))
        response = PlainTextResponse(
            f"this erralert inbox answers only requests for {allowed}, not for Host {given!r}"
            " (a page of another site reaching it through DNS rebinding is refused)",
            status_code=421,
        )
        await response(scope, receive, send)


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

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
from collections.abc import Mapping, Sequence
from typing import Any

try:
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute, Host, Match, Mount
except ImportError as exc:  # pragma: no cover - Starlette is a dependency of erralert
    raise ImportError(
        "erralert.integrations.starlette needs Starlette, a dependency of erralert: "
        "pip install --force-reinstall erralert"
    ) from exc

from erralert._alerter import Alerter
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

_MAX_DEPTH = 16  # mounts within mounts; a cycle (an app mounted in itself) stops here


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


# -- route templates -----------------------------------------------------------------------------
def route_template(scope: Mapping[str, Any]) -> str | None:
    """The template of the route Starlette (or FastAPI) chose for ``scope``, relative to the
    app: ``"/items/{item_id}"``, or ``"/admin/{tenant}/jobs/{job_id}"`` through
    ``Mount("/admin/{tenant}", ...)``. None when nothing was routed (a 404, or an error
    raised before routing). Never raises."""
    try:
        return _route_template(scope)
    except Exception:  # a custom route whose matches() fails must not break a report
        return None


def _route_template(scope: Mapping[str, Any]) -> str | None:
    routed = _routed(scope)
    original_root = _original_root_path(scope)
    root_path = _str(scope.get("root_path"))
    if routed is not None and root_path == original_root:
        return routed  # no mount on the way: what routing recorded is the whole template
    routes = _top_routes(scope)
    probe = {**scope, "root_path": original_root}  # the scope as the top router saw it
    if routed is None:
        # Starlette before scope["route"] existed records nothing: match again
        return _match(routes, probe, 0) if routes is not None else None
    # recorded templates are relative to the innermost app: prepend the mounts' templates,
    # else (mounts inside a FastAPI router, which this does not follow) their actual path
    prefix = _mount_prefix(routes, probe, root_path) if routes is not None else None
    if prefix is None:
        prefix = root_path[len(original_root) :] if root_path.startswith(original_root) else ""
    return prefix + routed


def _routed(scope: Mapping[str, Any]) -> str | None:
    """The template that routing recorded in the scope, relative to the innermost app."""
    # FastAPI >= 0.120 routes included routers without copying their routes, and sets
    # scope["route"] to the route as declared, without the include prefixes; its
    # "effective route context" has the full template
    fastapi = scope.get("fastapi")
    if isinstance(fastapi, Mapping):
        context = fastapi.get("effective_route_context")
        template = getattr(context, "path_format", None)
        if isinstance(template, str):
            return template
    route = scope.get("route")
    if route is None:
        return None
    if isinstance(route, Mount):
        return "/{path}"  # a mounted app that routes nothing itself (StaticFiles, raw ASGI)
    return _template(route)


def _template(route: object) -> str | None:
    for name in ("path_format", "path"):
        value = getattr(route, name, None)
        if isinstance(value, str):
            return value
    return None


def _mount_path(mount: Mount) -> str:
    # Mount("/admin/{tenant}").path_format is "/admin/{tenant}/{path}"
    return mount.path_format.removesuffix("/{path}")


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _original_root_path(scope: Mapping[str, Any]) -> str:
    # a Mount sets "app_root_path" to the root path it found, before adding its own prefix
    if "app_root_path" in scope:
        return _str(scope["app_root_path"])
    return _str(scope.get("root_path"))


def _top_routes(scope: Mapping[str, Any]) -> Sequence[BaseRoute] | None:
    router = scope.get("router")  # set by the outermost router, kept by mounted ones
    if router is None:
        app = scope.get("app")
        router = app.router if isinstance(app, Starlette) else None
    routes = getattr(router, "routes", None)
    return routes if isinstance(routes, list) else None


def _choose(
    routes: Sequence[BaseRoute], probe: dict[str, Any]
) -> tuple[BaseRoute | None, Mapping[str, Any]]:
    """The route Starlette's router picks: the first full match, else the first partial."""
    chosen: BaseRoute | None = None
    chosen_scope: Mapping[str, Any] = {}
    for route in routes:
        match, child_scope = route.matches(probe)
        if match is Match.FULL:
            return route, child_scope
        if match is Match.PARTIAL and chosen is None:
            chosen, chosen_scope = route, child_scope
    return chosen, chosen_scope


def _match(routes: Sequence[BaseRoute], probe: dict[str, Any], depth: int) -> str | None:
    route, child_scope = _choose(routes, probe)
    if route is None:
        return None
    if isinstance(route, Mount | Host):
        if depth >= _MAX_DEPTH:
            return None
        inner = _match(route.routes, {**probe, **child_scope}, depth + 1) if route.routes else None
        if isinstance(route, Host):  # a host routes by name: nothing of the path
            return inner
        return _mount_path(route) + (inner if inner is not None else "/{path}")
    return _template(route)


def _mount_prefix(routes: Sequence[BaseRoute], probe: dict[str, Any], root_path: str) -> str | None:
    """The templates of the mounts that took the request from the top router down to the
    app whose root path is ``root_path``; None when they cannot be found again."""
    prefix = ""
    for _ in range(_MAX_DEPTH):
        if _str(probe.get("root_path")) == root_path:
            return prefix
        # The root path grew, so at this level the router chose a mount (or a host):
        # the first one that matches is the one it chose, as any plain route matching
        # before it would have been chosen instead, ending the descent.
        for route in routes:
            if isinstance(route, Mount | Host):
                match, child_scope = route.matches(probe)
                if match is Match.FULL:
                    break
        else:
            return None
        probe = {**probe, **child_scope}
        if isinstance(route, Mount):
            prefix += _mount_path(route)
        routes = route.routes
    return None

"""Route templates: which route Starlette (or FastAPI) chose for a request, as a template.

``route_template(scope)`` works out ``/api/{version}/items/{item_id}``: the prefixes of
FastAPI's included routers and of every ``Mount`` on the way, converters left out, as
OpenTelemetry's ``http.route`` shows it. The core ASGI middleware asks it for every failed
request (importing this module only then, so an app that is not on Starlette never imports
Starlette's routing); :mod:`erralert.integrations.starlette` offers it publicly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Host, Match, Mount

_MAX_DEPTH = 16  # mounts within mounts; a cycle (an app mounted in itself) stops here


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

"""Request context from an ASGI scope or a WSGI environ (no I/O, no scrubbing).

The builders read what they can and never raise: a malformed scope from a buggy server or
middleware yields a partial ``Request``, not a second error while reporting the first.
Secrets are left in place here; ``Scrubber.request`` filters them before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from erralert._core.event import Request, clean_text

__all__ = ["parse_traceparent", "request_from_asgi", "request_from_wsgi"]

_T = TypeVar("_T")

_MAX_HEADERS = 100
_MAX_HEADER_NAME = 200
_MAX_HEADER_VALUE = 1000
_MAX_QUERY_KEYS = 100
_MAX_URL = 2048  # a URL is a line in a chat message, not a payload; so is a path
_MAX_QUERY_STRING = 16_384  # parsed for at most 100 keys: the rest cannot matter
_MAX_SHORT = 200  # scheme, method, host, client address
# headers the request fields are read from: kept even past the first _MAX_HEADERS
_READ_HEADERS = frozenset(
    {
        "host",
        "user-agent",
        "x-forwarded-for",
        "x-real-ip",
        "x-request-id",
        "x-correlation-id",
        "traceparent",
    }
)

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})-"
    r"(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?"
)


def parse_traceparent(value: str | None) -> str | None:
    """The trace id of a valid W3C ``traceparent`` header, or None."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None or match["version"] == "ff":
        return None
    # version 00 has exactly four fields; later versions may append more
    if match["version"] == "00" and match["rest"]:
        return None
    if match["trace"] == "0" * 32 or match["parent"] == "0" * 16:
        return None
    return match["trace"]


def request_from_asgi(scope: Mapping[str, Any]) -> Request:
    """The request of an ASGI ``http`` or ``websocket`` scope (websockets have the method
    ``"WEBSOCKET"``)."""
    headers: dict[str, str] = _safe(lambda: _asgi_headers(scope.get("headers")), {})
    kind = _safe(lambda: _str(scope.get("type")), None)
    default_scheme = "ws" if kind == "websocket" else "http"
    scheme = _safe(lambda: _str(scope.get("scheme")), None) or default_scheme
    method = "WEBSOCKET" if kind == "websocket" else _safe(lambda: _str(scope.get("method")), None)
    query_string = _safe(lambda: _latin1(scope.get("query_string")), "")
    host = headers.get("host") or _safe(lambda: _asgi_server(scope, scheme), None)
    client = _safe(lambda: _str(scope["client"][0]), None)
    return _request(
        method=method,
        scheme=scheme,
        host=host,
        path=_safe(lambda: _asgi_path(scope), ""),
        query_string=query_string,
        route=_safe(lambda: _route(scope.get("route")), None),
        headers=headers,
        remote_addr=client,
    )


def request_from_wsgi(environ: Mapping[str, Any]) -> Request:
    """The request of a PEP 3333 WSGI ``environ``."""
    headers: dict[str, str] = _safe(lambda: _wsgi_headers(environ), {})
    scheme = _safe(lambda: _str(environ.get("wsgi.url_scheme")), None) or "http"
    host = headers.get("host") or _safe(lambda: _wsgi_server(environ, scheme), None)
    path = _safe(
        lambda: _wsgi_text(environ.get("SCRIPT_NAME")) + _wsgi_text(environ.get("PATH_INFO")),
        "",
    )
    return _request(
        method=_safe(lambda: _str(environ.get("REQUEST_METHOD")), None),
        scheme=scheme,
        host=host,
        path=path,
        query_string=_safe(lambda: _str(environ.get("QUERY_STRING")) or "", ""),
        route=None,
        headers=headers,
        remote_addr=_safe(lambda: _str(environ.get("REMOTE_ADDR")), None),
    )


# -- shared --------------------------------------------------------------------------------------
def _request(
    *,
    method: str | None,
    scheme: str,
    host: str | None,
    path: str,
    query_string: str,
    route: str | None,
    headers: dict[str, str],
    remote_addr: str | None,
) -> Request:
    # Every field is bounded (a 1 MB URL is one line of a chat message) and clean: a
    # hand-built scope or environ may carry NUL characters or lone surrogates, which no
    # JSON encoder of a chat payload accepts.
    path = _text(path, _MAX_URL)
    host = _text(host, _MAX_SHORT) if host else None
    url = f"{scheme[:_MAX_SHORT]}://{host}{path}" if host else path
    if query_string:
        url = f"{url}?{query_string[:_MAX_URL]}"
    return Request(
        method=_text(method[:_MAX_SHORT].upper(), _MAX_SHORT) if method else None,
        url=_text(url, _MAX_URL) or None,
        path=path or None,
        route=_text(route, _MAX_URL) if route else None,
        query=_safe(lambda: _query(query_string), {}),
        headers=headers,
        client_ip=_text(_client_ip(headers, remote_addr) or "", _MAX_SHORT) or None,
        user_agent=headers.get("user-agent"),
        request_id=headers.get("x-request-id") or headers.get("x-correlation-id"),
        trace_id=parse_traceparent(headers.get("traceparent")),
        user=None,
    )


def _text(s: str, limit: int) -> str:
    # cut again once clean: an escaped surrogate is ten characters where it was one
    return clean_text(s[:limit])[:limit]


def _safe(read: Callable[[], _T], default: _T) -> _T:
    """``read()``, or ``default`` when the scope/environ is not shaped as it should be."""
    try:
        return read()
    except Exception:
        return default


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return None


def _latin1(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else ""


def _add_header(headers: dict[str, str], name: str, value: str) -> None:
    name = _text(name[:_MAX_HEADER_NAME].lower(), _MAX_HEADER_NAME)
    value = value[:_MAX_HEADER_VALUE]
    if name in headers:
        previous = headers[name]
        if len(previous) >= _MAX_HEADER_VALUE:
            return  # full already: 10 000 repeats must not be joined 10 000 times
        # repeated headers combine as HTTP says they may (RFC 9110 5.3); cookies use "; "
        value = f"{previous}{'; ' if name == 'cookie' else ', '}{value}"
    elif len(headers) >= _MAX_HEADERS and name not in _READ_HEADERS:
        return
    headers[name] = _text(value, _MAX_HEADER_VALUE)


def _query(query_string: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for key, value in parse_qsl(query_string[:_MAX_QUERY_STRING], keep_blank_values=True):
        key = _text(key, _MAX_HEADER_NAME)
        if key in query or len(query) < _MAX_QUERY_KEYS:
            query[key] = _text(value, _MAX_HEADER_VALUE)  # the last one wins, as most read it
    return query


def _client_ip(headers: Mapping[str, str], remote_addr: str | None) -> str | None:
    forwarded = headers.get("x-forwarded-for", "").split(",")[0].strip()
    return forwarded or headers.get("x-real-ip", "").strip() or remote_addr or None


def _host(host: object, port: object, scheme: str) -> str | None:
    if not isinstance(host, str) or not host or "/" in host:
        return None  # "/" : a Unix socket path (uvicorn --uds) names no host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    if isinstance(port, int) and not isinstance(port, bool) and port != _DEFAULT_PORTS.get(scheme):
        return f"{host}:{port}"
    return host


# -- ASGI ----------------------------------------------------------------------------------------
def _asgi_headers(raw: object) -> dict[str, str]:
    headers: dict[str, str] = {}
    if not isinstance(raw, Iterable):
        return headers
    for item in raw:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(name, bytes | str) and isinstance(value, bytes | str):
            _add_header(headers, _latin1(name), _latin1(value))
    return headers


def _asgi_path(scope: Mapping[str, Any]) -> str:
    root_path = _str(scope.get("root_path")) or ""
    path = _str(scope.get("path")) or ""
    # Servers and frameworks disagree on whether `path` already includes `root_path`
    # (Starlette's mounts and recent uvicorn put it in): prepend it only when missing.
    if root_path and not path.startswith(root_path):
        return root_path + path
    return path


def _asgi_server(scope: Mapping[str, Any], scheme: str) -> str | None:
    server = scope.get("server")
    if not server:
        return None
    host, port = server[0], server[1] if len(server) > 1 else None
    return _host(host, port, scheme)


def _route(route: object) -> str | None:
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


# -- WSGI ----------------------------------------------------------------------------------------
def _wsgi_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):  # the two headers without HTTP_
            name = key
        else:
            continue
        if value or key.startswith("HTTP_"):
            _add_header(headers, name.replace("_", "-"), value)
    return headers


def _wsgi_text(value: object) -> str:
    """PEP 3333 carries bytes as latin-1 str; paths are UTF-8 on the wire."""
    if not isinstance(value, str):
        return ""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _wsgi_server(environ: Mapping[str, Any], scheme: str) -> str | None:
    port: object = environ.get("SERVER_PORT")
    try:
        port = int(str(port))
    except ValueError:
        port = None
    return _host(environ.get("SERVER_NAME"), port, scheme)

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from erralert._capture.request import parse_traceparent, request_from_asgi, request_from_wsgi
from erralert._core.event import Request

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@dataclass
class _Route:
    path: str


def _scope(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/items/42",
        "raw_path": b"/items/42",
        "root_path": "",
        "query_string": b"page=2&sort=asc&page=3",
        "headers": [
            (b"host", b"shop.example.com"),
            (b"user-agent", b"curl/8.4"),
            (b"X-Forwarded-For", b"203.0.113.7, 10.0.0.2"),
            (b"x-request-id", b"req-1"),
            (b"traceparent", TRACEPARENT.encode()),
            (b"accept", b"text/html"),
            (b"accept", b"application/json"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
        ],
        "client": ("10.0.0.2", 51234),
        "server": ("10.0.0.1", 8000),
    }
    scope.update(overrides)
    return scope


def test_asgi_http_scope() -> None:
    assert request_from_asgi(_scope(route=_Route("/items/{id}"))) == Request(
        method="POST",
        url="https://shop.example.com/items/42?page=2&sort=asc&page=3",
        path="/items/42",
        route="/items/{id}",
        query={"page": "3", "sort": "asc"},
        headers={
            "host": "shop.example.com",
            "user-agent": "curl/8.4",
            "x-forwarded-for": "203.0.113.7, 10.0.0.2",
            "x-request-id": "req-1",
            "traceparent": TRACEPARENT,
            "accept": "text/html, application/json",
            "cookie": "a=1; b=2",
        },
        client_ip="203.0.113.7",
        user_agent="curl/8.4",
        request_id="req-1",
        trace_id=TRACE_ID,
        user=None,
    )


def test_asgi_websocket_scope() -> None:
    scope = {
        "type": "websocket",
        "path": "/ws",
        "query_string": b"",
        "headers": [],
        "server": ("chat.local", 80),
        "client": ("127.0.0.1", 5000),
    }
    request = request_from_asgi(scope)
    assert request.method == "WEBSOCKET"
    assert request.url == "ws://chat.local/ws"
    assert request.client_ip == "127.0.0.1"
    assert request.query == {}


@pytest.mark.parametrize(
    ("server", "scheme", "expected"),
    [
        (("10.0.0.1", 8000), "http", "http://10.0.0.1:8000/p"),
        (("example.com", 443), "https", "https://example.com/p"),
        (("example.com", 80), "https", "https://example.com:80/p"),
        (("::1", 8000), "http", "http://[::1]:8000/p"),
        (("/tmp/uvicorn.sock", None), "http", "/p"),
        (None, "http", "/p"),
    ],
)
def test_asgi_host_from_server(server: Any, scheme: str, expected: str) -> None:
    scope = {"type": "http", "method": "GET", "scheme": scheme, "path": "/p", "server": server}
    assert request_from_asgi(scope).url == expected


@pytest.mark.parametrize(
    ("root_path", "path", "expected"),
    [
        ("/api", "/items", "/api/items"),  # path without the mount point
        ("/api", "/api/items", "/api/items"),  # path that already includes it (Starlette)
        ("", "/items", "/items"),
    ],
)
def test_asgi_root_path(root_path: str, path: str, expected: str) -> None:
    request = request_from_asgi(_scope(root_path=root_path, path=path, query_string=b""))
    assert request.path == expected
    assert request.url == f"https://shop.example.com{expected}"


@pytest.mark.parametrize(
    ("headers", "client", "expected"),
    [
        ([(b"x-forwarded-for", b" 198.51.100.1 ,10.0.0.1")], ("10.0.0.9", 1), "198.51.100.1"),
        ([(b"x-real-ip", b"198.51.100.2")], ("10.0.0.9", 1), "198.51.100.2"),
        ([(b"x-forwarded-for", b""), (b"x-real-ip", b"198.51.100.3")], None, "198.51.100.3"),
        ([], ("10.0.0.9", 1), "10.0.0.9"),
        ([], None, None),
    ],
)
def test_asgi_client_ip(headers: Any, client: Any, expected: str | None) -> None:
    scope = {"type": "http", "path": "/", "headers": headers, "client": client}
    assert request_from_asgi(scope).client_ip == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"x-request-id", b"a")], "a"),
        ([(b"x-correlation-id", b"b")], "b"),
        ([(b"x-correlation-id", b"b"), (b"X-Request-ID", b"a")], "a"),
        ([], None),
    ],
)
def test_asgi_request_id(headers: Any, expected: str | None) -> None:
    assert request_from_asgi({"type": "http", "headers": headers}).request_id == expected


def test_asgi_limits() -> None:
    headers = [(f"x-h{i}".encode(), b"v" * 5000) for i in range(150)]
    query = "&".join(f"k{i}={i}" for i in range(150)) + "&k0=last"
    request = request_from_asgi(_scope(headers=headers, query_string=query.encode()))
    assert len(request.headers) == 100
    assert all(len(v) == 1000 for v in request.headers.values())
    assert len(request.query) == 100
    assert request.query["k0"] == "last"  # an existing key still takes its last value
    assert "k120" not in request.query
    assert request.url is not None
    assert len(request.url) <= 2048


def test_asgi_decodes_latin1_and_percent_escapes() -> None:
    request = request_from_asgi(
        _scope(headers=[(b"x-name", "café".encode("latin-1"))], query_string=b"q=caf%C3%A9")
    )
    assert request.headers == {"x-name": "café"}
    assert request.query == {"q": "café"}


@pytest.mark.parametrize(
    "scope",
    [
        {},
        {"type": "http"},
        {"type": "http", "headers": None, "client": None, "server": None},
        {"type": "http", "headers": [(b"host",), 5, (None, b"x"), (b"ok", b"1")]},
        {"type": "http", "headers": 42, "query_string": 42, "path": 3, "root_path": None},
        {"type": "http", "client": [], "server": ("h",), "method": 7, "route": object()},
        {"type": "http", "query_string": b"%%%&&==&a=%ff"},
        {"type": "lifespan"},
    ],
)
def test_asgi_malformed_scopes_never_raise(scope: dict[str, Any]) -> None:
    request = request_from_asgi(scope)
    assert isinstance(request, Request)


def test_asgi_malformed_headers_keep_the_readable_ones() -> None:
    scope = {"type": "http", "headers": [(b"host",), 5, (None, b"x"), (b"ok", b"1")]}
    assert request_from_asgi(scope).headers == {"ok": "1"}


def test_asgi_scope_that_is_not_a_mapping() -> None:
    class Broken(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

    assert request_from_asgi(Broken()) == Request()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TRACEPARENT, TRACE_ID),
        (f"  {TRACEPARENT}  ", TRACE_ID),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", TRACE_ID),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", None),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_traceparent(value: str | None, expected: str | None) -> None:
    assert parse_traceparent(value) == expected


def _environ(**overrides: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/caf\xc3\xa9/1",  # UTF-8 bytes carried as latin-1, as PEP 3333 says
        "QUERY_STRING": "a=1&token=x&a=2",
        "SERVER_NAME": "internal",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "",
        "HTTP_HOST": "shop.example.com",
        "HTTP_USER_AGENT": "Mozilla/5.0",
        "HTTP_X_FORWARDED_FOR": "198.51.100.9, 10.0.0.1",
        "HTTP_X_CORRELATION_ID": "corr-9",
        "HTTP_TRACEPARENT": TRACEPARENT,
        "HTTP_AUTHORIZATION": "Bearer abc123",
        "wsgi.url_scheme": "https",
        "wsgi.version": (1, 0),
        "wsgi.input": object(),
    }
    environ.update(overrides)
    return environ


def test_wsgi_environ() -> None:
    assert request_from_wsgi(_environ()) == Request(
        method="GET",
        url="https://shop.example.com/app/café/1?a=1&token=x&a=2",
        path="/app/café/1",
        route=None,
        query={"a": "2", "token": "x"},  # not scrubbed here: the scrubber does it
        headers={
            "content-type": "application/json",
            "host": "shop.example.com",
            "user-agent": "Mozilla/5.0",
            "x-forwarded-for": "198.51.100.9, 10.0.0.1",
            "x-correlation-id": "corr-9",
            "traceparent": TRACEPARENT,
            "authorization": "Bearer abc123",
        },
        client_ip="198.51.100.9",
        user_agent="Mozilla/5.0",
        request_id="corr-9",
        trace_id=TRACE_ID,
        user=None,
    )


@pytest.mark.parametrize(
    ("overrides", "expected_url"),
    [
        ({"HTTP_HOST": None, "QUERY_STRING": ""}, "https://internal:8080/app/café/1"),
        (
            {"HTTP_HOST": None, "SERVER_PORT": "443", "QUERY_STRING": ""},
            "https://internal/app/café/1",
        ),
        (
            {"HTTP_HOST": None, "wsgi.url_scheme": "http", "SERVER_PORT": "80"},
            "http://internal/app/café/1?a=1&token=x&a=2",
        ),
        ({"HTTP_HOST": None, "SERVER_NAME": None, "QUERY_STRING": ""}, "/app/café/1"),
    ],
)
def test_wsgi_host(overrides: dict[str, Any], expected_url: str) -> None:
    environ = {k: v for k, v in _environ(**overrides).items() if v is not None}
    assert request_from_wsgi(environ).url == expected_url


def test_wsgi_client_ip_fallback() -> None:
    environ = _environ()
    del environ["HTTP_X_FORWARDED_FOR"]
    assert request_from_wsgi(environ).client_ip == "10.0.0.5"
    environ["HTTP_X_REAL_IP"] = "198.51.100.4"
    assert request_from_wsgi(environ).client_ip == "198.51.100.4"


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"REQUEST_METHOD": None, "PATH_INFO": 5, "SERVER_PORT": "abc", "HTTP_HOST": b"x"},
        {"PATH_INFO": "/\udcff", "QUERY_STRING": "%%%", "SERVER_NAME": "h", "SERVER_PORT": None},
        {1: 2, "HTTP_X": 3},
    ],
)
def test_wsgi_malformed_environ_never_raises(environ: dict[Any, Any]) -> None:
    assert isinstance(request_from_wsgi(environ), Request)

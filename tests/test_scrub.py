from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from erralert._capture.events import build_exception_event
from erralert._capture.scrub import FILTERED, Scrubber
from erralert._core.event import Event, ExceptionInfo, Frame, Request

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36P"
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("passwd", True),
        ("client_secret", True),
        ("X-Auth-Token", True),
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("sessionid", True),
        ("csrfmiddlewaretoken", True),
        ("X-API-Key", True),
        ("apikey", True),
        ("private_key", True),
        ("private-key", True),
        ("aws_credentials", True),
        ("pin", True),  # an extra key
        ("Internal-Ref", True),  # an extra key written with "-"
        ("user", False),
        ("email", False),
        ("content-type", False),
        ("page", False),
        ("", False),
    ],
)
def test_is_sensitive(key: str, expected: bool) -> None:
    scrubber = Scrubber(["PIN", "internal_ref"])
    assert scrubber.is_sensitive(key) is expected
    assert scrubber.is_sensitive(key) is expected  # cached answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # URL credentials
        (
            "could not connect to postgresql://u:hunter2@db/x",
            "could not connect to postgresql://u:[Filtered]@db/x",
        ),
        ("redis://:p@ss@cache:6379/0", "redis://:[Filtered]@cache:6379/0"),
        ("'postgresql://u:hunt...'", "'postgresql://u:[Filtered]...'"),  # a cut repr
        ("http://host:8080/path", "http://host:8080/path"),
        # authorization schemes
        ("Authorization: Bearer abc123", "Authorization: [Filtered]"),
        ("sent Bearer abc123 upstream", "sent Bearer [Filtered] upstream"),
        ("Basic dXNlcjpwYXNz", "Basic [Filtered]"),
        ("Basic information about basic auth", "Basic information about basic auth"),
        # JWTs
        (f"bad jwt {JWT} given", "bad jwt [Filtered] given"),
        # pairs
        ("password=hunter2 user=bob", "password=[Filtered] user=bob"),
        ("password: hunter2", "password: [Filtered]"),
        ('{"password": "hunter2", "user": "bob"}', '{"password": "[Filtered]", "user": "bob"}'),
        ('{"api_key": 12345}', '{"api_key": [Filtered]}'),
        ("{'api_key': 'k1', 'n': 1}", "{'api_key': '[Filtered]', 'n': 1}"),
        ("{'token': b'raw'}", "{'token': b'[Filtered]'}"),
        ("User(name='bob', password='x y')", "User(name='bob', password='[Filtered]')"),
        ("X-Api-Key: abc", "X-Api-Key: [Filtered]"),
        ("api-key=zzz&page=2", "api-key=[Filtered]&page=2"),
        ("session_id=abc; csrftoken=def", "session_id=[Filtered]; csrftoken=[Filtered]"),
        ("Cookie: sid=abc; theme=dark", "Cookie: [Filtered]"),
        # query strings inside URLs
        (
            "GET https://api.example.com/v1/items?token=x&page=2 failed",
            "GET https://api.example.com/v1/items?token=[Filtered]&page=2 failed",
        ),
        ("?access_token=abc", "?access_token=[Filtered]"),
        # not secrets: exception names, source code, plain words
        ("TokenExpiredError: token expired", "TokenExpiredError: token expired"),
        ("auth.InvalidTokenError: bad signature", "auth.InvalidTokenError: bad signature"),
        ("token = get_token()", "token = get_token()"),
        ('password = request.form["password"]', 'password = request.form["password"]'),
        ("the session expired", "the session expired"),
        ("raised at app/auth.py:42", "raised at app/auth.py:42"),
        ("connect session.cache.local:6379", "connect session.cache.local:6379"),
        ("app.auth.login (app/auth.py:3)", "app.auth.login (app/auth.py:3)"),
        ("ValueError: invalid literal for int() with base 10: 'x'", None),
        ("", ""),
    ],
)
def test_text(text: str, expected: str | None) -> None:
    scrubber = Scrubber()
    expected = text if expected is None else expected
    assert scrubber.text(text) == expected
    assert scrubber.text(expected) == expected  # scrubbing twice changes nothing


def test_text_without_secrets_is_returned_as_is() -> None:
    text = "KeyError: 'user_id' in /srv/app/views.py line 42"
    assert Scrubber().text(text) is text


def test_extra_keys_in_text() -> None:
    scrubber = Scrubber(["pin", "internal_ref"])
    assert scrubber.text("pin=1234 internal-ref: 77 page=3") == (
        "pin=[Filtered] internal-ref: [Filtered] page=3"
    )


def test_mapping_filters_nested_values() -> None:
    scrubber = Scrubber()
    data: dict[Any, Any] = {
        "user": "bob",
        "password": "hunter2",
        "nested": {"api_key": "k", "note": "token=abc", "items": [{"secret": 1}, "ok", ("x",)]},
        b"session": "raw",
        3: "Bearer abc123",
    }
    assert scrubber.mapping(data) == {
        "user": "bob",
        "password": FILTERED,
        "nested": {
            "api_key": FILTERED,
            "note": "token=[Filtered]",
            "items": [{"secret": FILTERED}, "ok", ("x",)],
        },
        b"session": FILTERED,
        3: "Bearer [Filtered]",
    }
    assert data["password"] == "hunter2"  # the input is not modified


def test_mapping_is_cycle_safe_and_bounded() -> None:
    cyclic: dict[str, Any] = {"name": "a"}
    cyclic["self"] = cyclic
    cyclic["list"] = [cyclic]
    assert Scrubber().mapping(cyclic) == {
        "name": "a",
        "self": "[Circular]",
        "list": ["[Circular]"],
    }
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(50):
        node["child"] = {}
        node = node["child"]
    result = Scrubber().mapping(deep)
    for _ in range(9):
        result = result["child"]
    assert result == {"child": "[...]"}
    # a shared (not cyclic) value is scrubbed wherever it appears
    shared = {"token": "x"}
    assert Scrubber().mapping({"a": shared, "b": shared}) == {
        "a": {"token": FILTERED},
        "b": {"token": FILTERED},
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        (
            "https://u:pw@example.com/a?token=x&b=1#frag",
            "https://u:[Filtered]@example.com/a?token=[Filtered]&b=1#frag",
        ),
        ("/cb?access%5Ftoken=y;state=ok", "/cb?access%5Ftoken=[Filtered];state=ok"),
        (f"/reset/{JWT}", "/reset/[Filtered]"),
        ("/plain", "/plain"),
        ("", ""),
    ],
)
def test_url(url: str, expected: str) -> None:
    assert Scrubber().url(url) == expected


def test_request() -> None:
    request = Request(
        method="GET",
        url="https://example.com/items?token=x&page=2",
        path="/items",
        query={"token": "x", "page": "2"},
        headers={
            "authorization": "Bearer abc123",
            "cookie": "sid=abc; theme=dark",
            "x-request-id": "r-1",
            "referer": "https://example.com/?api_key=k",
        },
        client_ip="10.0.0.1",
        user_agent="curl/8",
        request_id="r-1",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        user="42",
    )
    scrubbed = Scrubber().request(request)
    assert scrubbed == Request(
        method="GET",
        url="https://example.com/items?token=[Filtered]&page=2",
        path="/items",
        query={"token": FILTERED, "page": "2"},
        headers={
            "authorization": FILTERED,
            "cookie": FILTERED,
            "x-request-id": "r-1",
            "referer": "https://example.com/?api_key=[Filtered]",
        },
        client_ip="10.0.0.1",
        user_agent="curl/8",
        request_id="r-1",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        user="42",
    )


def _connect(dsn: str, api_token: str) -> None:
    raise ConnectionError(f"could not connect to {dsn}")


def test_event_filters_the_password_everywhere() -> None:
    dsn = "postgresql://u:hunter2@db/x"
    try:
        _connect("postgresql://u:hunter2@db/x", api_token="hunter2")
    except ConnectionError as exc:
        event = build_exception_event(
            exc,
            message=f"db down: {dsn}",
            include_locals=True,
            request=Request(
                url="https://example.com/?token=hunter2",
                query={"token": "hunter2"},
                headers={"authorization": "Bearer hunter2", "cookie": "sid=hunter2"},
            ),
            tags={"dsn": dsn, "session": "hunter2"},
            extra={"config": {"password": "hunter2", "url": dsn}, "note": "hunter2 is fine?"},
        )
    assert "hunter2" in json.dumps(event.to_dict())
    scrubbed = Scrubber().event(event)
    document = json.dumps(scrubbed.to_dict())
    # the one non-secret mention (a free-text note) is all that is left
    assert document.count("hunter2") == 1
    assert scrubbed.extra["note"] == "hunter2 is fine?"
    assert scrubbed.title == "ConnectionError: could not connect to postgresql://u:[Filtered]@db/x"
    assert scrubbed.message == "db down: postgresql://u:[Filtered]@db/x"
    frame = scrubbed.frames[-1]
    assert frame.locals == {"dsn": "'postgresql://u:[Filtered]@db/x'", "api_token": FILTERED}
    assert scrubbed.request is not None
    assert scrubbed.request.headers == {"authorization": FILTERED, "cookie": FILTERED}
    assert scrubbed.tags == {"dsn": "postgresql://u:[Filtered]@db/x", "session": FILTERED}
    assert scrubbed.extra["config"] == {
        "password": FILTERED,
        "url": "postgresql://u:[Filtered]@db/x",
    }
    assert scrubbed.traceback.endswith(
        "ConnectionError: could not connect to postgresql://u:[Filtered]@db/x"
    )
    # everything else is untouched
    assert scrubbed.event_id == event.event_id
    assert scrubbed.culprit == event.culprit
    assert [f.lineno for f in scrubbed.frames] == [f.lineno for f in event.frames]


def test_event_without_exceptions_scrubs_its_traceback_text() -> None:
    event = Event(
        event_id="e",
        timestamp=0.0,
        level="error",
        title="login failed password=hunter2",
        message="login failed password=hunter2",
        exceptions=(),
        culprit="",
        traceback="Stack:\n  password=hunter2",
        request=None,
        service=None,
        environment=None,
        release=None,
        host="h",
        pid=1,
    )
    scrubbed = Scrubber().event(event)
    assert "hunter2" not in json.dumps(scrubbed.to_dict())
    assert scrubbed.traceback == "Stack:\n  password=[Filtered]"


def test_event_from_stored_data_is_rerendered() -> None:
    info = ExceptionInfo(
        type="ValueError",
        module="builtins",
        message="token=abc",
        frames=(
            Frame(
                filename="/srv/app/x.py",
                abs_path="/srv/app/x.py",
                lineno=3,
                function="f",
                module="app.x",
                context_line='raise ValueError("token=abc")',
                in_app=True,
            ),
        ),
    )
    event = Event(
        event_id="e",
        timestamp=0.0,
        level="error",
        title="ValueError: token=abc",
        message=None,
        exceptions=(info,),
        culprit="app.x.f (x.py:3)",
        traceback="stale text with token=abc",
        request=None,
        service=None,
        environment=None,
        release=None,
        host="h",
        pid=1,
    )
    scrubbed = Scrubber().event(event)
    assert scrubbed.traceback == (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/x.py", line 3, in f\n'
        '    raise ValueError("token=[Filtered]")\n'
        "ValueError: token=[Filtered]"
    )


def test_an_event_with_nothing_to_scrub_is_kept_as_it_is() -> None:
    try:
        raise ValueError("nothing secret here")
    except ValueError as exc:
        event = build_exception_event(exc)
    assert Scrubber().event(event) is event
    secret = dataclasses.replace(event, title="ValueError: password=hunter2")
    scrubbed = Scrubber().event(secret)
    assert scrubbed.title == "ValueError: password=[Filtered]"
    assert scrubbed.exceptions == secret.exceptions

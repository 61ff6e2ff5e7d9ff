"""Bad input hardening: whatever an application throws at erralert, the application's own
exception and response stay exactly what they were, one correct alert per error reaches each
platform within its limits, and erralert's work stays bounded.

Each case is checked three ways: through ``ASGIMiddleware`` (behind Starlette's
``ServerErrorMiddleware``, which turns the exception into the 500 page a server sends) and
``WSGIMiddleware``, against the same app without erralert; by the rendered messages of
Slack, DingTalk, Telegram and the generic webhook (``capture_alerts``); and by bounds on the
event (frames, exceptions, lengths) rather than on time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.middleware.errors import ServerErrorMiddleware

import erralert
from erralert._capture.chain import MAX_EXCEPTIONS
from erralert._capture.events import MAX_TITLE, build_exception_event
from erralert._capture.live_frames import HEAD_FRAMES, TAIL_FRAMES
from erralert._capture.safe_text import MAX_LOCAL_REPR, MAX_MESSAGE, safe_repr, safe_str
from erralert._core.event import Event
from erralert._grouping.fingerprint import exception_fingerprint
from erralert.channels import dingtalk, slack, telegram
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Receiver

URLS = (
    "slack://T000/B000/XXXXXXXX",
    "dingtalk://0123abcd?secret=SEC0123456789abcdef",
    "telegram://123456789:AAE-hardening/-100123456",
    "webhook+http://127.0.0.1:9/hook",
)
PLATFORMS = ("dingtalk", "slack", "telegram", "webhook")
WEBHOOK_DOCUMENT_LIMIT = 1_000_000  # the generic webhook has no platform limit: ours

Raiser = Callable[[], None]  # raises the bad exception, from inside the application

# A tracer already installed (a debugger, coverage) is left alone by erralert, and the
# application code it calls then runs without a time budget: a repr that never returns
# would hang this test run instead of being cut short.
no_tracer = pytest.mark.skipif(
    sys.gettrace() is not None, reason="a tracer is installed: reprs run without a budget"
)


# -- recording and checking alerts ----------------------------------------------------------------
@contextlib.contextmanager
def recording(**options: Any) -> Iterator[tuple[erralert.Alerter, list[CapturedAlert]]]:
    """A fresh alerter for the four platforms whose messages are recorded, not sent."""
    alerter = erralert.Alerter(URLS, **options)
    with capture_alerts(alerter) as alerts:
        try:
            yield alerter, alerts
        finally:
            alerter.close(0.1)  # inside: a digest of repeats would be recorded, never sent


def _size(text: str, unit: str) -> int:
    return len(text.encode("utf-8", "surrogatepass")) if unit == "bytes" else len(text)


def _blocks(node: Any) -> Iterator[dict[str, Any]]:
    """Every Slack block in a payload, attachments included."""
    if isinstance(node, dict):
        if node.get("type") in ("header", "section"):
            yield node
        for value in node.values():
            yield from _blocks(value)
    elif isinstance(node, list):
        for item in node:
            yield from _blocks(item)


def check_alerts(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], type_name: str
) -> dict[str, CapturedAlert]:
    """One alert per platform for one error, naming the exception type, rendered by the
    channel's own template, as JSON that any platform accepts and within its limits."""
    assert sorted(a.platform for a in alerts) == sorted(PLATFORMS)
    channels = {c.platform: c for c in alerter.channels}
    by_platform: dict[str, CapturedAlert] = {}
    for alert in alerts:
        assert alert.kind == "alert"
        assert type_name in alert.title
        assert "\n" not in alert.title
        assert alert.message.template_error is None  # no fallback to the plain template
        assert alert.request is not None
        body = alert.request.content
        payload = json.loads(body.decode("utf-8"))  # strict UTF-8: no lone surrogates
        assert payload == alert.payload
        channel = channels[alert.platform]
        assert _size(alert.body, channel.length_unit) <= channel.max_length
        by_platform[alert.platform] = alert

    sections = list(_blocks(by_platform["slack"].payload))
    assert 0 < len(sections) <= 50
    for block in sections:
        limit = slack.HEADER_LIMIT if block["type"] == "header" else slack.SECTION_LIMIT
        assert 0 < len(block["text"]["text"]) <= limit

    ding = by_platform["dingtalk"]
    assert ding.request is not None
    assert len(ding.request.content) <= dingtalk.BODY_LIMIT
    assert ding.payload["msgtype"] == "markdown"

    text = by_platform["telegram"].payload["text"]
    assert telegram.visible_length(text) <= telegram.TEXT_LIMIT

    hook = by_platform["webhook"]
    assert hook.request is not None
    assert len(hook.request.content) <= WEBHOOK_DOCUMENT_LIMIT
    document = hook.payload
    assert document["version"] == 1
    assert document["kind"] == "alert"
    assert type_name in document["title"]
    assert Event.from_dict(document["event"]) == alert_event(alerts)
    return by_platform


def alert_event(alerts: list[CapturedAlert]) -> Event:
    events = {id(a.notice.event): a.notice.event for a in alerts}
    assert len(events) == 1  # one error, one event, rendered for every platform
    return next(iter(events.values()))


# -- driving the middlewares ----------------------------------------------------------------------
def http_scope(**changes: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/boom",
        "raw_path": b"/boom",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"user-agent", b"hardening")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    scope.update(changes)
    return scope


def wsgi_environ(**changes: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/boom",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    environ.update(changes)
    return environ


def asgi_app(raise_it: Raiser, raised: list[BaseException]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            raise_it()
        except BaseException as exc:
            raised.append(exc)
            raise

    return app


def wsgi_app(raise_it: Raiser, raised: list[BaseException]) -> Any:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        try:
            raise_it()
        except BaseException as exc:
            raised.append(exc)
            raise
        return [b"never"]

    return app


def serve_asgi(app: Any, scope: Mapping[str, Any]) -> tuple[BaseException | None, list[Any]]:
    """What a server sees of ``app``: the exception it raises and the messages it sends,
    behind Starlette's ServerErrorMiddleware (which sends the 500 page, then re-raises)."""
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    # Driven by hand, not by asyncio.run(): nothing here really waits, and asyncio.run()
    # itself calls repr() on the exception a task ended with (to compare signal handlers),
    # which replaces an exception whose __repr__ raises before any middleware is involved.
    call = ServerErrorMiddleware(app)(dict(scope), receive, send)
    try:
        call.send(None)
    except StopIteration:
        return None, sent
    except BaseException as exc:
        return exc, sent
    finally:
        call.close()
    raise AssertionError("the app waited for something")


def serve_wsgi(app: Any, environ: Mapping[str, Any]) -> BaseException | None:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        pass

    try:
        body = app(dict(environ), start_response)
        try:
            b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
    except BaseException as exc:
        return exc
    return None


def assert_asgi_unchanged(
    raise_it: Raiser, alerter: erralert.Alerter, scope: Mapping[str, Any] | None = None
) -> BaseException:
    """The app behind erralert raises the very exception object it raised, and the server
    sends the same 500 response as without erralert."""
    scope = http_scope() if scope is None else scope
    bare: list[BaseException] = []
    bare_exc, bare_sent = serve_asgi(asgi_app(raise_it, bare), scope)
    assert bare
    assert bare_exc is bare[0]
    raised: list[BaseException] = []
    wrapped = erralert.ASGIMiddleware(asgi_app(raise_it, raised), alerter=alerter)
    exc, sent = serve_asgi(wrapped, scope)
    assert len(raised) == 1
    assert exc is raised[0]
    assert type(exc).__name__ == type(bare_exc).__name__  # type() makes a new class each time
    assert sent == bare_sent
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 500
    return exc


def assert_wsgi_unchanged(
    raise_it: Raiser, alerter: erralert.Alerter, environ: Mapping[str, Any] | None = None
) -> BaseException:
    environ = wsgi_environ() if environ is None else environ
    bare: list[BaseException] = []
    bare_exc = serve_wsgi(wsgi_app(raise_it, bare), environ)
    assert bare
    assert bare_exc is bare[0]
    raised: list[BaseException] = []
    exc = serve_wsgi(erralert.WSGIMiddleware(wsgi_app(raise_it, raised), alerter=alerter), environ)
    assert len(raised) == 1
    assert exc is raised[0]
    assert type(exc).__name__ == type(bare_exc).__name__
    return exc


# -- the bad exceptions ---------------------------------------------------------------------------
class StrAndReprRaise(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken")


def raise_str_and_repr_raise() -> None:
    raise StrAndReprRaise("unprintable")


def check_str_and_repr_raise(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert event.title == "StrAndReprRaise: <exception str() failed: StrAndReprRaise>"


def raise_10mb_message() -> None:
    raise ValueError("x" * 10_000_000)


def check_10mb_message(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    message = event.exceptions[-1].message
    assert len(message) == MAX_MESSAGE
    note = re.search(r"… \[truncated, (\d+) more characters\]$", message)
    assert note is not None
    assert message.index("…") + int(note[1]) == 10_000_000  # kept + cut: all of it
    assert len(event.title) <= MAX_TITLE
    # every platform got the start of the message, cut to its own limit
    for alert in alerts.values():
        assert "xxxxxxxxxx" in alert.body


def raise_invalid_utf8_bytes() -> None:
    raise ValueError(b"\xff\xfe\x80 not UTF-8 \xc3\x28")


def check_invalid_utf8_bytes(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert event.title == r"ValueError: b'\xff\xfe\x80 not UTF-8 \xc3('"


def raise_lone_surrogates() -> None:
    raise ValueError("file caf\udce9.txt and \ud800 alone")


def check_lone_surrogates(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert event.title == r"ValueError: file caf\udce9.txt and \ud800 alone"
    assert r"\udce9" in alerts["webhook"].payload["event"]["exceptions"][-1]["message"]


def raise_nul_bytes() -> None:
    raise ValueError("before\x00after\x00")


def check_nul_bytes(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert event.title == r"ValueError: before\x00after\x00"
    for alert in alerts.values():
        assert alert.request is not None
        assert b"\x00" not in alert.request.content
        assert "\\u0000" not in alert.request.content.decode()


def raise_cyclic_chain() -> None:
    outer = ValueError("outer")
    inner = KeyError("inner")
    outer.__cause__ = inner
    inner.__context__ = outer  # a cycle: outer <- inner <- outer <- ...
    raise outer


def check_cyclic_chain(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert [e.type for e in event.exceptions] == ["KeyError", "ValueError"]
    assert [e.relation for e in event.exceptions] == ["cause", None]
    assert event.traceback.count("The above exception was the direct cause") == 1


def _recurse() -> None:
    _recurse()


def raise_recursion_error() -> None:
    """A real RecursionError, 10 000 frames below this one."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back  # type: ignore[assignment]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 10_000)
    try:
        _recurse()
    finally:
        sys.setrecursionlimit(limit)


def check_recursion_error(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    raised = event.exceptions[-1]
    assert raised.type == "RecursionError"
    assert len(raised.frames) == HEAD_FRAMES + TAIL_FRAMES
    assert raised.frames_omitted > 9_800
    assert f"[... {raised.frames_omitted} frames omitted ...]" in event.traceback
    assert raised.frames[-1].function == "_recurse"
    exception = alerts["webhook"].payload["event"]["exceptions"][-1]
    assert exception["frames_omitted"] == raised.frames_omitted
    assert len(exception["frames"]) == HEAD_FRAMES + TAIL_FRAMES


def _leaf(n: int) -> ValueError:
    try:
        raise ValueError(f"leaf {n}")
    except ValueError as exc:
        return exc


def raise_nested_groups() -> None:
    """Three levels of groups, 100 leaves: 10 groups of 2 groups of 5 errors."""
    leaves = [_leaf(n) for n in range(100)]
    raise ExceptionGroup(
        "top",
        [
            ExceptionGroup(
                f"mid {i}",
                [ExceptionGroup(f"low {i}.{j}", leaves[10 * i + 5 * j :][:5]) for j in range(2)],
            )
            for i in range(10)
        ],
    )


def check_nested_groups(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert len(event.exceptions) == MAX_EXCEPTIONS
    top = event.exceptions[-1]
    assert (top.type, top.message) == ("ExceptionGroup", "top (10 sub-exceptions)")
    # every group's members are either in the event or counted as left out
    for index, group in enumerate(event.exceptions):
        if group.type != "ExceptionGroup":
            continue
        kept = sum(1 for e in event.exceptions if e.parent == index and e.relation == "group")
        total = int(re.search(r"\((\d+) sub-exceptions?\)", group.message)[1])  # type: ignore[index]
        assert kept + group.members_omitted == total
    omitted = sum(e.members_omitted for e in event.exceptions)
    assert omitted > 0
    assert re.search(r"\| and \d+ more exceptions", event.traceback)
    document = alerts["webhook"].payload["event"]["exceptions"]
    assert sum(e.get("members_omitted", 0) for e in document) == omitted


def raise_dynamic_class() -> None:
    raise type("Dyn", (Exception,), {})("made by type()")


def check_dynamic_class(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert (event.exceptions[-1].type, event.exceptions[-1].module) == ("Dyn", __name__)
    assert event.title == "Dyn: made by type()"


def raise_module_none() -> None:
    raise type("NoModule", (Exception,), {"__module__": None})("module None")


def check_module_none(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert (event.exceptions[-1].type, event.exceptions[-1].module) == ("NoModule", "")
    assert alerts["webhook"].payload["event"]["exceptions"][-1]["module"] == ""


def raise_module_not_a_string() -> None:
    cls = type("NumberModule", (Exception,), {"__module__": 42})
    cls.__qualname__ = "Factory.<locals>.NumberModule"
    raise cls("module 42")


def check_module_not_a_string(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    assert event.exceptions[-1].type == "Factory.<locals>.NumberModule"
    assert event.exceptions[-1].module == ""


def raise_weird_qualname() -> None:
    cls = type("Weird", (Exception,), {"__module__": "pkg.\udcff\x00mod"})
    cls.__qualname__ = "Weird\ud800\x00" + "Q" * 10_000
    raise cls("weird names")


def check_weird_qualname(event: Event, alerts: dict[str, CapturedAlert]) -> None:
    raised = event.exceptions[-1]
    assert raised.type.startswith(r"Weird\ud800\x00QQQ")
    assert len(raised.type) <= 200
    assert raised.module == r"pkg.\udcff\x00mod"
    assert len(event.title) <= MAX_TITLE


@dataclass(frozen=True)
class Case:
    id: str
    raise_it: Raiser
    type_name: str
    check: Callable[[Event, dict[str, CapturedAlert]], None]
    options: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "str-and-repr-raise", raise_str_and_repr_raise, "StrAndReprRaise", check_str_and_repr_raise
    ),
    Case("10mb-message", raise_10mb_message, "ValueError", check_10mb_message),
    Case("invalid-utf8-bytes", raise_invalid_utf8_bytes, "ValueError", check_invalid_utf8_bytes),
    Case("lone-surrogates", raise_lone_surrogates, "ValueError", check_lone_surrogates),
    Case("nul-bytes", raise_nul_bytes, "ValueError", check_nul_bytes),
    Case("cyclic-cause-context", raise_cyclic_chain, "ValueError", check_cyclic_chain),
    Case("recursion-10000-frames", raise_recursion_error, "RecursionError", check_recursion_error),
    Case("nested-exception-groups", raise_nested_groups, "ExceptionGroup", check_nested_groups),
    Case("dynamic-class", raise_dynamic_class, "Dyn", check_dynamic_class),
    Case("module-none", raise_module_none, "NoModule", check_module_none),
    Case(
        "module-not-a-string", raise_module_not_a_string, "NumberModule", check_module_not_a_string
    ),
    Case("weird-qualname", raise_weird_qualname, "Weird", check_weird_qualname),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_bad_exception(case: Case, server: str) -> None:
    with recording(**case.options) as (alerter, alerts):
        if server == "asgi":
            assert_asgi_unchanged(case.raise_it, alerter)
        else:
            assert_wsgi_unchanged(case.raise_it, alerter)
        by_platform = check_alerts(alerter, alerts, case.type_name)
        event = alert_event(alerts)
        assert case.type_name in event.exceptions[-1].type
        case.check(event, by_platform)
        assert event.request is not None
        assert event.request.path == "/boom"


# -- locals ---------------------------------------------------------------------------------------
class ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("no repr today")


class ReprForever:
    entered = 0

    def __repr__(self) -> str:
        ReprForever.entered += 1
        while True:  # one instruction jumping to itself: no line event ever fires
            pass


class ReprHuge:
    def __repr__(self) -> str:
        return "h" * 10_000_000


def raise_with_bad_locals() -> None:
    raising = ReprRaises()
    forever = ReprForever()
    huge_list = list(range(1_000_000))
    huge_repr = ReprHuge()
    huge_text = "t" * 10_000_000
    _ = (raising, forever, huge_list, huge_repr, huge_text)  # what the alert shows
    raise ValueError("with bad locals")


@no_tracer
@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_locals_whose_repr_raises_never_returns_or_is_huge(server: str) -> None:
    with recording(include_locals=True) as (alerter, alerts):
        if server == "asgi":
            assert_asgi_unchanged(raise_with_bad_locals, alerter)
        else:
            assert_wsgi_unchanged(raise_with_bad_locals, alerter)
        check_alerts(alerter, alerts, "ValueError")
        frame = alert_event(alerts).frames[-1]
    assert frame.function == "raise_with_bad_locals"
    local = frame.locals
    assert local is not None
    assert re.fullmatch(r"<ReprRaises instance at 0x[0-9a-f]+>", local["raising"])
    assert local["forever"] == "<repr() timed out: ReprForever>"
    assert local["huge_list"] == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"
    assert local["huge_repr"].startswith("h" * 98 + "...")  # its head ... its tail (scrubbed)
    assert len(local["huge_text"]) <= MAX_LOCAL_REPR
    assert all(len(v) <= MAX_LOCAL_REPR for v in local.values())
    assert sys.gettrace() is None  # the budget's tracer is gone


def _forever_locals() -> None:
    f0, f1, f2, f3, f4, f5, f6, f7, f8, f9 = (ReprForever() for _ in range(10))
    _ = (f0, f1, f2, f3, f4, f5, f6, f7, f8, f9)
    raise ValueError("ten reprs that never return")


@no_tracer
def test_reprs_that_never_return_share_one_budget_per_event() -> None:
    try:
        _forever_locals()
    except ValueError as exc:
        error = exc
    ReprForever.entered = 0
    event = build_exception_event(error, include_locals=True, extra={"more": ReprForever()})
    local = event.frames[-1].locals
    assert local is not None
    assert {local[f"f{n}"] for n in range(10)} == {"<repr() timed out: ReprForever>"}
    assert event.extra == {"more": "<repr() timed out: ReprForever>"}
    # 0.1 s per call, 0.5 s per event: once spent, the others are not even asked
    assert ReprForever.entered <= 6
    assert safe_repr(ReprForever()) == "<repr() timed out: ReprForever>"  # a fresh budget


class StrForever(Exception):
    def __str__(self) -> str:
        while True:
            pass


def raise_str_forever() -> None:
    raise StrForever()


@no_tracer
def test_a_str_that_never_returns() -> None:
    with recording() as (alerter, alerts):
        exc = assert_asgi_unchanged(raise_str_forever, alerter)
        check_alerts(alerter, alerts, "StrForever")
    assert isinstance(exc, StrForever)
    assert alert_event(alerts).title == "StrForever: <str() timed out: StrForever>"
    assert safe_str(StrForever()) == "<str() timed out: StrForever>"


# -- context the application passes ---------------------------------------------------------------
def test_non_string_keys_in_extra_and_tags() -> None:
    keys: dict[Any, str] = {1: "a", (2, 3): "b", None: "c", b"\xff": "d", "\ud800": "e"}
    with recording() as (alerter, alerts):
        error = LookupError("with odd keys")
        try:
            raise error
        except LookupError:
            before = (error.args, error.__traceback__, error.__cause__, error.__context__)
            event_id = alerter.capture_exception(extra=keys, tags=keys)
            handled = sys.exc_info()[1]
        # the exception being handled is untouched
        assert handled is error
        assert (error.args, error.__traceback__, error.__cause__, error.__context__) == before
        assert isinstance(event_id, str)
        by_platform = check_alerts(alerter, alerts, "LookupError")
    expected = {"1": "a", "(2, 3)": "b", "None": "c", r"b'\xff'": "d", r"\ud800": "e"}
    event = alert_event(alerts)
    assert event.extra == expected
    assert event.tags == expected
    document = by_platform["webhook"].payload["event"]
    assert document["extra"] == expected
    assert document["tags"] == expected


def test_a_10mb_exception_message_is_never_copied() -> None:
    error = ValueError("x" * 10_000_000)
    with recording() as (alerter, alerts):
        tracemalloc.start()
        try:
            alerter.capture_exception(error)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        check_alerts(alerter, alerts, "ValueError")
    assert peak < 5_000_000  # not one copy of the 10 MB: capture reads a slice of it


def test_a_10mb_logged_message() -> None:
    text = "y" * 10_000_000 + " 42"
    with recording() as (alerter, alerts):
        tracemalloc.start()
        try:
            event_id = alerter.capture_message(text)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert isinstance(event_id, str)
        check_alerts(alerter, alerts, "yyyy")
        # grouped on what the event shows of it (normalising all 10 MB took 3 s): another
        # text that differs only past that is a repeat, counted, not a second alert
        alerter.capture_message(text[:-3] + " 43")
        assert len(alerts) == len(PLATFORMS)
    assert len(alert_event(alerts).message or "") == MAX_MESSAGE
    # bounded: the scrubber still lower()s one copy of the whole text before capture cuts it
    assert peak < 25_000_000


# -- requests -------------------------------------------------------------------------------------
MEGABYTE = 1_000_000


def check_bounded_request(alerter: erralert.Alerter, alerts: list[CapturedAlert]) -> None:
    by_platform = check_alerts(alerter, alerts, "ValueError")
    request = alert_event(alerts).request
    assert request is not None
    assert request.url is not None
    assert request.path is not None
    assert request.url.startswith("http://testserver/aaaa")
    assert len(request.url) <= 2048
    assert len(request.path) <= 2048
    assert len(request.headers) <= 110
    assert all(len(k) <= 200 and len(v) <= 1000 for k, v in request.headers.items())
    assert all(len(k) <= 200 and len(v) <= 1000 for k, v in request.query.items())
    assert request.user_agent == "hardening"  # read although it came after 10 000 others
    document = by_platform["webhook"].payload["event"]["request"]
    assert len(json.dumps(document)) < 200_000
    for value in (request.url, request.path, *request.headers.values()):
        value.encode("utf-8")  # no lone surrogates left


def test_asgi_request_with_10000_headers_and_a_1mb_url() -> None:
    path = "/" + "a" * MEGABYTE + "/caf\udce9"
    headers = [(f"x-filler-{i}".encode(), b"v" * 100) for i in range(10_000)]
    headers += [(b"x-binary", b"\xff\xfe\x00\x80"), (b"x-" + b"n" * MEGABYTE, b"long name")]
    headers += [(b"host", b"testserver"), (b"user-agent", b"hardening")]
    scope = http_scope(
        path=path,
        raw_path=path.encode("utf-8", "surrogateescape"),
        query_string=b"q=" + b"b" * MEGABYTE + b"&k=\xff",
        headers=headers,
    )

    def fail() -> None:
        raise ValueError("big request")

    with recording() as (alerter, alerts):
        assert_asgi_unchanged(fail, alerter, scope)
        check_bounded_request(alerter, alerts)


def test_wsgi_request_with_10000_headers_and_a_1mb_url() -> None:
    environ = wsgi_environ(
        PATH_INFO="/" + "a" * MEGABYTE + "/caf\udce9",
        QUERY_STRING="q=" + "b" * MEGABYTE,
        HTTP_X_BINARY="\xff\xfe\x00\x80",
    )
    environ.update({f"HTTP_X_FILLER_{i}": "v" * 100 for i in range(10_000)})
    environ["HTTP_USER_AGENT"] = "hardening"  # after the 10 000 others

    def fail() -> None:
        raise ValueError("big request")

    with recording() as (alerter, alerts):
        assert_wsgi_unchanged(fail, alerter, environ)
        check_bounded_request(alerter, alerts)


# -- classes defined in __main__ ------------------------------------------------------------------
MAIN_SCRIPT = """
import erralert

class MainError(Exception):
    pass

alerter = erralert.Alerter(["webhook+{base}/hook"])
try:
    raise MainError("raised in __main__")
except MainError:
    alerter.capture_exception()
    alerter.close(10)
    raise
"""


@pytest.mark.parametrize("how", ["file", "-c"])
@pytest.mark.e2e
def test_exception_class_defined_in_main(receiver: Receiver, tmp_path: Path, how: str) -> None:
    source = textwrap.dedent(MAIN_SCRIPT).format(base=receiver.base)
    if how == "file":
        script = tmp_path / "app.py"
        script.write_text(source)
        command = [sys.executable, str(script)]
    else:
        command = [sys.executable, "-c", source]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    # the script's own exception ends it exactly as it would without erralert
    assert done.returncode == 1
    assert done.stderr.rstrip().splitlines()[-1] == "MainError: raised in __main__"
    received = receiver.wait_for(1)
    assert len(received) == 1
    document = received[0].json
    assert "MainError: raised in __main__" in document["title"]
    assert document["event"]["title"] == "MainError: raised in __main__"
    raised = document["event"]["exceptions"][-1]
    assert (raised["type"], raised["module"]) == ("MainError", "__main__")
    assert document["event"]["culprit"].startswith("__main__.<module>")


# -- a metaclass that hides __module__ ------------------------------------------------------------
class _HidingMeta(type):
    @property
    def __module__(cls) -> str:  # type: ignore[override]
        raise RuntimeError("this class will not say where it lives")


class HiddenModuleError(Exception, metaclass=_HidingMeta):
    pass


def raise_hidden_module() -> None:
    raise HiddenModuleError("who am I")


def test_metaclass_hiding_module_is_captured() -> None:
    """capture and grouping read a class through ``type``'s own descriptors."""
    try:
        raise_hidden_module()
    except HiddenModuleError as exc:
        error = exc
    event = build_exception_event(error)
    assert (event.exceptions[-1].type, event.exceptions[-1].module) == (
        "HiddenModuleError",
        __name__,
    )
    assert event.title == "HiddenModuleError: who am I"
    assert exception_fingerprint(error) != exception_fingerprint(ValueError())


def test_metaclass_hiding_module_through_the_middlewares() -> None:
    with recording() as (alerter, alerts):
        raised: list[BaseException] = []
        exc, _ = serve_asgi(
            erralert.ASGIMiddleware(asgi_app(raise_hidden_module, raised), alerter=alerter),
            http_scope(),
        )
        same_exception = exc is raised[0]  # not asserted here: pytest would print the chain
        del exc, raised
        got_alerts = len(alerts)
    assert same_exception
    assert got_alerts == len(PLATFORMS)


# -- erralert's own failures ----------------------------------------------------------------------
def _raising_hook(event: Event) -> Any:
    raise RuntimeError("the hook is broken")


@pytest.mark.parametrize("hook", ["before_send", "fingerprint"])
def test_hooks_that_raise_never_reach_the_app(hook: str, caplog: pytest.LogCaptureFixture) -> None:
    with recording(**{hook: _raising_hook}) as (alerter, alerts):
        caplog.set_level(logging.ERROR, logger="erralert")
        for n in range(3):
            try:
                raise OSError(f"disk {n}")
            except OSError:
                result = alerter.capture_exception()
                assert result is None or isinstance(result, str)
        assert_asgi_unchanged(raise_nul_bytes, alerter)
        assert_wsgi_unchanged(raise_nul_bytes, alerter)
    records = [r for r in caplog.records if r.name == "erralert"]
    assert len(records) == 1  # reported once per interval, not once per error
    assert "the hook is broken" in records[0].getMessage()
    if hook == "before_send":
        assert alerts == []  # a broken filter drops: it may be what keeps secrets out
    else:  # a broken grouping hook falls back to the default grouping
        first = [a for a in alerts if a.kind == "alert"]
        fingerprints = {a.notice.event.fingerprint for a in first}
        assert len(fingerprints) >= 2  # OSError and the middleware cases: grouped by default
        assert len(first) == len(fingerprints) * len(alerter.channels)  # once per channel


# -- events read back from a shared store -------------------------------------------------------
def test_events_written_by_a_newer_erralert_are_read() -> None:
    """A rolling deploy: a store holds events whose frames and requests have fields this
    version does not know; digests of those must still be sent, not fail to load."""
    with recording() as (alerter, alerts):
        assert_asgi_unchanged(raise_nested_groups, alerter)
        event = alert_event(alerts)
    data = json.loads(json.dumps(event.to_dict()))
    data["request"]["tenant"] = "from the future"
    for exception in data["exceptions"]:
        for frame in exception["frames"]:
            frame["column"] = 7
    again = Event.from_dict(data)
    assert again.request == event.request
    assert again.exceptions == event.exceptions  # members_omitted included
    assert again.traceback == event.traceback

"""The stack a message shows (``erralert._render.stack.display_stack``): the application's frames
first, where a library raised it, the rest folded into one line."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import erralert
from erralert._capture.events import build_exception_event, build_message_event
from erralert._core.event import Event, ExceptionInfo, Frame
from erralert._core.notice import Notice, Occurrences
from erralert._render.renderer import Renderer
from erralert._render.stack import StackLine, display_stack
from erralert.channels.base import Channel, ChannelOptions
from erralert.testing import capture_alerts

THIS_FILE = Path(__file__).read_text(encoding="utf-8")
ERRALERT_DIR = os.path.dirname(os.path.abspath(erralert.__file__))


def _catch(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def _line(fn: Callable[..., object], offset: int) -> int:
    return fn.__code__.co_firstlineno + offset


def _shape(lines: tuple[StackLine, ...]) -> list[tuple[str, str, int, tuple[str, ...]]]:
    return [(line.kind, line.frame.function, line.count, line.packages) for line in lines]


# -- real exceptions through real library code ---------------------------------------------------
def parse_order(body: str) -> Any:
    return json.loads(body)


def test_an_error_raised_inside_a_library_shows_the_apps_line_first() -> None:
    exc = _catch(lambda: parse_order("{bad"))
    lines = display_stack(build_exception_event(exc))
    assert _shape(lines) == [
        ("culprit", "parse_order", 1, ()),
        (
            "app",
            "test_an_error_raised_inside_a_library_shows_the_apps_line_first.<locals>.<lambda>",
            1,
            (),
        ),
        ("app", "_catch", 1, ()),
        ("raised", "JSONDecoder.raw_decode", 1, ()),
        ("library", "JSONDecoder.decode", 2, ("json",)),  # json.loads, JSONDecoder.decode
    ]
    culprit = lines[0].frame
    assert (culprit.filename, culprit.lineno) == ("tests/test_stack.py", _line(parse_order, 1))
    # the code line verbatim: found as it is in the source file
    assert culprit.context_line == "return json.loads(body)"
    assert f"    {culprit.context_line}\n" in THIS_FILE
    raised = lines[3].frame
    assert raised.filename == "json/decoder.py"
    assert raised.in_app is False


class Basket:
    @functools.cached_property
    def total(self) -> int:
        raise ZeroDivisionError("empty basket")


@contextlib.contextmanager
def opened_till() -> Iterator[None]:
    raise ConnectionError("till is offline")
    yield


def read_total() -> int:
    return Basket().total


def open_till() -> None:
    with opened_till():
        pass


@pytest.mark.parametrize(
    ("fn", "culprit", "caller", "package"),
    [
        (read_total, "Basket.total", "read_total", "functools"),
        (open_till, "opened_till", "open_till", "contextlib"),
    ],
)
def test_an_app_callback_called_by_a_library_is_the_culprit(
    fn: Callable[[], object], culprit: str, caller: str, package: str
) -> None:
    lines = display_stack(build_exception_event(_catch(lambda: fn())))
    assert _shape(lines) == [
        ("culprit", culprit, 1, ()),
        ("app", caller, 1, ()),
        ("app", "test_an_app_callback_called_by_a_library_is_the_culprit.<locals>.<lambda>", 1, ()),
        ("app", "_catch", 1, ()),
        ("library", lines[-1].frame.function, 1, (package,)),
    ]
    assert lines[-1].frame.filename == f"{package}.py"  # the stdlib's own path, no prefix


# -- hand-made frames for exact shapes ------------------------------------------------------------
def app(name: str, line: int = 10) -> Frame:
    return Frame(
        filename=f"shop/{name}.py",
        abs_path=f"/srv/shop/{name}.py",
        lineno=line,
        function=name,
        module=f"shop.{name}",
        context_line=f"{name}()",
        in_app=True,
    )


def lib(module: str, function: str = "call", filename: str | None = None) -> Frame:
    path = filename or module.replace(".", "/") + ".py"
    return Frame(
        filename=path,
        abs_path=f"/venv/lib/python3.12/site-packages/{path}",
        lineno=100,
        function=function,
        module=module,
        context_line="return call()",
        in_app=False,
    )


def event_of(*frames: Frame) -> Event:
    return Event(
        event_id="0" * 32,
        timestamp=0.0,
        level="error",
        title="ValueError: x",
        message=None,
        exceptions=(ExceptionInfo("ValueError", "builtins", "x", frames),),
        culprit="",
        traceback="",
        request=None,
        service=None,
        environment=None,
        release=None,
        host="h",
        pid=1,
    )


def test_a_message_without_frames_has_no_stack() -> None:
    assert display_stack(build_message_event("disk almost full")) == ()


def test_frames_of_a_starlette_request() -> None:
    view, charge = app("views"), app("charge")
    frames = (
        lib("uvicorn.protocols.http.h11_impl", "run_asgi"),
        lib("starlette.applications", "__call__"),
        lib("starlette.routing", "handle"),
        lib("anyio.to_thread", "run_sync"),
        lib("anyio._backends._asyncio", "run"),
        view,
        lib("starlette.requests", "json"),
        charge,
        lib("httpx._client", "post"),
        lib("httpcore._sync.connection_pool", "handle_request"),
        lib("httpcore._exceptions", "map_exceptions"),
    )
    lines = display_stack(event_of(*frames))
    assert lines == (
        StackLine("culprit", charge),
        StackLine("app", view),
        StackLine("raised", frames[-1]),
        StackLine(
            "library",
            frames[-2],  # the innermost frame folded
            count=8,
            packages=("uvicorn", "starlette", "anyio", "httpx", "httpcore"),
        ),
    )


def test_an_error_raised_in_the_apps_own_code_has_no_raised_line() -> None:
    outer, inner = app("outer"), app("inner")
    lines = display_stack(event_of(lib("starlette.routing"), outer, inner))
    assert lines == (
        StackLine("culprit", inner),
        StackLine("app", outer),
        StackLine("library", lines[-1].frame, count=1, packages=("starlette",)),
    )


def test_only_library_frames_the_innermost_is_the_culprit_and_the_rest_fold() -> None:
    frames = (lib("celery.app.trace"), lib("redis.client", "execute"), lib("redis.connection"))
    event = event_of(*frames)
    lines = display_stack(event)
    assert event.culprit_frame is frames[-1]
    assert lines == (
        StackLine("culprit", frames[-1]),
        StackLine("library", frames[1], count=2, packages=("celery", "redis")),
    )


@pytest.mark.parametrize(
    ("max_app", "shown", "more"),
    [(5, 4, 3), (1, 0, 7), (8, 7, 0), (20, 7, 0), (0, 0, 7)],
)
def test_app_frames_beyond_max_app_are_counted(max_app: int, shown: int, more: int) -> None:
    frames = tuple(app(f"f{n}", n) for n in range(8))  # f7 is the innermost
    lines = display_stack(event_of(*frames), max_app=max_app)
    assert lines[0] == StackLine("culprit", frames[7])
    others = list(reversed(frames[:7]))
    assert lines[1 : 1 + shown] == tuple(StackLine("app", f) for f in others[:shown])
    if more:
        assert lines[1 + shown :] == (StackLine("more_app", others[shown], count=more),)
    else:
        assert len(lines) == 1 + shown


def test_the_default_shows_five_app_lines() -> None:
    frames = tuple(app(f"f{n}") for n in range(9))
    lines = display_stack(event_of(*frames, lib("json.decoder")))
    assert [line.kind for line in lines] == [
        "culprit", "app", "app", "app", "app", "more_app", "raised",
    ]  # fmt: skip
    assert lines[5].count == 4


def test_a_recursion_repeating_one_frame_object() -> None:
    # capture hands out the same cached Frame for each level of a recursion
    start, level = app("start"), app("walk")
    deep, parse = lib("lxml.etree", "iterparse"), lib("lxml.etree", "feed")
    lines = display_stack(event_of(start, level, level, level, deep, parse, parse, parse))
    assert lines == (
        StackLine("culprit", level),
        StackLine("app", level),
        StackLine("app", level),
        StackLine("app", start),
        StackLine("raised", parse),
        StackLine("library", parse, count=3, packages=("lxml",)),  # deep + two parse
    )


@pytest.mark.parametrize(
    ("frame", "package"),
    [
        (lib("json.decoder"), "json"),
        (lib("contextlib", filename="contextlib.py"), "contextlib"),
        (lib("_pytest.python"), "_pytest"),
        (lib("__main__", filename="uvicorn/__main__.py"), "uvicorn"),  # python -m uvicorn
        (lib("", filename="gunicorn/app/base.py"), "gunicorn"),
        (lib("", filename="functools.py"), "functools"),
    ],
)
def test_library_package_names(frame: Frame, package: str) -> None:
    lines = display_stack(event_of(frame, app("view"), lib("json.decoder", "raw_decode")))
    assert lines[-1].kind == "library"
    assert lines[-1].packages == (package,)


# -- through the middleware and the renderer -----------------------------------------------------
async def checkout(request: StarletteRequest) -> PlainTextResponse:
    order = json.loads(await request.body())
    return PlainTextResponse(str(order))


def test_a_view_calling_json_loads_on_bad_input_shows_the_views_line() -> None:
    """The acceptance scenario: the app's own line, with its code, comes first."""
    alerter = erralert.Alerter(["slack://T000/B000/XXXXXXXX"])
    app_ = Starlette(routes=[Route("/checkout", checkout, methods=["POST"])])
    app_.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    try:
        with capture_alerts(alerter) as alerts, pytest.raises(json.JSONDecodeError):
            TestClient(app_).post("/checkout", content=b"{bad")
    finally:
        alerter.close(0.1)
    event = alerts[0].notice.event
    lines = display_stack(event)
    first = lines[0]
    assert (first.kind, first.frame.function) == ("culprit", "checkout")
    assert (first.frame.filename, first.frame.lineno) == ("tests/test_stack.py", _line(checkout, 1))
    assert first.frame.context_line == "order = json.loads(await request.body())"
    assert f"    {first.frame.context_line}\n" in THIS_FILE
    assert event.culprit == f"{__name__}.checkout (tests/test_stack.py:{_line(checkout, 1)})"
    assert (lines[1].kind, lines[1].frame.filename) == ("raised", "json/decoder.py")
    assert lines[2].kind == "library"
    assert lines[2].packages == ("starlette", "json")
    assert len(lines) == 3
    # the middleware's own frame is no part of the stack
    assert not any(f.module.startswith("erralert") for f in event.frames)
    assert ERRALERT_DIR not in event.traceback


class _Slack(Channel):
    platform = "slack"
    dialect = "mrkdwn"
    max_length = 3000


def test_templates_read_the_stack(tmp_path: Path) -> None:
    (tmp_path / "lines.j2").write_text(
        textwrap.dedent(
            """\
            {% block body %}
            {% for line in stack %}
            {{ line.kind }} {{ line.frame.filename }}:{{ line.frame.lineno }} {{ line.count }} {{ line.packages|join(",") }}
            {% endfor %}
            {% endblock %}
            """  # noqa: E501
        ),
        encoding="utf-8",
    )
    view = app("views", 12)
    event = event_of(lib("starlette.routing"), view, lib("json"), lib("json.decoder", "raw_decode"))
    notice = Notice(
        kind="alert",
        event=event,
        occurrences=Occurrences(
            count=1, total=1, first_seen=0.0, last_seen=0.0, window=60.0, is_new=True
        ),
        created_at=0.0,
    )
    channel = _Slack("https://hooks.example/T/B/X", ChannelOptions(template="lines"))
    body = Renderer(tmp_path).render(notice, channel).body
    assert [line.strip() for line in body.strip().splitlines() if line.strip()] == [
        "culprit shop/views.py:12 1",
        "raised json/decoder.py:100 1",
        "library json.py:100 2 starlette,json",
    ]

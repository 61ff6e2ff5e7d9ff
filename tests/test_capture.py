from __future__ import annotations

import collections
import dataclasses
import importlib
import itertools
import json
import os
import re
import reprlib
import runpy
import socket
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from erralert._capture import (
    budget,
    chain,
    events,
    live_frames,
    safe_text,
    tags_and_extra,
    traceback_text,
)
from erralert._capture.events import build_exception_event, build_message_event
from erralert._capture.live_frames import HEAD_FRAMES, TAIL_FRAMES
from erralert._capture.safe_text import safe_repr, safe_str
from erralert._capture.traceback_text import format_traceback
from erralert._core import event_origin
from erralert._core.event import Event, Request
from erralert._core.event_origin import new_event_id
from erralert._core.frames import walk_stack
from erralert._core.stand_in import stand_in_event
from erralert.cli.preview import event_from_script

REPOSITORY = Path(__file__).resolve().parent.parent
# culprits show the app's paths relative to the directory on sys.path its module was
# imported through: the repository, for `tests.test_capture`
HERE = Path(__file__).resolve().relative_to(REPOSITORY).as_posix()


@pytest.fixture(autouse=True)
def _cwd_is_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPOSITORY)


def _catch(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


# a line of position markers under a source line (`    ~~~~^^^^`), inside a group's box too
_MARKER_LINE = re.compile(r"[ |]*[~^][ ~^]*")


def _python_traceback(exc: BaseException) -> str:
    """What Python prints for ``exc`` minus its position marker lines, which erralert's
    traceback leaves out on every Python (Python 3.13 marks more lines than 3.11)."""
    text = "".join(traceback.format_exception(exc)).rstrip("\n")
    return "\n".join(line for line in text.split("\n") if not _MARKER_LINE.fullmatch(line))


def _line_of(fn: Callable[..., object], offset: int) -> int:
    return fn.__code__.co_firstlineno + offset


# -- chains -------------------------------------------------------------------------------------
def fail_value() -> None:
    raise ValueError("bad value 42")


def cause_chain() -> None:
    try:
        fail_value()
    except ValueError as exc:
        raise KeyError("missing") from exc


def fail_type() -> None:
    raise TypeError("while handling")


def context_chain() -> None:
    try:
        fail_value()
    except ValueError:
        fail_type()


def suppressed_chain() -> None:
    try:
        fail_value()
    except ValueError:
        raise TypeError("suppressed") from None


def fail_runtime() -> None:
    raise RuntimeError("outer")


def cause_then_context() -> None:
    try:
        cause_chain()
    except KeyError:
        fail_runtime()


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (fail_value, [("ValueError", None)]),
        (cause_chain, [("ValueError", "cause"), ("KeyError", None)]),
        (context_chain, [("ValueError", "context"), ("TypeError", None)]),
        (suppressed_chain, [("TypeError", None)]),
        (
            cause_then_context,
            [("ValueError", "cause"), ("KeyError", "context"), ("RuntimeError", None)],
        ),
    ],
)
def test_chains(fn: Callable[[], None], expected: list[tuple[str, str | None]]) -> None:
    exc = _catch(fn)
    event = build_exception_event(exc)
    assert [(e.type, e.relation) for e in event.exceptions] == expected
    assert all(e.parent is None for e in event.exceptions)
    # the same text Python prints, without its position markers
    assert event.traceback == _python_traceback(exc)


def fail_subscript() -> int:
    table: dict[str, dict[str, int]] = {"a": {}}
    return table["a"]["b"] + 1


def test_traceback_has_no_position_markers() -> None:
    # every Python since 3.11 marks this partial expression with ~~~^^^: the chat message
    # does not (see erralert._capture.traceback_text._Printer), so its text is Python's minus
    # that line
    exc = _catch(fail_subscript)
    python = "".join(traceback.format_exception(exc)).rstrip("\n").split("\n")
    markers = [line for line in python if _MARKER_LINE.fullmatch(line)]
    assert markers
    assert all("^" in line for line in markers)
    event = build_exception_event(exc)
    assert event.traceback.split("\n") == [line for line in python if line not in markers]
    assert event.traceback.endswith(
        f"line {_line_of(fail_subscript, 2)}, in fail_subscript\n"
        '    return table["a"]["b"] + 1\n'
        "KeyError: 'b'"
    )


def test_exception_fields() -> None:
    exc = _catch(cause_chain)
    event = build_exception_event(exc, now=1700000000.5)
    root, raised = event.exceptions
    assert (root.type, root.module, root.message) == ("ValueError", "builtins", "bad value 42")
    assert (raised.type, raised.message) == ("KeyError", "'missing'")
    assert [f.function for f in raised.frames] == ["_catch", "cause_chain"]
    assert [f.function for f in root.frames] == ["cause_chain", "fail_value"]
    frame = root.frames[-1]
    assert frame.filename == "tests/test_capture.py"  # for display: from the import root
    assert frame.abs_path == os.path.abspath(__file__)
    assert frame.lineno == _line_of(fail_value, 1)
    assert frame.module == __name__
    assert frame.context_line == 'raise ValueError("bad value 42")'
    assert frame.in_app is True
    assert frame.locals is None
    assert event.title == "KeyError: 'missing'"
    assert event.culprit == f"{__name__}.cause_chain ({HERE}:{_line_of(cause_chain, 4)})"
    assert event.timestamp == 1700000000.5
    assert re.fullmatch(r"[0-9a-f]{32}", event.event_id)
    assert event.pid == os.getpid()
    assert event.host == socket.gethostname()
    assert event.level == "error"
    assert event.message is None
    assert event.fingerprint == ""


def test_event_options_are_passed_through() -> None:
    request = Request(method="GET", path="/x")
    event = build_exception_event(
        ValueError("x"),
        level="warning",
        message="log message",
        request=request,
        logger="app.views",
        service="checkout",
        environment="prod",
        release="abc",
        fingerprint="fp",
    )
    assert (event.level, event.message, event.request, event.logger) == (
        "warning",
        "log message",
        request,
        "app.views",
    )
    assert (event.service, event.environment, event.release, event.fingerprint) == (
        "checkout",
        "prod",
        "abc",
        "fp",
    )


def test_unraised_exception() -> None:
    event = build_exception_event(ValueError("never raised"))
    assert event.exceptions[0].frames == ()
    assert event.culprit == ""
    assert event.traceback == "ValueError: never raised"
    assert event.title == "ValueError: never raised"


# -- exception groups ---------------------------------------------------------------------------
def raise_nested_group() -> None:
    try:
        cause_chain()
    except KeyError as exc:
        first = exc
    try:
        fail_value()
    except ValueError as exc:
        second = exc
    inner = ExceptionGroup("inner", [second, OSError("disk")])
    raise ExceptionGroup("outer", [first, inner])


def test_nested_exception_group() -> None:
    exc = _catch(raise_nested_group)
    event = build_exception_event(exc)
    summary = [(e.type, e.message, e.relation, e.parent) for e in event.exceptions]
    assert summary == [
        ("ValueError", "bad value 42", "cause", None),
        ("KeyError", "'missing'", "group", 5),
        ("ValueError", "bad value 42", "group", 4),
        ("OSError", "disk", "group", 4),
        ("ExceptionGroup", "inner (2 sub-exceptions)", "group", 5),
        ("ExceptionGroup", "outer (2 sub-exceptions)", None, None),
    ]
    assert event.title == "ExceptionGroup: outer (2 sub-exceptions)"
    assert event.traceback == _python_traceback(exc)


def test_group_with_its_own_cause() -> None:
    def raise_group() -> None:
        try:
            fail_value()
        except ValueError as exc:
            raise ExceptionGroup("eg", [KeyError("k"), TypeError("t")]) from exc

    exc = _catch(raise_group)
    event = build_exception_event(exc)
    assert [(e.type, e.relation, e.parent) for e in event.exceptions] == [
        ("KeyError", "group", 3),
        ("TypeError", "group", 3),
        ("ValueError", "cause", None),
        ("ExceptionGroup", None, None),
    ]
    # Python names the nested function with its short name; the event uses the qualname
    expected = _python_traceback(exc).replace(
        "in raise_group", "in test_group_with_its_own_cause.<locals>.raise_group"
    )
    assert event.traceback == expected


def test_huge_group_is_bounded() -> None:
    group = ExceptionGroup("many", [ValueError(str(i)) for i in range(100)])
    event = build_exception_event(group)
    assert len(event.exceptions) == 25
    assert event.exceptions[-1].type == "ExceptionGroup"
    assert [e.message for e in event.exceptions[:-1]] == [str(i) for i in range(24)]
    assert all(e.parent == 24 for e in event.exceptions[:-1])


def test_the_same_exception_in_two_groups_is_reported_once() -> None:
    shared = ValueError("shared")
    group = ExceptionGroup("g", [shared, ExceptionGroup("h", [shared])])
    event = build_exception_event(group)
    assert [e.type for e in event.exceptions] == ["ValueError", "ExceptionGroup", "ExceptionGroup"]


# -- weird input --------------------------------------------------------------------------------
def test_cyclic_context() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__context__, b.__context__ = b, a
    event = build_exception_event(a)
    assert [(e.type, e.relation) for e in event.exceptions] == [
        ("KeyError", "context"),
        ("ValueError", None),
    ]
    c = RuntimeError("self")
    c.__cause__ = c
    assert [e.type for e in build_exception_event(c).exceptions] == ["RuntimeError"]


def test_exception_with_a_raising_cause_property() -> None:
    class Odd(Exception):
        @property  # type: ignore[override]
        def __cause__(self) -> BaseException | None:
            raise RuntimeError("no cause")

    event = build_exception_event(_catch(lambda: _raise(Odd("odd"))))
    assert [(e.type, e.message) for e in event.exceptions] == [
        ("test_exception_with_a_raising_cause_property.<locals>.Odd", "odd")
    ]
    assert event.frames[-1].function == "_raise"


def test_long_chain_keeps_the_newest() -> None:
    chain = [ValueError(str(i)) for i in range(40)]
    for newer, older in itertools.pairwise(chain):
        newer.__cause__ = older
    event = build_exception_event(chain[0])
    assert len(event.exceptions) == 25
    assert [e.message for e in event.exceptions] == [str(i) for i in reversed(range(25))]


class StrRaises(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class StrBroken:
    def __str__(self) -> str:
        raise RuntimeError("no")

    def __repr__(self) -> str:
        raise RuntimeError("no")


class StrReturnsNonStr(Exception):
    def __str__(self) -> Any:
        return 42


class Boom(Exception):
    pass


Boom.__module__ = "__main__"  # as if defined in a script


@pytest.mark.parametrize(
    ("exc", "title", "last_line"),
    [
        (
            StrRaises("x"),
            "StrRaises: <exception str() failed: StrRaises>",
            "tests.test_capture.StrRaises: <exception str() failed: StrRaises>",
        ),
        (
            StrReturnsNonStr(),
            "StrReturnsNonStr: <exception str() failed: StrReturnsNonStr>",
            "tests.test_capture.StrReturnsNonStr: <exception str() failed: StrReturnsNonStr>",
        ),
        (Boom("in main"), "Boom: in main", "Boom: in main"),
        (
            type("Dynamic", (Exception,), {})("dyn"),
            "Dynamic: dyn",
            "tests.test_capture.Dynamic: dyn",
        ),
        (ValueError(""), "ValueError", "ValueError"),
        (ValueError("\n\n  second line first\nthird"), "ValueError: second line first", None),
        (ValueError("a\x00b\udcffc"), "ValueError: a\\x00b\\udcffc", "ValueError: a\\x00b\\udcffc"),
        (ValueError("x" * 500), "ValueError: " + "x" * 185 + "...", None),
        (KeyboardInterrupt(), "KeyboardInterrupt", "KeyboardInterrupt"),
    ],
)
def test_weird_exceptions(exc: BaseException, title: str, last_line: str | None) -> None:
    event = build_exception_event(_catch(lambda: _raise(exc)))
    assert event.title == title
    assert len(event.title) <= 200
    assert "\n" not in event.title
    if last_line is not None:
        assert event.traceback.splitlines()[-1] == last_line
    json.dumps(event.to_dict())  # always serialisable


def _raise(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (ValueError("plain"), "plain"),
        (StrRaises(), "<exception str() failed: StrRaises>"),
        ("nul\x00byte", "nul\\x00byte"),
        ("lone \udc80 surrogate", "lone \\udc80 surrogate"),
        ("ünïcödé ok", "ünïcödé ok"),
        ("y" * 20_000, "y" * 9_997 + "..."),
    ],
)
def test_safe_str(obj: object, expected: str) -> None:
    assert safe_str(obj) == expected


def test_message_is_capped() -> None:
    event = build_exception_event(ValueError("z" * 50_000))
    assert len(event.exceptions[0].message) == 10_000


# -- deep stacks --------------------------------------------------------------------------------
def recurse(n: int) -> int:
    return recurse(n + 1) + 1


@pytest.fixture
def deep_recursion_error() -> Iterator[RecursionError]:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        exc = _catch(lambda: recurse(0))
    finally:
        sys.setrecursionlimit(limit)
    assert isinstance(exc, RecursionError)
    return exc


def test_recursion_error_keeps_first_20_and_last_80_frames(
    deep_recursion_error: RecursionError,
) -> None:
    total = 0
    tb = deep_recursion_error.__traceback__
    while tb is not None:
        total, tb = total + 1, tb.tb_next
    assert total > 9_000
    event = build_exception_event(deep_recursion_error)
    info = event.exceptions[0]
    assert len(info.frames) == 100
    assert info.frames_omitted == total - 100
    # where it started, then the recursion
    assert [f.function for f in info.frames[:2]] == [
        "_catch",
        "deep_recursion_error.<locals>.<lambda>",
    ]
    assert {f.function for f in info.frames[2:]} == {"recurse"}
    lines = event.traceback.splitlines()
    omitted_at = lines.index(f"  [... {total - 100} frames omitted ...]")
    assert lines[1:omitted_at:2] == [
        f'  File "{f.abs_path}", line {f.lineno}, in {f.function}' for f in info.frames[:20]
    ]
    assert len(lines) == 1 + 1 + 100 * 2 + 1  # header, omitted line, frames, exception
    assert event.title.startswith("RecursionError: maximum recursion depth exceeded")


# -- locals -------------------------------------------------------------------------------------
class ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class LongRepr:
    def __repr__(self) -> str:
        return "L" * 10_000


def with_locals() -> None:
    number = 42
    text = "hello"
    broken = ReprRaises()
    huge_list = list(range(1_000_000))
    huge_dict = {i: str(i) for i in range(10_000)}
    huge_set = set(range(100_000))
    ordered = collections.OrderedDict(a=1, b=[1, 2])
    nested = [[[[["deep"]]]]]
    long_repr = LongRepr()
    long_text = "s" * 5000
    __dunder__ = "skipped"
    _ = (broken, nested, long_repr, long_text, __dunder__)  # the locals are what is tested
    raise ValueError(f"{number}{text}{huge_list[0]}{huge_dict[0]}{huge_set}{ordered}")


def test_locals() -> None:
    exc = _catch(with_locals)
    plain = build_exception_event(exc)
    assert all(f.locals is None for f in plain.frames)
    event = build_exception_event(exc, include_locals=True)
    frame = event.frames[-1]
    assert frame.locals is not None
    assert frame.locals["number"] == "42"
    assert frame.locals["text"] == "'hello'"
    assert re.fullmatch(r"<ReprRaises instance at 0x[0-9a-f]+>", frame.locals["broken"])
    assert frame.locals["huge_list"] == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"
    assert frame.locals["huge_dict"] == (
        "{0: '0', 1: '1', 2: '2', 3: '3', 4: '4', 5: '5', 6: '6', 7: '7', 8: '8', 9: '9', ...}"
    )
    assert frame.locals["huge_set"] == "{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...}"
    assert frame.locals["ordered"] == "OrderedDict({'a': 1, 'b': [1, 2]})"
    assert frame.locals["nested"] == "[[[[...]]]]"
    assert len(frame.locals["long_repr"]) == 200
    assert "..." in frame.locals["long_repr"]
    assert len(frame.locals["long_text"]) <= 200
    assert "__dunder__" not in frame.locals
    assert all(len(v) <= 200 for v in frame.locals.values())


def test_locals_only_for_in_app_frames() -> None:
    exc = _catch(lambda: json.loads("{"))
    event = build_exception_event(exc, include_locals=True)
    in_app = [f for f in event.frames if f.in_app]
    library = [f for f in event.frames if not f.in_app]
    assert in_app
    assert library
    assert all(f.locals is not None for f in in_app)
    assert all(f.locals is None for f in library)
    # the culprit is the innermost frame of the app, not json's decoder
    assert event.culprit.startswith(f"{__name__}.test_locals_only_for_in_app_frames.<locals>")


def many_locals() -> None:
    namespace: dict[str, Any] = {}
    exec("def f():\n" + "".join(f"    v{i} = {i}\n" for i in range(50)) + "    1 / 0\n", namespace)
    namespace["f"]()


def test_at_most_30_locals() -> None:
    event = build_exception_event(_catch(many_locals), include_locals=True)
    frame = event.frames[-1]
    assert frame.filename == "<string>"
    assert frame.context_line is None  # no source for exec'd code
    assert frame.locals == {f"v{i}": str(i) for i in range(30)}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ("x" * 1000, "'" + "x" * 97 + "..." + "x" * 98 + "'"),
        ([1, [2, [3, [4, [5]]]]], "[1, [2, [3, [...]]]]"),
        (collections.deque(range(50)), "deque([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...])"),
        (frozenset(), "frozenset()"),
        (collections.namedtuple("Point", "x y")(1, 2), "Point(x=1, y=2)"),
        (
            collections.namedtuple("Point", "x y")(1, "a" * 500),
            ("Point(x=1, y='" + "a" * 97 + "..." + "a" * 98 + "')")[:197] + "...",
        ),
        (collections.defaultdict(list), "defaultdict({})"),
        pytest.param(10**5000, "<repr() failed: int>", id="int-over-str-limit"),
        ("nul\x00", "'nul\\x00'"),
    ],
)
def test_safe_repr(obj: object, expected: str) -> None:
    assert safe_repr(obj) == expected


def test_safe_repr_of_objects_whose_repr_fails() -> None:
    assert re.fullmatch(r"<StrBroken instance at 0x[0-9a-f]+>", safe_repr(StrBroken()))

    class BadName:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    BadName.__name__ = "Bad Name"  # reprlib dispatches on the type name
    assert safe_repr(BadName()).startswith("<")


# -- culprit and source lines -------------------------------------------------------------------
def _library_module(tmp_path: Path) -> dict[str, Any]:
    source = textwrap.dedent(
        """
        def fail():
            raise ValueError("inside a library")

        def run():
            try:
                fail()
            except ValueError as exc:
                return exc
        """
    )
    path = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "pkg" / "mod.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    namespace: dict[str, Any] = {"__name__": "pkg.mod"}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace


def test_culprit_falls_back_to_the_innermost_frame(tmp_path: Path) -> None:
    exc = _library_module(tmp_path)["run"]()
    event = build_exception_event(exc)
    assert not any(f.in_app for f in event.frames)
    assert event.culprit == "pkg.mod.fail (pkg/mod.py:3)"
    assert event.frames[-1].context_line == 'raise ValueError("inside a library")'


def test_context_line_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "long.py"
    source = "def f():\n    raise ValueError('" + "x" * 1000 + "')\n"
    path.write_text(source)
    namespace: dict[str, Any] = {"__name__": "long"}
    exec(compile(source, str(path), "exec"), namespace)
    event = build_exception_event(_catch(namespace["f"]))
    line = event.frames[-1].context_line
    assert line is not None
    assert len(line) == 300
    assert line.startswith("raise ValueError('xxx")
    assert event.culprit == f"long.f ({path}:2)"  # outside the working directory


# -- frames that never appear -------------------------------------------------------------------
INVOICE_SCRIPT = """\
def invoice(customer):
    raise LookupError(f"no invoice address for customer {customer}")

invoice(77)
"""


def _machinery(exc: BaseException) -> list[str]:
    """The files of the interpreter's run/import machinery in the live traceback."""
    tb, found = exc.__traceback__, []
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if "runpy" in name or name.startswith("<frozen importlib"):
            found.append(name)
        tb = tb.tb_next
    return found


def test_runpy_frames_are_left_out(tmp_path: Path) -> None:
    script = tmp_path / "billing.py"
    script.write_text(INVOICE_SCRIPT)
    exc = _catch(lambda: runpy.run_path(str(script), run_name="__main__"))
    assert _machinery(exc)  # they are there to leave out
    event = build_exception_event(exc)
    assert [f.function for f in event.frames] == [
        "_catch",
        "test_runpy_frames_are_left_out.<locals>.<lambda>",
        "<module>",
        "invoice",
    ]
    assert "<frozen" not in event.traceback
    assert "runpy.py" not in event.traceback
    assert event.culprit == f"__main__.invoice ({script}:2)"  # under no sys.path entry


def test_a_script_previewed_through_erralert_shows_only_its_own_frames(tmp_path: Path) -> None:
    script = tmp_path / "billing.py"
    script.write_text(INVOICE_SCRIPT)
    event = event_from_script(script)
    assert [(f.function, f.lineno) for f in event.frames] == [("<module>", 4), ("invoice", 2)]
    assert [f.abs_path for f in event.frames] == [str(script)] * 2
    assert "<frozen" not in event.traceback
    assert "runpy" not in event.traceback
    # preview's own frame, which caught it
    assert os.path.dirname(os.path.abspath(event_from_script.__code__.co_filename)) not in (
        event.traceback
    )


def test_frames_are_left_out_before_a_deep_stack_is_cut(tmp_path: Path) -> None:
    script = tmp_path / "walk.py"
    script.write_text(
        "def walk(n):\n"
        "    if n == 0:\n"
        "        raise ValueError('bottom')\n"
        "    walk(n - 1)\n"
        "\n"
        "walk(200)\n"
    )
    exc = _catch(lambda: runpy.run_path(str(script)))
    assert _machinery(exc)
    info = build_exception_event(exc).exceptions[0]
    # _catch, the lambda, <module> and 201 walks; the runpy frames between them are gone
    assert info.frames_omitted == 2 + 1 + 201 - HEAD_FRAMES - TAIL_FRAMES
    assert [f.function for f in info.frames[:4]] == [
        "_catch",
        "test_frames_are_left_out_before_a_deep_stack_is_cut.<locals>.<lambda>",
        "<module>",
        "walk",
    ]
    lines = build_exception_event(exc).traceback.splitlines()
    omitted_at = lines.index(f"  [... {info.frames_omitted} frames omitted ...]")
    assert omitted_at == 1 + 2 * HEAD_FRAMES  # after the header and 20 frames of two lines


def test_import_machinery_frames_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_settings_mod.py").write_text("x = 1\nraise ImportError('no DSN')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    exc = _catch(lambda: importlib.import_module("broken_settings_mod"))
    assert _machinery(exc)
    event = build_exception_event(exc)
    assert not any(f.filename.startswith("<frozen") for f in event.frames)
    assert [f.filename for f in event.frames[-2:]] == [
        "importlib/__init__.py",  # import_module: a call the app made, shown folded
        "broken_settings_mod.py",  # relative to the sys.path entry it was imported from
    ]
    assert event.culprit == "broken_settings_mod.<module> (broken_settings_mod.py:2)"


# -- tags and extra -----------------------------------------------------------------------------
def test_tags_are_coerced_to_strings() -> None:
    event = build_exception_event(
        ValueError("x"),
        tags={"a": 1, "b": None, "c": StrBroken(), 5: "five", "long": "v" * 5000},  # type: ignore[dict-item]
    )
    assert event.tags == {
        "a": "1",
        "b": "None",
        "c": "<exception str() failed: StrBroken>",
        "5": "five",
        "long": "v" * 997 + "...",
    }


def test_extra_keeps_json_and_reprs_the_rest() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    event = build_exception_event(
        ValueError("x"),
        extra={
            "n": 1,
            "f": 1.5,
            "nan": float("nan"),
            "b": True,
            "none": None,
            "s": "text",
            "list": [1, "a", (2, 3)],
            "dict": {"k": {"nested": [None]}, 7: "int key"},
            "obj": object(),
            "broken": StrBroken(),
            "cyclic": cyclic,
            "big": 10**2000,
            "set": {1},
        },
    )
    extra = event.extra
    assert extra["n"] == 1
    assert extra["f"] == 1.5
    assert extra["b"] is True
    assert extra["none"] is None
    assert extra["nan"] == "nan"
    assert extra["s"] == "text"
    assert extra["list"] == [1, "a", [2, 3]]
    assert extra["dict"] == {"k": {"nested": [None]}, "7": "int key"}
    assert extra["obj"].startswith("<object object at")
    assert re.fullmatch(r"<StrBroken instance at 0x[0-9a-f]+>", extra["broken"])
    assert extra["cyclic"] == [1, "[Circular]"]
    assert extra["big"] == "<int of 6644 bits>"
    assert extra["set"] == "{1}"
    assert json.loads(json.dumps(event.to_dict()))["extra"] == extra


def test_extra_with_a_broken_mapping() -> None:
    class BrokenMapping(dict[str, Any]):
        def items(self) -> Any:
            raise RuntimeError("no items")

    event = build_exception_event(ValueError("x"), extra={"inner": BrokenMapping(a=1)})
    assert event.extra["inner"] == "BrokenMapping({'a': 1})"  # its items() fails: repr


def test_event_round_trips_through_json() -> None:
    exc = _catch(raise_nested_group)
    event = build_exception_event(exc, include_locals=True, tags={"t": "1"}, extra={"e": [1]})
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event
    assert format_traceback(event.exceptions) == event.traceback


# -- messages -----------------------------------------------------------------------------------
def _stack_here() -> list[tuple[FrameType, int]]:
    return walk_stack(sys._getframe(1))


def test_message_event() -> None:
    stack = _stack_here()
    line = sys._getframe().f_lineno - 1
    event = build_message_event(
        "\npayment 42 failed\nretrying",
        level="warning",
        logger="billing",
        stack=stack,
        tags={"a": 1},
        extra={"b": [2]},
        service="svc",
        now=5.0,
    )
    assert event.title == "payment 42 failed"
    assert event.message == "\npayment 42 failed\nretrying"
    assert event.exceptions == ()
    assert event.traceback == ""
    assert event.culprit == f"{__name__}.test_message_event ({HERE}:{line})"
    assert (event.level, event.logger, event.service, event.timestamp) == (
        "warning",
        "billing",
        "svc",
        5.0,
    )
    assert event.tags == {"a": "1"}
    assert event.extra == {"b": [2]}


@pytest.mark.parametrize(
    ("culprit", "use_stack", "expected"),
    [
        ("given.culprit (x.py:1)", True, "given.culprit (x.py:1)"),
        (None, False, ""),
    ],
)
def test_message_event_culprit(culprit: str | None, use_stack: bool, expected: str) -> None:
    event = build_message_event("m", stack=_stack_here() if use_stack else None, culprit=culprit)
    assert event.culprit == expected


def test_message_event_library_only_stack() -> None:
    stack = [(f, n) for f, n in _stack_here() if "site-packages" in f.f_code.co_filename]
    assert build_message_event("m", stack=stack).culprit == ""


def test_message_event_caps() -> None:
    event = build_message_event("t" * 20_000)
    assert event.message is not None
    assert len(event.message) == 10_000
    assert len(event.title) == 200


def test_a_cut_message_says_so() -> None:
    event = build_exception_event(ValueError("m" * 50_000))
    message = event.exceptions[-1].message
    assert len(message) <= 10_000
    shown = message.index("…")
    assert message.endswith(f"… [truncated, {50_000 - shown} more characters]")


# -- what is cached per code object --------------------------------------------------------------
def test_repeated_errors_reuse_their_frames_and_traceback_text() -> None:
    first, second = (build_exception_event(_catch(_fail_at_the_same_place)) for _ in range(2))
    assert first.frames[-1] is second.frames[-1]  # built once, from the code object
    assert first.traceback == second.traceback
    assert first.traceback.endswith('    raise ValueError("failed")\nValueError: failed')
    assert first.event_id != second.event_id


def _fail_at_the_same_place() -> None:
    raise ValueError("failed")


def test_a_reloaded_module_shows_its_new_source_lines(tmp_path: Path) -> None:
    import importlib

    path = tmp_path / "erralert_reloaded_mod.py"
    path.write_text("def f():\n    raise ValueError('old line')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("erralert_reloaded_mod")
        old = build_exception_event(_catch(module.f))
        assert old.frames[-1].context_line == "raise ValueError('old line')"
        path.write_text("def f():\n    raise ValueError('new line')  # edited\n")
        os.utime(path, (1, 1))  # a different mtime whatever the clock's resolution
        importlib.invalidate_caches()
        module = importlib.reload(module)
        new = build_exception_event(_catch(module.f))
        assert new.frames[-1].context_line == "raise ValueError('new line')  # edited"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("erralert_reloaded_mod", None)


def test_include_locals_still_reads_each_occurrence() -> None:
    def fail(n: int) -> None:
        raise ValueError("x")

    a = build_exception_event(_catch(lambda: fail(1)), include_locals=True)
    b = build_exception_event(_catch(lambda: fail(2)), include_locals=True)
    assert a.frames[-1].locals == {"n": "1"}
    assert b.frames[-1].locals == {"n": "2"}
    assert a.frames[-1].context_line == b.frames[-1].context_line == 'raise ValueError("x")'


def test_event_ids_are_uuid4_and_unique() -> None:
    import uuid

    ids = [new_event_id() for _ in range(2000)]  # several pools
    assert len(set(ids)) == len(ids)
    for event_id in ids[:300]:
        parsed = uuid.UUID(event_id)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert parsed.hex == event_id


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_does_not_repeat_its_parents_event_ids() -> None:
    new_event_id()  # a pool with ids left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != new_event_id()


def test_every_module_that_builds_an_event_is_left_untraced() -> None:
    # A __repr__ that logs an error may build a whole event under the budget's tracer: the
    # capture's own modules run there untraced (bounded loops, no per-instruction cost)
    # whichever module the code was split into.
    modules = (
        budget,
        safe_text,
        chain,
        live_frames,
        traceback_text,
        tags_and_extra,
        events,
        event_origin,
        reprlib,
    )
    assert {module.__file__ for module in modules} == budget.UNTRACED_FILES


def test_a_stand_in_event_is_the_message_event_of_its_text() -> None:
    # the outbox's summary of a storm whose sample is gone is rendered from a stand-in: the
    # same event as capturing the message, made without the capture stage
    stand_in = stand_in_event("error storm", now=1_700_000_000.0)
    captured = build_message_event("error storm", now=1_700_000_000.0)
    assert dataclasses.replace(stand_in, event_id=captured.event_id) == captured
    assert re.fullmatch(r"[0-9a-f]{32}", stand_in.event_id)

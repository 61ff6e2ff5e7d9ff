from __future__ import annotations

import json
import os
import sysconfig
from types import CodeType

import pytest

import erralert.frames as frames
from erralert.frames import code_info, is_in_app, walk_traceback

STDLIB = os.path.dirname(os.__file__)
PURELIB = sysconfig.get_paths()["purelib"]
PACKAGE = os.path.dirname(os.path.abspath(frames.__file__))


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        (json.__file__, False),  # the stdlib
        (os.path.join(STDLIB, "anything", "new.py"), False),
        (os.path.join(PURELIB, "httpx", "_client.py"), False),  # installed packages
        ("/opt/app/.venv/lib/python3.11/site-packages/django/core.py", False),
        ("/usr/lib/python3/dist-packages/requests/api.py", False),
        ("<frozen importlib._bootstrap>", False),
        ("<frozen runpy>", False),
        ("<ipython-input-1-abc>", False),
        ("<unknown>", False),
        ("", False),
        (os.path.join(PACKAGE, "capture.py"), False),  # erralert itself
        (os.path.join(PACKAGE, "channels", "slack.py"), False),
        ("<stdin>", True),
        ("<string>", True),
        (__file__, True),  # tests are the app's code
        ("/srv/app/views.py", True),
        ("app/views.py", True),  # relative to the working directory
        (PACKAGE + "_extras/mod.py", True),  # a sibling that merely shares the prefix
    ],
)
def test_is_in_app(filename: str, expected: bool) -> None:
    assert is_in_app(filename) is expected


def _sample() -> None:
    raise ValueError("x")


class _Holder:
    def method(self) -> None:
        raise ValueError("y")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (_sample.__code__, ("_sample", True)),
        (_Holder.method.__code__, ("_Holder.method", True)),
        (json.dumps.__code__, ("dumps", False)),
    ],
)
def test_code_info(code: CodeType, expected: tuple[str, bool]) -> None:
    assert code_info(code) == expected
    assert code_info(code) is code_info(code)  # served from the cache


def test_code_info_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "_CODE_CACHE_MAX", 5)
    monkeypatch.setattr(frames, "_code_cache", {})
    codes = [compile(f"x = {i}", f"/srv/app/gen{i}.py", "exec") for i in range(12)]
    for code in codes:
        assert code_info(code) == ("<module>", True)
        assert len(frames._code_cache) <= 5
    assert code_info(codes[-1]) == ("<module>", True)


def test_code_info_distinguishes_equal_looking_code() -> None:
    # same source, different files: equal code objects must not share an answer
    inside = compile("def f(): pass", os.path.join(STDLIB, "fake_mod.py"), "exec")
    outside = compile("def f(): pass", "/srv/app/fake_mod.py", "exec")
    assert code_info(inside) == ("<module>", False)
    assert code_info(outside) == ("<module>", True)


def _outer() -> None:
    _middle()


def _middle() -> None:
    _sample()


def test_walk_traceback_outermost_first() -> None:
    try:
        _outer()
    except ValueError as exc:
        walked = walk_traceback(exc.__traceback__)
    names = [frame.f_code.co_name for frame, _ in walked]
    assert names == ["test_walk_traceback_outermost_first", "_outer", "_middle", "_sample"]
    linenos = [lineno for _, lineno in walked]
    assert linenos[1:] == [
        _outer.__code__.co_firstlineno + 1,
        _middle.__code__.co_firstlineno + 1,
        _sample.__code__.co_firstlineno + 1,
    ]


def test_walk_traceback_of_none() -> None:
    assert walk_traceback(None) == []
    assert walk_traceback(ValueError("never raised").__traceback__) == []

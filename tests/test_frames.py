from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
import sysconfig
import weakref
from pathlib import Path
from types import CodeType
from typing import NoReturn

import httpx
import pytest

import erralert
import erralert._core.frames as frames
from erralert._core.frames import (
    absolute_path,
    code_hidden,
    code_info,
    display_path,
    is_hidden,
    is_in_app,
    walk_traceback,
)

STDLIB = os.path.dirname(os.__file__)
PURELIB = sysconfig.get_paths()["purelib"]
PACKAGE = os.path.dirname(os.path.abspath(erralert.__file__))


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
    """The cache holds each code object it answers for: once the test lets go of them, at
    most CODE_CACHE_MAX are still alive (code objects are freed as their last reference
    goes, so a weak reference tells whether the cache still holds one)."""
    monkeypatch.setattr(frames, "CODE_CACHE_MAX", 5)
    seen: list[weakref.ref[CodeType]] = []
    for i in range(12):
        code = compile(f"x = {i}", f"/srv/app/gen{i}.py", "exec")
        assert code_info(code) == ("<module>", True)
        seen.append(weakref.ref(code))
        last, code = code, None  # the test keeps only the latest
        assert sum(ref() is not None for ref in seen) <= 5
    assert code_info(last) == ("<module>", True)


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


# -- frames that never appear ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("<frozen runpy>", True),
        ("<frozen importlib._bootstrap>", True),
        ("<frozen importlib._bootstrap_external>", True),
        ("<frozen zipimport>", True),
        (runpy.__file__, True),  # from source: older Pythons, -X frozen_modules=off
        (os.path.join(STDLIB, "importlib", "_bootstrap.py"), True),
        (os.path.join(STDLIB, "importlib", "_bootstrap_external.py"), True),
        (os.path.join(PACKAGE, "capture.py"), True),  # erralert's own
        (os.path.join(PACKAGE, "asgi.py"), True),
        (os.path.join(PACKAGE, "integrations", "flask.py"), True),
        (os.path.join(PACKAGE, "demo.py"), True),
        (PACKAGE + "_extras/mod.py", False),
        (os.path.join(STDLIB, "importlib", "__init__.py"), False),  # import_module: a call
        ("<frozen os>", False),
        ("<string>", False),
        (json.__file__, False),
        (contextlib.__file__, False),
        (__file__, False),
        ("/srv/app/runpy.py", False),  # an app's own file of that name
        ("", False),
    ],
)
def test_is_hidden(filename: str, expected: bool) -> None:
    assert is_hidden(filename) is expected


def test_code_hidden() -> None:
    assert code_hidden(runpy.run_path.__code__) is True
    assert code_hidden(frames.display_path.__code__) is True
    assert code_hidden(_sample.__code__) is False
    assert code_hidden(json.dumps.__code__) is False
    assert code_info(runpy.run_path.__code__) == ("run_path", False)


# -- display paths --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        (json.decoder.__file__, "json/decoder.py"),  # the stdlib: relative to it
        (contextlib.__file__, "contextlib.py"),
        (
            os.path.join(STDLIB, "importlib", "metadata", "__init__.py"),
            "importlib/metadata/__init__.py",
        ),
        (httpx.__file__, "httpx/__init__.py"),  # installed packages: relative to site-packages
        (os.path.join(PURELIB, "httpx", "_client.py"), "httpx/_client.py"),
        ("/opt/app/.venv/lib/python3.11/site-packages/django/core.py", "django/core.py"),
        ("/usr/lib/python3/dist-packages/requests/api.py", "requests/api.py"),
        # a virtualenv inside a project inside another one's site-packages: the innermost
        ("/a/site-packages/proj/.venv/lib/site-packages/pkg/m.py", "pkg/m.py"),
        (os.path.join(PACKAGE, "integrations", "asgi.py"), "erralert/integrations/asgi.py"),
        (__file__, "tests/test_frames.py"),  # the app: relative to its import root
        ("<frozen runpy>", "<frozen runpy>"),
        ("<string>", "<string>"),
        ("", ""),
    ],
)
def test_display_path(filename: str, expected: str) -> None:
    assert display_path(filename) == expected


def test_no_display_path_keeps_an_interpreter_or_virtualenv_prefix() -> None:
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, STDLIB, PURELIB}
    for module in (json.decoder, contextlib, runpy, httpx, pytest):
        shown = display_path(module.__file__ or "")
        assert not os.path.isabs(shown)
        assert not any(shown.startswith(p) for p in prefixes)
        assert shown.endswith(os.path.basename(module.__file__ or ""))


def test_an_app_file_is_relative_to_the_sys_path_entry_it_was_imported_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    charge = project / "shop" / "payments" / "charge.py"
    charge.parent.mkdir(parents=True)
    charge.write_text("def charge():\n    raise ValueError('declined')\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the longest entry that holds it wins
    monkeypatch.syspath_prepend(str(project))
    assert display_path(str(charge)) == "shop/payments/charge.py"
    outside = tmp_path / "elsewhere" / "tool.py"
    assert display_path(str(outside)) == "elsewhere/tool.py"


def test_a_library_directory_on_sys_path_is_no_app_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(os.path.join(STDLIB, "json"))
    monkeypatch.syspath_prepend(os.path.join(PURELIB, "httpx"))
    assert display_path(json.decoder.__file__) == "json/decoder.py"
    assert display_path(os.path.join(PURELIB, "httpx", "_client.py")) == "httpx/_client.py"


def test_a_file_under_no_root_keeps_its_absolute_path() -> None:
    # "/" is never a root: every absolute path would be "relative" to it
    assert display_path("/nowhere-near/app/views.py") == "/nowhere-near/app/views.py"


def test_paths_do_not_ask_the_working_directory_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.getcwd() is a system call on the failing request's thread: asked once, when
    erralert is imported; a later chdir is ignored (relative file names were relative to
    where the process imported them)."""
    base = os.path.dirname(absolute_path("probe.py"))  # the working directory it saw

    def no_getcwd() -> str:
        raise AssertionError("os.getcwd() called on the hot path")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "getcwd", no_getcwd)
    assert absolute_path(os.path.join("app", "x.py")) == os.path.join(base, "app", "x.py")
    shown = display_path(os.path.join("app", "relative_new_name.py"))
    assert shown.endswith("app/relative_new_name.py")
    assert not shown.startswith(str(tmp_path))
    assert is_in_app(os.path.join("app", "relative_new_name.py")) is True
    assert os.path.dirname(absolute_path("probe.py")) == base


def test_paths_ask_the_operating_system_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failing thread may be an event loop's: no system call that can block (the
    working directory, a real path's lstat and readlink), not even for a sys.path entry
    added after import."""

    def blocking(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("a system call on the hot path")

    project = tmp_path / "late_project"
    monkeypatch.syspath_prepend(str(project))
    for name in ("getcwd", "lstat", "stat", "readlink"):
        monkeypatch.setattr(os, name, blocking)
    for name in ("abspath", "realpath"):
        monkeypatch.setattr(os.path, name, blocking)
    charge = os.path.join(str(project), "shop", "charge.py")
    assert display_path(charge) == "shop/charge.py"
    assert is_in_app(os.path.join(str(project), "shop", "refund_new_name.py")) is True
    assert absolute_path(os.path.join("app", "x.py")).endswith(os.path.join("", "app", "x.py"))

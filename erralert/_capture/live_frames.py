"""An event's frames from the live frame objects of a stack (names, paths, source lines,
locals), cached per code object and line, and the culprit they point at."""

from __future__ import annotations

import dataclasses
import itertools
import linecache
from collections.abc import Sequence
from types import CodeType, FrameType
from typing import Any

from erralert._capture.safe_text import clean_name, cut, safe_repr
from erralert._core.event import Frame, clean_text
from erralert._core.frames import absolute_path, code_hidden, code_info, display_path

__all__ = [
    "FRAME_CACHE_MAX",
    "HEAD_FRAMES",
    "MAX_PATH",
    "TAIL_FRAMES",
    "capture_frames",
    "frames_culprit",
    "innermost_in_app",
    "stack_culprit",
]


MAX_CONTEXT_LINE = 300
HEAD_FRAMES = 20  # a very deep stack keeps its first frames (how it started) ...
TAIL_FRAMES = 80  # ... and its last ones (where it failed); the middle is counted
MAX_LOCALS = 30
MAX_PATH = 1000


def _abs_path(filename: str) -> str:
    try:
        return absolute_path(filename)
    except Exception:  # never lose the frame over its file name
        return filename


def _source_line(
    filename: str, lineno: int, module_globals: dict[str, Any], checked: set[str]
) -> str | None:
    if lineno <= 0:
        return None
    try:
        if filename not in checked:
            # A file edited and reloaded since it was cached (a reload in development)
            # would otherwise show the old lines. Only asked when a code object's frame is
            # first built (see _frame): a reload compiles new code objects.
            checked.add(filename)
            linecache.checkcache(filename)
        line = linecache.getline(filename, lineno, module_globals)
    except Exception:  # a custom loader's get_source() may raise anything
        return None
    if not isinstance(line, str):  # a loader's get_source() may return anything
        return None
    line = line.strip()
    return clean_text(cut(line, MAX_CONTEXT_LINE)) if line else None


def _locals(frame: FrameType) -> dict[str, str] | None:
    try:
        # a module-level frame's locals are its globals: thousands of them
        items = list(itertools.islice(frame.f_locals.items(), 10 * MAX_LOCALS))
    except Exception:
        return None
    result: dict[str, str] = {}
    for name, value in items:
        if len(result) >= MAX_LOCALS:
            break
        # __builtins__, __class__ cells and friends are noise, not the app's state
        if not isinstance(name, str) or (name.startswith("__") and name.endswith("__")):
            continue
        result[clean_name(name)] = safe_repr(value)
    return result


# (id(code), lineno) -> (code, globals it ran under, its Frame without locals). Everything
# in a Frame but the locals follows from the code object, the line and the module, so an
# error raised again at a known place (the next window's alert, a digest's sample) builds
# its frames from dict lookups, without reading names, paths or source lines again. The
# code object is held so that its id cannot be reused while the entry lives; the globals
# are compared because the same code may run under other globals (exec, runpy).
_frame_cache: dict[tuple[int, int], tuple[CodeType, dict[str, Any], Frame]] = {}
FRAME_CACHE_MAX = 10_000


def _frame(frame: FrameType, lineno: int, include_locals: bool, checked: set[str]) -> Frame:
    code = frame.f_code
    f_globals = frame.f_globals
    entry = _frame_cache.get((id(code), lineno))
    if entry is not None and entry[0] is code and entry[1] is f_globals:
        built = entry[2]
    else:
        built = _new_frame(code, f_globals, lineno, checked)
    if include_locals and built.in_app:
        # the cached frame without locals, with this occurrence's
        return dataclasses.replace(built, locals=_locals(frame))
    return built


def _new_frame(code: CodeType, f_globals: dict[str, Any], lineno: int, checked: set[str]) -> Frame:
    function, in_app = code_info(code)
    filename = code.co_filename if isinstance(code.co_filename, str) else "<unknown>"
    # a file name may carry lone surrogates (undecodable bytes of the file system) and a
    # module's __name__ may be anything its code set
    built = Frame(
        filename=clean_name(display_path(filename), MAX_PATH),
        abs_path=clean_name(_abs_path(filename), MAX_PATH),
        lineno=lineno,
        function=clean_name(function),
        module=clean_name(f_globals.get("__name__")),
        context_line=_source_line(filename, lineno, f_globals, checked),
        in_app=in_app,
    )
    if len(_frame_cache) >= FRAME_CACHE_MAX:
        _frame_cache.clear()
    _frame_cache[id(code), lineno] = (code, f_globals, built)
    return built


def capture_frames(
    stack: list[tuple[FrameType, int]], include_locals: bool
) -> tuple[tuple[Frame, ...], int]:
    """The event's frames of ``stack`` (outermost first) and how many were left out of
    its middle: a very deep stack keeps its ``HEAD_FRAMES`` and ``TAIL_FRAMES``."""
    # erralert's own frames and the import/run machinery are no part of what failed; left
    # out before the stack is cut, so that the cut's place in the traceback stays right
    stack = [entry for entry in stack if not code_hidden(entry[0].f_code)]
    omitted = 0
    if len(stack) > HEAD_FRAMES + TAIL_FRAMES:
        omitted = len(stack) - HEAD_FRAMES - TAIL_FRAMES
        stack = stack[:HEAD_FRAMES] + stack[-TAIL_FRAMES:]
    checked: set[str] = set()
    return tuple([_frame(f, lineno, include_locals, checked) for f, lineno in stack]), omitted


# -- culprit -----------------------------------------------------------------------------------
def _culprit_of(module: str, function: str, path: str, lineno: int) -> str:
    """``"module.function (path:line)"``; ``path`` is the display path (``Frame.filename``)."""
    where = f"{module}.{function}" if module else function
    return f"{where} ({path}:{lineno})"


def frames_culprit(frames: Sequence[Frame]) -> str:
    """An exception's culprit: its innermost in-app frame, else its innermost frame."""
    if not frames:
        return ""
    frame = next((f for f in reversed(frames) if f.in_app), frames[-1])
    return _culprit_of(frame.module, frame.function, frame.filename, frame.lineno)


def innermost_in_app(stack: Sequence[tuple[FrameType, int]]) -> tuple[FrameType, int] | None:
    """The innermost in-app frame (and its line) of a stack given outermost first: a
    message's culprit."""
    for frame, lineno in reversed(stack):
        if code_info(frame.f_code)[1]:
            return frame, lineno
    return None


def stack_culprit(stack: Sequence[tuple[FrameType, int]]) -> str:
    """A message's culprit: the innermost in-app frame of ``stack`` (outermost first), as
    ``"module.function (path:line)"``, else empty."""
    found = innermost_in_app(stack)
    if found is None:
        return ""
    frame, lineno = found
    function = code_info(frame.f_code)[0]
    filename = frame.f_code.co_filename
    if not isinstance(filename, str):
        filename = "<unknown>"
    filename = clean_name(display_path(filename), MAX_PATH)
    return _culprit_of(
        clean_name(frame.f_globals.get("__name__")), clean_name(function), filename, lineno
    )

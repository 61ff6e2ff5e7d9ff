"""Which frames belong to the application, and walking tracebacks.

Shared by event building (``capture``) and grouping (``fingerprint``). Both run for every
captured exception, so the per-code-object answer is cached.
"""

from __future__ import annotations

import os
import sysconfig
from types import CodeType, FrameType, TracebackType

__all__ = ["code_info", "is_in_app", "type_names", "walk_stack", "walk_traceback"]

# Bounds of the caches below: a long-running process that keeps compiling code (templates,
# exec) must not grow them forever; clearing is cheap and they refill on the next errors.
_CODE_CACHE_MAX = 10_000
_PATH_CACHE_MAX = 10_000

# Filenames of code not compiled from a file that still count as the app's own code.
_IN_APP_PSEUDO_FILES = frozenset({"<stdin>", "<string>"})


def _library_prefixes() -> tuple[str, ...]:
    """Directories whose files are never in-app: the stdlib, installed packages and erralert."""
    dirs: set[str] = set()
    try:
        paths = sysconfig.get_paths()
    except Exception:  # a broken install must not break error capture
        paths = {}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(name):
            dirs.add(paths[name])
    # The directory `os` was imported from is the stdlib even when sysconfig is patched.
    dirs.add(os.path.dirname(os.__file__))
    # erralert's own package: this module lives in it.
    dirs.add(os.path.dirname(os.path.abspath(__file__)))
    prefixes: set[str] = set()
    for d in dirs:
        # Code objects name files by the path they were imported through, which may or may
        # not go through a symlink: accept both spellings.
        for variant in (os.path.abspath(d), os.path.realpath(d)):
            prefixes.add(os.path.join(os.path.normcase(variant), ""))
    return tuple(sorted(prefixes))


_LIBRARY_PREFIXES = _library_prefixes()
_PACKAGE_DIR_MARKERS = tuple(
    os.path.normcase(f"{os.sep}{name}{os.sep}") for name in ("site-packages", "dist-packages")
)
_path_cache: dict[str, bool] = {}
# id(code) -> (code, (qualname, in_app)). Keyed by id because hashing a code object hashes
# its bytecode and constants (slower than the rest of the lookup); holding the code object
# in the value keeps the id from being reused while the entry lives.
_code_cache: dict[int, tuple[CodeType, tuple[str, bool]]] = {}


def is_in_app(filename: str) -> bool:
    """Whether code from ``filename`` is the application's own (not the stdlib, an installed
    package, a frozen module or erralert itself). ``"<stdin>"`` and ``"<string>"`` count as
    the app's; any other ``"<...>"`` pseudo-file does not."""
    cached = _path_cache.get(filename)
    if cached is not None:
        return cached
    result = _is_in_app(filename)
    if len(_path_cache) >= _PATH_CACHE_MAX:
        _path_cache.clear()
    _path_cache[filename] = result
    return result


def _is_in_app(filename: str) -> bool:
    if not filename:
        return False
    if filename.startswith("<"):
        return filename in _IN_APP_PSEUDO_FILES
    try:
        path = os.path.normcase(os.path.abspath(filename))
    except (OSError, ValueError):  # cwd removed, NUL in the name
        return False
    if any(marker in path for marker in _PACKAGE_DIR_MARKERS):
        return False
    return not path.startswith(_LIBRARY_PREFIXES)


def code_info(code: CodeType) -> tuple[str, bool]:
    """``(co_qualname, in_app)`` of a code object, cached per code object."""
    entry = _code_cache.get(id(code))
    if entry is not None and entry[0] is code:
        return entry[1]
    info = (code.co_qualname, is_in_app(code.co_filename))
    if len(_code_cache) >= _CODE_CACHE_MAX:
        _code_cache.clear()
    _code_cache[id(code)] = (code, info)
    return info


# ``type``'s own descriptors: what the interpreter itself knows a class by
_TYPE_QUALNAME = type.__dict__["__qualname__"]
_TYPE_NAME = type.__dict__["__name__"]
_TYPE_MODULE = type.__dict__["__module__"]


def type_names(cls: type) -> tuple[str, str]:
    """``(qualname, module)`` of a class; ``module`` is ``""`` when it is not a string.

    Read through ``type``'s own descriptors, not ``cls.__module__``: a metaclass may shadow
    ``__module__`` or ``__name__`` with a property that raises or returns anything, and a
    class built with ``type()`` may carry any ``__module__`` (None, a number). Never raises.
    """
    qualname: object = None
    for descriptor in (_TYPE_QUALNAME, _TYPE_NAME):
        try:
            qualname = descriptor.__get__(cls)
        except Exception:
            continue
        if isinstance(qualname, str):
            break
    try:
        module: object = _TYPE_MODULE.__get__(cls)
    except Exception:  # a class whose __dict__ lost its "__module__"
        module = None
    return (
        str.__str__(qualname) if isinstance(qualname, str) else "<unknown>",
        str.__str__(module) if isinstance(module, str) else "",
    )


def walk_traceback(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    """``(frame, lineno)`` of each traceback entry, outermost first (where it was raised
    last). ``lineno`` is 0 when the interpreter does not know it."""
    result: list[tuple[FrameType, int]] = []
    while tb is not None:
        lineno = tb.tb_lineno
        result.append((tb.tb_frame, lineno if isinstance(lineno, int) and lineno >= 0 else 0))
        tb = tb.tb_next
    return result


def walk_stack(frame: FrameType | None) -> list[tuple[FrameType, int]]:
    """``(frame, lineno)`` of ``frame`` and its callers, outermost first: the stack of a
    message captured without an exception."""
    result: list[tuple[FrameType, int]] = []
    while frame is not None:
        result.append((frame, frame.f_lineno or 0))
        frame = frame.f_back
    result.reverse()
    return result

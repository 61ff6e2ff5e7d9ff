"""Which frames belong to the application, where their files live, and walking tracebacks.

Shared by event building (``capture``) and grouping (``fingerprint``). Both run for every
captured exception, so the per-code-object and per-file answers are cached.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import CodeType, FrameType, TracebackType

__all__ = [
    "CODE_CACHE_MAX",
    "absolute_path",
    "code_hidden",
    "code_info",
    "display_path",
    "is_hidden",
    "is_in_app",
    "type_names",
    "walk_stack",
    "walk_traceback",
]

# Bounds of the caches below: a long-running process that keeps compiling code (templates,
# exec) must not grow them forever; clearing is cheap and they refill on the next errors.
# CODE_CACHE_MAX is public: the most code objects ``code_info``/``code_hidden`` keep alive,
# read at each new entry (so a test may lower it to see the bound honoured).
CODE_CACHE_MAX = 10_000
_PATH_CACHE_MAX = 10_000

# Filenames of code not compiled from a file that still count as the app's own code.
_IN_APP_PSEUDO_FILES = frozenset({"<stdin>", "<string>"})

# The interpreter's import and run machinery (``python -m``, ``runpy.run_path``, importing a
# module that fails): frames of how the code was started, never of what failed. Python's own
# tracebacks leave the importlib ones out too. Frozen (3.11+) and from source (older Pythons,
# ``-X frozen_modules=off``).
_HIDDEN_PSEUDO_PREFIXES = (
    "<frozen runpy>",
    "<frozen importlib._bootstrap",  # also _bootstrap_external
    "<frozen zipimport>",
)
_HIDDEN_STDLIB_FILES = frozenset(
    os.path.normcase(os.path.join(*parts))
    for parts in (
        ("runpy.py",),
        ("importlib", "_bootstrap.py"),
        ("importlib", "_bootstrap_external.py"),
        ("zipimport.py",),
    )
)

# this file is erralert/_core/frames.py: the package is two levels up
_ERRALERT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ERRALERT_NAME = os.path.basename(_ERRALERT_DIR)


def _variants(directory: str) -> set[str]:
    """``directory`` as a prefix (normcased, with a trailing separator), in both spellings:
    code objects name files by the path they were imported through, which may or may not
    go through a symlink."""
    return {
        os.path.join(os.path.normcase(variant), "")
        for variant in (os.path.abspath(directory), os.path.realpath(directory))
    }


def _prefixes(directories: set[str]) -> tuple[str, ...]:
    """Prefixes of ``directories``, longest first: the first that matches is the closest."""
    found: set[str] = set()
    for d in directories:
        found |= _variants(d)
    return tuple(sorted(found, key=len, reverse=True))


def _install_dirs(*names: str) -> set[str]:
    try:
        paths = sysconfig.get_paths()
    except Exception:  # a broken install must not break error capture
        paths = {}
    return {paths[name] for name in names if paths.get(name)}


# The directory `os` was imported from is the stdlib even when sysconfig is patched.
_STDLIB_PREFIXES = _prefixes(_install_dirs("stdlib", "platstdlib") | {os.path.dirname(os.__file__)})
_PACKAGES_PREFIXES = _prefixes(_install_dirs("purelib", "platlib"))
_ERRALERT_PREFIXES = _prefixes({_ERRALERT_DIR})
# Directories whose files are never in-app: the stdlib, installed packages and erralert.
_LIBRARY_PREFIXES = tuple(sorted({*_STDLIB_PREFIXES, *_PACKAGES_PREFIXES, *_ERRALERT_PREFIXES}))
_PACKAGE_DIR_MARKERS = tuple(
    os.path.normcase(f"{os.sep}{name}{os.sep}") for name in ("site-packages", "dist-packages")
)
# filename -> (in_app, hidden)
_path_cache: dict[str, tuple[bool, bool]] = {}
# id(code) -> (code, (qualname, in_app), hidden). Keyed by id because hashing a code object
# hashes its bytecode and constants (slower than the rest of the lookup); holding the code
# object in the value keeps the id from being reused while the entry lives.
_code_cache: dict[int, tuple[CodeType, tuple[str, bool], bool]] = {}


def is_in_app(filename: str) -> bool:
    """Whether code from ``filename`` is the application's own (not the stdlib, an installed
    package, a frozen module or erralert itself). ``"<stdin>"`` and ``"<string>"`` count as
    the app's; any other ``"<...>"`` pseudo-file does not."""
    return _file_facts(filename)[0]


def is_hidden(filename: str) -> bool:
    """Whether frames of code from ``filename`` are left out of an event: erralert's own
    (its middleware's ``await self.app(...)``, its hooks) and the interpreter's import and
    run machinery (``<frozen runpy>``, ``runpy.py``, ``<frozen importlib._bootstrap>``)."""
    return _file_facts(filename)[1]


def _file_facts(filename: str) -> tuple[bool, bool]:
    cached = _path_cache.get(filename)
    if cached is not None:
        return cached
    result = _classify(filename)
    if len(_path_cache) >= _PATH_CACHE_MAX:
        _path_cache.clear()
    _path_cache[filename] = result
    return result


def _classify(filename: str) -> tuple[bool, bool]:
    """``(in_app, hidden)`` of a file."""
    if not filename:
        return False, False
    if filename.startswith("<"):
        return filename in _IN_APP_PSEUDO_FILES, filename.startswith(_HIDDEN_PSEUDO_PREFIXES)
    try:
        path = os.path.normcase(absolute_path(filename))
    except Exception:  # never raise into a failing app over a file name
        return False, False
    if path.startswith(_ERRALERT_PREFIXES):
        return False, True
    stdlib = next((p for p in _STDLIB_PREFIXES if path.startswith(p)), None)
    if stdlib is not None and path[len(stdlib) :] in _HIDDEN_STDLIB_FILES:
        return False, True
    if stdlib is not None or any(marker in path for marker in _PACKAGE_DIR_MARKERS):
        return False, False
    return not path.startswith(_LIBRARY_PREFIXES), False


def code_info(code: CodeType) -> tuple[str, bool]:
    """``(co_qualname, in_app)`` of a code object, cached per code object."""
    entry = _code_cache.get(id(code))  # inline: asked for every frame of every error
    if entry is not None and entry[0] is code:
        return entry[1]
    return _new_code_entry(code)[1]


def code_hidden(code: CodeType) -> bool:
    """Whether frames of ``code`` are left out of an event (see ``is_hidden``), cached per
    code object."""
    entry = _code_cache.get(id(code))
    if entry is not None and entry[0] is code:
        return entry[2]
    return _new_code_entry(code)[2]


def _new_code_entry(code: CodeType) -> tuple[CodeType, tuple[str, bool], bool]:
    in_app, hidden = _file_facts(code.co_filename)
    entry = (code, (code.co_qualname, in_app), hidden)
    if len(_code_cache) >= CODE_CACHE_MAX:
        _code_cache.clear()
    _code_cache[id(code)] = entry
    return entry


# -- where a file lives, for display -----------------------------------------------------------
class _Roots:
    """The working directory and the directories the application's modules are imported
    through.

    Nothing here asks the operating system at the time of an error: the request's thread
    is the one failing, and it may be an event loop's, where a system call that can block
    (``os.getcwd()``, the ``lstat``/``readlink`` of ``os.path.realpath``, a network file
    system) stalls every other request. So the working directory and the real paths of
    the ``sys.path`` entries are looked up once, when erralert is imported (see
    ``_WORKING_DIRECTORY``, ``_RESOLVED``). A relative ``co_filename`` was relative to the
    working directory of its import, which is (nearly always) the one the process started
    in, so a later ``chdir`` is ignored on purpose. ``sys.path`` is compared (a list
    compare, no I/O) on each lookup: an entry added later counts as it is spelled, which
    is how the import system names the files it finds there.
    """

    __slots__ = ("cwd", "paths", "prefixes", "sys_path")

    def __init__(self, cwd: str, sys_path: list[str]) -> None:
        self.cwd = cwd
        self.sys_path = sys_path
        self.paths: dict[str, str] = {}  # filename -> its display path
        found: set[str] = set()
        for entry in [*sys_path, cwd]:
            variants = _RESOLVED.get(entry)
            if variants is None:
                variants = frozenset({_lexical_prefix(os.path.join(cwd, entry))})
            for prefix in variants:
                # a library directory (the stdlib, site-packages) is never an application's
                # root, and "/" would make every absolute path "relative"
                directory = prefix.rstrip(os.sep)
                if (
                    os.path.dirname(directory) != directory
                    and not prefix.startswith(_LIBRARY_PREFIXES)
                    and not any(marker in prefix for marker in _PACKAGE_DIR_MARKERS)
                ):
                    found.add(prefix)
        self.prefixes = tuple(sorted(found, key=len, reverse=True))


def _lexical_prefix(directory: str) -> str:
    """``directory`` (absolute) as a prefix, worked out from its name alone: what
    ``os.path.abspath`` gives, without the ``os.getcwd()`` it may ask."""
    return os.path.join(os.path.normcase(os.path.normpath(directory)), "")


def _sys_path() -> list[str]:
    try:
        return [entry for entry in sys.path if isinstance(entry, str)]
    except Exception:  # sys.path replaced by something that is not a list
        return []


def _working_directory() -> str:
    try:
        return os.getcwd()
    except OSError:  # the working directory was removed
        return os.sep


def _resolved(directory: str) -> frozenset[str]:
    try:
        return frozenset(_variants(directory))
    except Exception:  # a NUL in an entry, an unreadable directory: as it is spelled
        return frozenset({_lexical_prefix(directory)})


_WORKING_DIRECTORY = _working_directory()
# the prefixes of the entries of sys.path at import, both spellings (see _variants)
_RESOLVED: dict[str, frozenset[str]] = {
    entry: _resolved(os.path.join(_WORKING_DIRECTORY, entry))
    for entry in {*_sys_path(), _WORKING_DIRECTORY}
}
_roots = _Roots(_WORKING_DIRECTORY, _sys_path())


def _current_roots() -> _Roots:
    global _roots
    roots = _roots
    now = _sys_path()
    if now != roots.sys_path:
        roots = _roots = _Roots(roots.cwd, now)
    return roots


def absolute_path(filename: str) -> str:
    """``filename`` made absolute (and normalised) against the working directory the
    process had when erralert was imported (see ``_Roots``); ``"<...>"`` pseudo-files
    unchanged. Asks the operating system nothing."""
    if filename.startswith("<") or not filename:
        return filename
    if os.path.isabs(filename):
        return os.path.normpath(filename)
    return os.path.normpath(os.path.join(_WORKING_DIRECTORY, filename))


def display_path(filename: str) -> str:
    """The path of ``filename`` a developer reads, opens and greps (``/`` separated):

    - an installed package's file relative to site-packages: ``"httpx/_client.py"``;
    - the standard library's relative to it: ``"json/decoder.py"``, ``"contextlib.py"``;
    - the application's relative to the directory its module was imported through (the
      longest ``sys.path`` entry, or the working directory, that holds it and is not a
      library directory): ``"shop/payments/charge.py"``;
    - anything else absolute; ``"<...>"`` pseudo-files (``"<string>"``) unchanged.

    Never an interpreter's or a virtualenv's prefix. Cached per filename; never raises.
    """
    if not filename or filename.startswith("<"):
        return filename
    try:
        roots = _current_roots()
        shown = roots.paths.get(filename)
        if shown is None:
            shown = _display(filename, roots)
            if len(roots.paths) >= _PATH_CACHE_MAX:
                roots.paths.clear()
            roots.paths[filename] = shown
    except Exception:  # an odd sys.path, NUL in the name: the name as it is
        return filename
    return shown


def _display(filename: str, roots: _Roots) -> str:
    absolute = absolute_path(filename)
    key = os.path.normcase(absolute)  # same length as `absolute`: the cut applies to both
    # the last site-packages in the path: a virtualenv inside a project inside another one
    cut = max(
        key.rfind(marker) + len(marker) if marker in key else -1 for marker in _PACKAGE_DIR_MARKERS
    )
    if cut < 0:
        # erralert's own files as its package names them, wherever it lies
        within = next((p for p in _ERRALERT_PREFIXES if key.startswith(p)), None)
        if within is not None:
            return f"{_ERRALERT_NAME}/{_display_cut(absolute, len(within))}"
        for prefix in (*_PACKAGES_PREFIXES, *_STDLIB_PREFIXES, *roots.prefixes):
            if key.startswith(prefix):
                cut = len(prefix)
                break
        else:
            return absolute
    return _display_cut(absolute, cut)


def _display_cut(absolute: str, cut: int) -> str:
    relative = absolute[cut:]
    return relative if os.sep == "/" else relative.replace(os.sep, "/")


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

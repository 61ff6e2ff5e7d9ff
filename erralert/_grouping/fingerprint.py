"""Grouping keys: which occurrences are "the same error".

An exception's key is its type plus *where* it was raised (the functions of its in-app
frames), never line numbers or the message: a deploy that shifts lines, or a message with a
different id in it, must not open a new group. Messages (``capture_message``, log records)
are grouped by their text with the variable parts (ids, numbers, timestamps) normalised.

Keys are blake2b digests of stable text only (no ``id()``, no ``hash()`` of str, which is
salted per process), so they are equal across processes, hosts and restarts.
"""

from __future__ import annotations

import hashlib
import re
from types import CodeType, TracebackType
from typing import Any

from erralert._core.frames import code_info, type_names

__all__ = ["exception_fingerprint", "message_fingerprint", "normalise_message"]

_MAX_CHAIN = 10  # exceptions of an explicit ``raise ... from`` chain that take part
# characters of a message that are normalised and grouped on: the regex costs ~0.3 s per
# million characters, and a 10 MB message must not stall the request that logged it (the
# event keeps 10 000 characters too, so the rest is nothing a reader sees either)
_MAX_GROUPING_TEXT = 10_000

_SEP = "\x00"  # cannot appear in a module name or a qualname written in source


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    entry = _type_cache.get(id(cls))
    if entry is not None and entry[0] is cls:
        return entry[1]
    # not cls.__module__: a metaclass may shadow it with a property that raises
    qualname, module = type_names(cls)
    name = f"{module}.{qualname}" if module not in ("builtins", "") else qualname
    if len(_type_cache) >= _SITE_CACHE_MAX:
        _type_cache.clear()
    _type_cache[id(cls)] = (cls, name)
    return name


# id(exception class) -> (class, its name in keys). By id: a metaclass may make hashing or
# comparing its classes raise. The class is held so that its id is not reused meanwhile.
_type_cache: dict[int, tuple[type, str]] = {}


# id(code) -> (code, globals it ran under, "module:qualname", in_app). The code object is
# held so that its id cannot be reused while the entry lives; the globals are compared
# because the same code object may run under other globals (exec, runpy), and comparing
# the dict by identity is cheaper than reading its __name__ for every frame.
_site_cache: dict[int, tuple[CodeType, dict[str, Any], str, bool]] = {}
_SITE_CACHE_MAX = 10_000


def _site(code: CodeType, f_globals: dict[str, Any]) -> tuple[CodeType, dict[str, Any], str, bool]:
    qualname, in_app = code_info(code)
    module = f_globals.get("__name__")
    site = f"{module if isinstance(module, str) else ''}:{qualname}"
    entry = (code, f_globals, site, in_app)
    if len(_site_cache) >= _SITE_CACHE_MAX:
        _site_cache.clear()
    _site_cache[id(code)] = entry
    return entry


def _frame_sites(exc: BaseException, only_in_app: bool) -> list[str]:
    sites: list[str] = []
    cached = _site_cache.get
    raw = _attribute(exc, "__traceback__")
    tb = raw if isinstance(raw, TracebackType) else None
    last = None
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        entry = cached(id(code))
        if entry is None or entry[0] is not code or entry[1] is not frame.f_globals:
            entry = _site(code, frame.f_globals)
        # a site repeating the one before it (recursion) is dropped now, as
        # _collapse_recursion would: a deep recursion costs no list, set and second pass
        if (entry[3] or not only_in_app) and entry[2] is not last:
            last = entry[2]
            sites.append(last)
        tb = tb.tb_next
    if len(sites) > 1 and len(set(sites)) < len(sites):
        return _collapse_recursion(sites)
    return sites


def _collapse_recursion(sites: list[str]) -> list[str]:
    """Recursion repeats a site (or a pair of sites, for mutual recursion) as often as the
    stack happened to allow: keep one round, so that a RecursionError reached from a deeper
    or shallower caller is still one error."""
    kept: list[str] = []
    for site in sites:
        if kept and kept[-1] == site:
            continue
        if len(kept) >= 3 and kept[-2] == site and kept[-1] == kept[-3]:
            continue
        kept.append(site)
    return kept


def _exception_material(exc: BaseException, parts: list[str]) -> None:
    parts.append(_type_name(exc))
    # the frames of the app when there are any, else all of them (an error raised and
    # caught entirely inside a library still has a place)
    parts.extend(_frame_sites(exc, True) or _frame_sites(exc, False))
    # Marks the end of this exception's frames, so that frames cannot be confused with the
    # next exception's type name.
    parts.append("")


def exception_fingerprint(exc: BaseException) -> str:
    """The grouping key of an exception: its qualified type and the ``module:qualname`` of
    its traceback's in-app frames (all frames when none is in-app), then the same for each
    exception of its ``__cause__`` chain (at most 10, cycle-safe). No line numbers, no
    message, no source reading: this runs for every captured exception."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and len(seen) < _MAX_CHAIN and id(current) not in seen:
        seen.add(id(current))
        _exception_material(current, parts)
        cause = _attribute(current, "__cause__")
        current = cause if isinstance(cause, BaseException) else None
    material = _SEP.join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def _attribute(exc: BaseException, name: str) -> object:
    """``exc.<name>``, or None: an exception class may override ``__cause__`` or
    ``__traceback__`` with a property that raises, and the key must still be computed."""
    try:
        return getattr(exc, name)
    except Exception:
        return None


# One pass over the text; the alternatives are tried left to right at each position, so the
# more specific shapes (uuids, timestamps) come before the generic ones (hex, numbers).
# Look-arounds instead of \b keep "_" and letters glued to a token from splitting it, so
# "abc123def4567890" is one hex run and the "2" of "utf8"/"ipv6"/"sha256" stays a word.
_NORMALISE = re.compile(
    r"""
    (?P<uuid>(?<![0-9A-Za-z])
        [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}
        (?![0-9A-Za-z]))
    |(?P<timestamp>(?<![0-9A-Za-z])
        \d{4}-\d{2}-\d{2}
        (?:[T\x20]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?
        (?![0-9A-Za-z]))
    |(?P<email>(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-]))
    |(?P<ip>(?<![0-9A-Za-z.])\d{1,3}(?:\.\d{1,3}){3}(?![0-9A-Za-z.]))
    |(?P<hex>(?<![0-9A-Za-z])
        (?:0[xX][0-9a-fA-F]+|(?=[a-fA-F]*\d)[0-9a-fA-F]{8,})
        (?![0-9A-Za-z]))
    |(?P<n>(?<![A-Za-z0-9.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![0-9]))
    """,
    re.VERBOSE,
)


def _placeholder(match: re.Match[str]) -> str:
    return f"<{match.lastgroup}>"


def normalise_message(text: str) -> str:
    """``text`` with its variable parts replaced by placeholders: ``<uuid>``,
    ``<timestamp>`` (ISO 8601 dates and times), ``<email>``, ``<ip>`` (IPv4), ``<hex>``
    (``0x..`` and runs of at least 8 hex digits with a digit among them) and ``<n>`` (ints
    and floats not preceded by a letter: ``30s`` becomes ``<n>s``, ``utf8`` stays).
    Words and quoted names are kept: a ``KeyError: 'email'`` and a ``KeyError: 'name'``
    are different bugs."""
    return _NORMALISE.sub(_placeholder, text)


def message_fingerprint(text: str, logger: str | None = None, level: str | None = None) -> str:
    """The grouping key of a message: its logger and its normalised text (the first
    10 000 characters: what the event shows of a longer message). ``level`` is
    accepted for symmetry with the capture calls but is deliberately not part of the key,
    so one message logged as a warning and later as an error stays one group."""
    grouped = normalise_message(text[:_MAX_GROUPING_TEXT])
    material = _SEP.join(("message", logger or "", grouped))
    return hashlib.blake2b(material.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

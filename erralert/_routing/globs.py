"""Globs of the routing rules and owners: ``*`` and ``?`` inside one segment, ``**``
across segments, ``[abc]`` classes; compiled once, at configuration time."""

from __future__ import annotations

import re

__all__ = ["compile_glob", "hierarchy_glob"]

_WILDCARDS = frozenset("*?[")


def compile_glob(pattern: object, sep: str = "/", *, anywhere: bool = False) -> re.Pattern[str]:
    """A glob as a regular expression matched with ``fullmatch``. ``*``, ``?`` and ``[…]``
    stay within one segment (segments are separated by ``sep``); a ``**`` segment spans any
    number of segments, none included. ``anywhere``: a pattern not starting with ``sep``
    may match from any segment boundary on. Raises ``ValueError`` for a malformed glob."""
    if not isinstance(pattern, str):
        raise ValueError(f"a glob must be a string, got {type(pattern).__name__}")
    if not pattern.strip():
        raise ValueError("a glob must not be empty")
    if "***" in pattern:
        raise ValueError(f"{pattern!r}: '***' means nothing; '**' spans segments")
    s = re.escape(sep)
    parts = pattern.split(sep)
    out: list[str] = []
    count = len(parts)
    for i, part in enumerate(parts):
        if part == "**":
            if count == 1:
                out.append(".*")
            elif i == 0:
                out.append(f"(?:.*{s})?")  # the next segment follows without a separator
            else:
                out.append(f"(?:{s}.*)?")
            continue
        if i > 0 and not (i == 1 and parts[0] == "**"):
            out.append(s)
        out.append(_segment(part, s, pattern))
    body = "".join(out)
    if anywhere and not pattern.startswith(sep) and not pattern.startswith("**"):
        body = f"(?:.*{s})?" + body
    return re.compile(body, re.DOTALL)


def _segment(part: str, s: str, pattern: str) -> str:
    """One segment's wildcards (``**`` inside a segment counts as ``*``)."""
    out: list[str] = []
    i = 0
    while i < len(part):
        c = part[i]
        if c == "*":
            while i + 1 < len(part) and part[i + 1] == "*":
                i += 1
            out.append(f"[^{s}]*")
        elif c == "?":
            out.append(f"[^{s}]")
        elif c == "[":
            end = part.find("]", i + 2 if part[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                raise ValueError(f"{pattern!r}: '[' without its ']'")
            inner = part[i + 1 : end]
            negate = inner[:1] in ("!", "^")
            if negate:
                inner = inner[1:]
            if not inner:
                raise ValueError(f"{pattern!r}: an empty [] matches nothing")
            escaped = inner.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        elif c == "]":
            raise ValueError(f"{pattern!r}: ']' without its '['")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def hierarchy_glob(pattern: object) -> re.Pattern[str]:
    """A dotted-name glob (modules, loggers): without wildcards, the name and everything
    under it (``app.payments`` matches ``app.payments.charge``)."""
    if isinstance(pattern, str) and not _WILDCARDS & set(pattern):
        pattern = pattern.rstrip(".") + ".**"
    return compile_glob(pattern, ".")

"""Cutting a rendered message to a platform's length limit without losing what matters.

An alert reads from both ends: the first lines say what broke (title, culprit, request),
the last lines say where (the innermost frames of a traceback). ``truncate`` keeps both
and drops whole lines from the middle, leaving one line that says how many went.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from erralert._core.wording import ELLIPSIS, truncation_marker

__all__ = ["truncate"]

# a fence line as CommonMark has it: up to three spaces, then three or more ` or ~
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)

# a cut between these would split one visible character: zero width joiner, variation
# selectors, emoji skin tones, emoji tag characters
_JOINER = "\u200d"
_EXTENDERS = frozenset(
    [
        _JOINER,
        *map(chr, range(0xFE00, 0xFE10)),
        *map(chr, range(0x1F3FB, 0x1F400)),
        *map(chr, range(0xE0020, 0xE0080)),
    ]
)


def truncate(
    text: str,
    limit: int,
    unit: Literal["chars", "bytes"] = "chars",
    *,
    tail_share: float = 0.5,
    locale: str = "en",
) -> str:
    """``text`` itself if it fits in ``limit`` units, else a shortened copy that fits.

    ``unit`` counts characters (code points) or UTF-8 bytes. Whole lines are dropped from
    the middle and replaced by one ``… truncated, N more lines …`` line, in the language
    of ``locale`` (``erralert._core.wording``); the kept head and tail share the room,
    ``tail_share`` of it going to the tail. A line too long to keep whole is cut at a
    character boundary (never inside a UTF-8 sequence or an emoji) and ends with ``…``. A
    cut inside a fenced code block closes the fence before the marker line and reopens it
    after, so both halves still render as code.
    """
    if unit not in ("chars", "bytes"):
        raise ValueError(f"unit must be 'chars' or 'bytes', not {unit!r}")
    if not 0.0 <= tail_share <= 1.0:
        raise ValueError(f"tail_share must be between 0 and 1, not {tail_share!r}")
    if limit <= 0:
        return ""
    if _fits(text, limit, unit):
        return text
    # one line: nothing to drop from the middle, no marker line to make room for
    result = _cut_lines(text, limit, unit, tail_share, locale) if "\n" in text else None
    if result is None or _size(result, unit) > limit:
        # one line, or a limit too small for the line plan (smaller than the marker line)
        result = _cut_end(text, limit, unit)
    return result


# -- measuring ------------------------------------------------------------------------------


def _size(text: str, unit: str) -> int:
    if unit == "chars":
        return len(text)
    # surrogatepass: a lone surrogate (from a surrogateescape'd file name) is counted, not
    # a crash; the encoder of the HTTP body decides what to do with it
    return len(text.encode("utf-8", "surrogatepass"))


def _fits(text: str, limit: int, unit: str) -> bool:
    # a UTF-8 character is 1 to 4 bytes: the length in characters bounds the byte size
    # from both sides, which settles most texts without encoding them
    if len(text) > limit:
        return False
    if unit == "chars" or 4 * len(text) <= limit:
        return True
    return _size(text, unit) <= limit


def _prefix(text: str, room: int, unit: str) -> str:
    """The longest start of ``text`` that fits in ``room`` units and ends on a whole
    character (and, as far as cheaply known, a whole emoji)."""
    if room <= 0:
        return ""
    head = text[:room]  # at least one unit per character
    if unit == "bytes":
        data = head.encode("utf-8", "surrogatepass")
        if len(data) > room:
            end = room
            while end > 0 and data[end] & 0xC0 == 0x80:  # a continuation byte: back off
                end -= 1
            head = data[:end].decode("utf-8", "surrogatepass")
    cut = len(head)
    # back off over combining marks, joiners and modifiers (bounded: a pathological run
    # of combining marks is cut anyway rather than dropped entirely)
    for _ in range(16):
        if not 0 < cut < len(text) or not _joined(text[cut - 1], text[cut]):
            break
        cut -= 1
    return text[:cut]


def _joined(before: str, after: str) -> bool:
    return after in _EXTENDERS or before == _JOINER or unicodedata.combining(after) != 0


def _cut_end(text: str, limit: int, unit: str) -> str:
    """The start of ``text`` and an ellipsis, within ``limit``: the last resort."""
    room = limit - _size(ELLIPSIS, unit)
    if room <= 0:
        return _prefix(text, limit, unit)
    return _prefix(text, room, unit) + ELLIPSIS


# -- the line plan --------------------------------------------------------------------------


def _cut_lines(text: str, limit: int, unit: str, tail_share: float, locale: str) -> str | None:
    total_lines = text.count("\n") + 1
    # room for the marker line with the widest count it can show, plus its line break
    marker = _size(truncation_marker(total_lines, locale), unit) + 1
    reserve = marker
    for _ in range(4):
        plan = _plan(text, limit, unit, tail_share, reserve, locale)
        if plan is None:
            return None
        result, fences = plan
        if _size(result, unit) <= limit:
            return result
        # the fence lines closing and reopening a code block around the marker did not
        # fit: plan again with room for them
        reserve = max(reserve + 1, marker + fences)
    return None


def _plan(
    text: str, limit: int, unit: str, tail_share: float, reserve: int, locale: str
) -> tuple[str, int] | None:
    """The head and tail lines that fit in ``limit`` with ``reserve`` units set aside,
    joined around the marker; and the size of the fence lines that were added."""
    # each kept line costs its size plus one line break; the last line has no line break,
    # hence the one unit of slack
    budget = limit + 1 - reserve
    if budget <= 0:
        return None
    head_budget = int(budget * (1.0 - tail_share))

    head: list[str] = []
    used = 0
    pos = 0  # start of the first line not kept in the head

    def take_head(allowed: int, stop: int) -> None:
        nonlocal used, pos
        while pos < stop:
            newline = text.find("\n", pos, stop)
            end = stop if newline < 0 else newline
            if end - pos + 1 > allowed - used:  # too long even at one unit a character
                return
            cost = _size(text[pos:end], unit) + 1
            if used + cost > allowed:
                return
            head.append(text[pos:end])
            used += cost
            pos = end + 1

    take_head(head_budget, len(text))

    # the tail gets the rest of the room, including what the head left unused
    tail: list[str] = []
    tail_start = len(text) + 1  # start of the first line kept in the tail
    end = len(text)
    while True:
        start = text.rfind("\n", 0, end) + 1
        if start < pos or end - start + 1 > budget - used:
            break
        cost = _size(text[start:end], unit) + 1
        if used + cost > budget:
            break
        tail.append(text[start:end])
        used += cost
        tail_start = start
        if start == 0:
            break
        end = start - 1
    tail.reverse()
    if not tail and tail_share > 0.0:
        # the last line alone is too long (a traceback ending in a huge exception
        # message): keep its start, which names the exception
        start = text.rfind("\n") + 1
        room = budget - used - 1 - _size(ELLIPSIS, unit)
        if start > pos and room >= 20:
            piece = _prefix(text[start : start + room + 1], room, unit)
            tail.append(piece + ELLIPSIS)
            used += _size(tail[0], unit) + 1
            tail_start = start

    # whatever the tail left goes back to the head, whole lines first
    take_head(budget, tail_start - 1)
    if pos >= tail_start:  # everything is kept: only possible when nothing was cut
        return None

    # the next line does not fit whole: keep its start if that is worth a line
    room = budget - used - 1 - _size(ELLIPSIS, unit)
    if pos < tail_start - 1 and (room >= 20 or not head):
        newline = text.find("\n", pos, tail_start)
        line_end = tail_start - 1 if newline < 0 else newline
        # one character more than can fit, so that _prefix sees what follows the cut
        piece = _prefix(text[pos : min(line_end, pos + max(room, 0) + 1)], room, unit)
        if piece:
            head.append(piece + ELLIPSIS)
            pos = line_end + 1

    if tail:
        dropped = text.count("\n", pos, tail_start)
    else:
        dropped = text.count("\n", pos) + 1 if pos <= len(text) else 0

    lines = head
    fences = 0
    if dropped:
        open_after_head = _open_fence(head)
        open_before_tail = _open_fence_in(text, min(tail_start, len(text)))
        if open_after_head is not None:
            lines.append(_closing(open_after_head))
            fences += _size(lines[-1], unit) + 1
        lines.append(truncation_marker(dropped, locale))
        if open_before_tail is not None and tail:
            lines.append(open_before_tail)
            fences += _size(lines[-1], unit) + 1
    lines.extend(tail)
    return "\n".join(lines), fences


# -- fenced code blocks ---------------------------------------------------------------------


def _open_fence(lines: list[str]) -> str | None:
    """The opening line of the fenced block still open after ``lines``, if any."""
    if not any("```" in line or "~~~" in line for line in lines):
        return None
    return _open_fence_in("\n".join(lines), None)


def _open_fence_in(text: str, end: int | None) -> str | None:
    """The opening line of the fenced block open at offset ``end`` of ``text``, if any."""
    stop = len(text) if end is None else end
    if text.find("```", 0, stop) < 0 and text.find("~~~", 0, stop) < 0:
        return None  # the common case, without running the regex over a long text
    opener: str | None = None
    fence = ""
    for match in _FENCE.finditer(text, 0, stop):
        run, rest = match.group(1), match.group(2)
        if opener is None:
            if run[0] == "`" and "`" in rest:
                continue  # not a fence: a backtick info string (or Slack's one-line ```x```)
            opener, fence = match.group(0), run
        elif run[0] == fence[0] and len(run) >= len(fence) and not rest.strip():
            opener = None
    return opener


def _closing(opener: str) -> str:
    opener = opener.lstrip(" ")
    char = opener[0]
    return char * (len(opener) - len(opener.lstrip(char)))

"""Cutting text to a length limit: head and tail kept, whole lines dropped, never too long."""

from __future__ import annotations

import random
import re
import time
from typing import Literal

import pytest

from erralert._core.truncate import truncate

Unit = Literal["chars", "bytes"]
MARKER = re.compile(r"… truncated, (\d+) more lines? …")
FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # one emoji of seven code points


def size(text: str, unit: Unit) -> int:
    return len(text) if unit == "chars" else len(text.encode())


def lines(n: int) -> str:
    return "\n".join(f"line {i}" for i in range(n))


def test_text_that_fits_is_returned_unchanged() -> None:
    assert truncate("short", 5) == "short"
    assert truncate("漢字", 6, "bytes") == "漢字"
    assert truncate("", 0) == ""
    text = lines(50)
    assert truncate(text, len(text)) is text


def test_head_and_tail_are_kept_and_the_middle_counted() -> None:
    text = lines(100)
    result = truncate(text, 100)
    assert len(result) <= 100
    kept = result.split("\n")
    assert kept[0] == "line 0"
    assert kept[-1] == "line 99"
    marker = [line for line in kept if MARKER.fullmatch(line)]
    assert len(marker) == 1
    dropped = int(MARKER.fullmatch(marker[0]).group(1))  # type: ignore[union-attr]
    assert dropped == 100 - (len(kept) - 1)
    # the kept lines are the first and the last ones, in order
    position = kept.index(marker[0])
    assert kept[:position] == [f"line {i}" for i in range(position)]
    assert kept[position + 1 :] == [f"line {i}" for i in range(100 - len(kept) + position + 1, 100)]


def test_tail_share() -> None:
    text = lines(200)
    mostly_tail = truncate(text, 200, tail_share=0.9).split("\n")
    mostly_head = truncate(text, 200, tail_share=0.1).split("\n")
    position = next(i for i, line in enumerate(mostly_tail) if MARKER.fullmatch(line))
    assert position < len(mostly_tail) - position - 1
    position = next(i for i, line in enumerate(mostly_head) if MARKER.fullmatch(line))
    assert position > len(mostly_head) - position - 1


def test_one_line_too_long_is_cut_on_a_character() -> None:
    assert truncate("x" * 1000, 20) == "x" * 19 + "…"
    result = truncate("漢" * 1000, 20, "bytes")
    assert result == "漢" * 5 + "…"  # 15 + 3 bytes: a sixth 漢 would need 21
    assert len(result.encode()) <= 20


def test_a_huge_exception_message_keeps_its_start() -> None:
    traceback = "Traceback:\n" + lines(50) + "\nValueError: " + "x" * 10_000
    result = truncate(traceback, 300)
    assert len(result) <= 300
    assert result.startswith("Traceback:\nline 0\n")
    assert result.split("\n")[-1].startswith("ValueError: xxx")
    assert result.endswith("…")


def test_a_huge_line_in_the_middle() -> None:
    text = "title\n" + "y" * 10_000 + "\nlast"
    result = truncate(text, 100)
    assert len(result) <= 100
    assert result.startswith("title\nyyy")
    assert result.endswith("…\nlast")


def test_emoji_and_combining_marks_are_not_split() -> None:
    result = truncate(FAMILY * 100, 50)
    assert result.endswith("…")
    assert result[:-1] == FAMILY * (len(result[:-1]) // len(FAMILY))
    accented = "e\u0301" * 100
    result = truncate(accented, 30, "bytes")
    assert len(result.encode()) <= 30
    assert len(result[:-1]) % 2 == 0


def test_fenced_code_is_closed_and_reopened_around_the_marker() -> None:
    frames = "\n".join(f'  File "app.py", line {i}, in f{i}' for i in range(200))
    text = f"ValueError: bad\n```python\n{frames}\n```\nthe end"
    result = truncate(text, 400)
    assert len(result) <= 400
    kept = result.split("\n")
    marker = next(i for i, line in enumerate(kept) if MARKER.fullmatch(line))
    assert kept[marker - 1] == "```"  # closed before the marker
    assert kept[marker + 1] == "```python"  # reopened after it
    assert kept[-2:] == ["```", "the end"]
    fences = [line for line in kept if line.startswith("```")]
    assert len(fences) % 2 == 0


def test_no_fence_lines_when_the_cut_is_outside_the_block() -> None:
    text = "```\ncode\n```\n" + lines(200)
    result = truncate(text, 120)
    assert result.count("```") == 2


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        truncate("x", 1, "words")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        truncate("x", 1, tail_share=1.5)
    assert truncate("xyz", 0) == ""
    assert truncate("xyz", -5) == ""


ALPHABET = (
    list("abcdefghij     ")
    + ["\n"] * 6
    + ["漢", "字", "é", "ß", "🔥", "👍🏽", FAMILY, "e\u0301", "…", "```", "~~~", "\t"]
)


def random_text(rng: random.Random) -> str:
    pieces = rng.choices(ALPHABET, k=rng.randint(0, 400))
    if rng.random() < 0.3:  # a long line somewhere
        pieces.insert(rng.randint(0, len(pieces)), "w" * rng.randint(50, 500))
    if rng.random() < 0.3:
        pieces.insert(rng.randint(0, len(pieces)), "\n```\n")
    return "".join(pieces)


@pytest.mark.parametrize("unit", ["chars", "bytes"])
def test_property_always_fits_and_only_cuts(unit: Unit) -> None:
    rng = random.Random(20261126)
    for _ in range(1500):
        text = random_text(rng)
        limit = rng.randint(0, 600)
        tail_share = rng.choice([0.0, 0.3, 0.5, 0.8, 1.0])
        result = truncate(text, limit, unit, tail_share=tail_share)
        assert size(result, unit) <= max(limit, 0), (text, limit, result)
        if size(text, unit) <= limit:
            assert result == text
            continue
        if text.startswith(result):
            continue  # a limit too small for even an ellipsis: just the start
        originals = set(text.split("\n"))
        for line in result.split("\n"):
            # every line is an original line, the marker, a fence line we added, or the
            # start of an original line ending in an ellipsis
            if line in originals or MARKER.fullmatch(line) or re.fullmatch(r"(```|~~~)+", line):
                continue
            assert line.endswith("…"), (text, limit, result, line)
            assert any(original.startswith(line[:-1]) for original in originals), line


@pytest.mark.parametrize("unit", ["chars", "bytes"])
def test_ten_megabytes_take_little_time(unit: Unit) -> None:
    many_lines = '  File "app/views.py", line 42, in handler\n    do_it()\n' * 200_000
    one_line = "漢" * 3_500_000
    fenced = "```\n" + many_lines + "```\n"
    for text in (many_lines, one_line, fenced):
        started = time.perf_counter()
        result = truncate(text, 40_000, unit)
        assert time.perf_counter() - started < 2.0
        assert size(result, unit) <= 40_000

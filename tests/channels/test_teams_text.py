"""The Teams channel's reader of the template's markdown: markdown in -> exact
RichTextBlocks and TextRuns out; whatever the teams dialect writes reads back as written."""

from __future__ import annotations

from typing import Any

import pytest

from erralert.channels import DIALECTS
from erralert.channels.teams_text import inline_runs, rich_text_blocks
from tests.samples import HOSTILE

TEAMS = DIALECTS["teams"]
NBSP = "\u00a0"


def run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


BOLD = {"weight": "Bolder"}
ITALIC = {"italic": True}
MONO = {"fontType": "Monospace"}


def block(*runs: dict[str, Any], spaced: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "RichTextBlock", "inlines": list(runs)}
    if not spaced:
        out["spacing"] = "None"
    return out


@pytest.mark.parametrize(
    ("line", "runs"),
    [
        ("plain text", [run("plain text")]),
        ("**Type** x", [run("Type", **BOLD), run(" x")]),
        ("_where_ it is", [run("where", **ITALIC), run(" it is")]),
        ("a `code` b", [run("a "), run("code", **MONO), run(" b")]),
        # any backtick fence length; a shorter or longer run inside is text of the span
        ("``a`b``", [run("a`b", **MONO)]),
        ("```x `` y```", [run("x `` y", **MONO)]),
        # CommonMark strips one space each side when both ends have one
        ("`` `x` ``", [run("`x`", **MONO)]),
        ("` `", [run(" ", **MONO)]),
        # inside a span, a backslash is text
        ("`C:\\Users\\`", [run("C:\\Users\\", **MONO)]),
        # a span in bold, italic in bold
        ("**At `f.py:1`**", [run("At ", **BOLD), run("f.py:1", **BOLD, **MONO)]),
        ("**a _b_ c**", [run("a ", **BOLD), run("b", **BOLD, **ITALIC), run(" c", **BOLD)]),
        # nothing pairs: as written
        ("checkout_failed order_id", [run("checkout_failed order_id")]),
        ("a * b ** c", [run("a * b ** c")]),
        ("**kwargs", [run("**kwargs")]),
        ("`unclosed", [run("`unclosed")]),
        ("*single* __double__ ~~strike~~", [run("*single* __double__ ~~strike~~")]),
        ("[a](http://e) <at>x</at> &amp; # h", [run("[a](http://e) <at>x</at> &amp; # h")]),
        # backslash escapes are consumed; a backslash before anything else is text
        ("\\*\\*x\\*\\* \\_y\\_ \\`z\\`", [run("**x** _y_ `z`")]),
        ("C:\\Users\\app \\n x\\", [run("C:\\Users\\app \\n x\\")]),
        ("\\\\", [run("\\")]),
    ],
)
def test_inline_runs(line: str, runs: list[dict[str, Any]]) -> None:
    assert inline_runs(line) == runs


@pytest.mark.parametrize(
    ("body", "blocks"),
    [
        ("", []),
        ("one", [block(run("one"))]),
        # lines that follow each other sit tight; a blank line leaves the default gap
        ("a\nb\n\nc", [block(run("a")), block(run("b"), spaced=False), block(run("c"))]),
        ("a\n\n\n\nb", [block(run("a")), block(run("b"))]),
        # list items: "- ", "* " and "+ " become bullets
        (
            "x\n- 1\n* 2\n+ **3**",
            [
                block(run("x")),
                block(run("• 1"), spaced=False),
                block(run("• 2"), spaced=False),
                block(run("• "), run("3", **BOLD), spaced=False),
            ],
        ),
        ("1. one", [block(run("1. one"))]),
        # a fenced block: monospace lines, as written, indentation kept as no-break spaces
        (
            "t\n```python\nf.py:1 in g\n    return x ** 2  # `q` _u_\n\n```\nafter",
            [
                block(run("t")),
                block(run("f.py:1 in g", **MONO)),
                block(run(f"{NBSP * 4}return x ** 2  # `q` _u_", **MONO), spaced=False),
                block(run("after")),
            ],
        ),
        ("```\ncode", [block(run("code", **MONO))]),  # an unclosed fence (cut)
        ("~~~\ncode\n~~~", [block(run("code", **MONO))]),
        # a longer fence holds a shorter one; a backtick in the info string is no fence
        ("````\n```\n````", [block(run("```", **MONO))]),
        ("```a```", [block(run("a", **MONO))]),
    ],
)
def test_rich_text_blocks(body: str, blocks: list[dict[str, Any]]) -> None:
    assert rich_text_blocks(body) == blocks


def shown(markup: str) -> str:
    """The text the blocks show, one line per block."""
    return "\n".join("".join(r["text"] for r in b["inlines"]) for b in rich_text_blocks(markup))


def styled(markup: str) -> list[dict[str, Any]]:
    """The runs that are bold, italic or monospace."""
    return [r for b in rich_text_blocks(markup) for r in b["inlines"] if set(r) != {"type", "text"}]


TEXTS = [
    HOSTILE,
    "checkout_failed __init__ **kwargs *args a*b*c _x_ `t` ``u`` \\ \\* \\\\",
    "- item\n+ item\n* item\n~~~\n```\n  - indented\n# h\n> q",
    "_leading and trailing_",
    "C:\\Users\\app\\",
]


@pytest.mark.parametrize("text", TEXTS)
def test_escaped_text_reads_back_as_written(text: str) -> None:
    markup = TEAMS.escape(text)
    lines = [line for line in text.split("\n") if line.strip()]
    assert shown(markup) == "\n".join(lines)
    assert styled(markup) == []


@pytest.mark.parametrize("text", TEXTS)
def test_escaped_text_next_to_the_templates_markup_stays_text(text: str) -> None:
    # the template's own italic and bold around and next to the value pair only with
    # each other
    value = TEAMS.escape(text.replace("\n", " "))
    assert inline_runs(f"_{value}_") == [run(text.replace("\n", " "), **ITALIC)]
    assert inline_runs(f"**x**{value}**y**") == [
        run("x", **BOLD),
        run(text.replace("\n", " ")),
        run("y", **BOLD),
    ]


@pytest.mark.parametrize("text", [*TEXTS, "`", "``", "a`", "`a", " `a` "])
def test_spans_and_blocks_read_back_as_written(text: str) -> None:
    if "\n" not in text:
        assert inline_runs(TEAMS.span(text)) == ([run(text, **MONO)] if text else [])
        pieces = inline_runs("`" + TEAMS.code(text) + "`")
        # |code breaks the span around a backtick; an empty piece is a one-space span
        assert "".join(r["text"] for r in pieces).strip(" ") == text.strip(" ")
    lines = [
        line.replace(" ", NBSP, len(line) - len(line.lstrip(" "))) for line in text.split("\n")
    ]
    assert [b["inlines"] for b in rich_text_blocks(TEAMS.block(text, "python"))] == [
        [run(line.rstrip(), **MONO)] for line in lines if line.strip()
    ]

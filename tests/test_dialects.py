"""Escaping untrusted text for each chat markup dialect."""

from __future__ import annotations

import dataclasses
import html
import re
import time

import pytest

from erralert.dialects import DIALECTS, Dialect

ZWSP = "\u200b"
HOSTILE = "<!channel> @all [x](http://evil.example) ![i](http://e/x.png) <script> # head"
# every markdown block construct, one a line
BLOCKS = "\n".join(
    [
        "# heading",
        "## heading",
        "> quote",
        "- item",
        "+ item",
        "* item",
        "1. one",
        "12) twelve",
        "| a | b |",
        "|---|---|",
        "===",
        "---",
        "```",
        "~~~",
        "[ref]: http://evil.example",
        "    indented code",
        "\tindented code",
        "   # indented heading",
    ]
)


# Discord shows any ASCII punctuation after a backslash as itself
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def visible(dialect: str, text: str) -> str:
    """What a reader sees: entities decoded, invisible characters and look-alikes undone."""
    if dialect in ("mrkdwn", "html"):
        text = html.unescape(text)
    if dialect == "discord":
        text = _BACKSLASH_ESCAPE.sub(r"\1", text)
    text = text.replace(ZWSP, "")
    return text.replace("\u2217", "*").replace("\u223c", "~").replace("\u02cb", "`")


def test_the_registry() -> None:
    assert set(DIALECTS) == {"plain", "mrkdwn", "markdown", "html", "discord"}
    for name, dialect in DIALECTS.items():
        assert isinstance(dialect, Dialect)
        assert dialect.name == name
    with pytest.raises(dataclasses.FrozenInstanceError):
        DIALECTS["plain"].name = "x"  # type: ignore[misc]


# (dialect, substrings that must not remain in the escaped hostile string)
FORBIDDEN = [
    ("mrkdwn", ["<", ">", "<!", "://", "@all"]),
    ("markdown", ["](", "![", "://", "<s", "<!", "@a"]),
    ("html", ["<", ">", "://", "@all"]),
]


@pytest.mark.parametrize(("dialect", "forbidden"), FORBIDDEN)
def test_hostile_text_is_neutralised(dialect: str, forbidden: list[str]) -> None:
    escaped = DIALECTS[dialect].escape(HOSTILE)
    for sequence in forbidden:
        assert sequence not in escaped, (sequence, escaped)
    assert visible(dialect, escaped) == HOSTILE


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_text_reads_the_same(dialect: str) -> None:
    text = (
        HOSTILE + "\n" + BLOCKS + "\na*b*c **bold** _it_ __init__ ~~gone~~ `code` & &amp; www.x.io"
    )
    assert visible(dialect, DIALECTS[dialect].escape(text)) == text


def test_plain_changes_nothing_but_control_characters() -> None:
    plain = DIALECTS["plain"]
    assert plain.escape(HOSTILE) == HOSTILE
    assert plain.escape("a\x00b\x1b[31mred\x07\tc\r\nd\re\x7f\x9b") == "ab[31mred\tc\nd\ne"
    # bidirectional overrides would make a file name read backwards
    assert plain.escape("evil\u202egnp.exe") == "evilgnp.exe"
    assert plain.code("a\x00b") == "ab"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_dialect_strips_control_characters(dialect: str) -> None:
    escaped = DIALECTS[dialect].escape("x\x00\x1b]8;;http\x07y")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", escaped)


def test_mrkdwn_uses_exactly_slacks_three_entities() -> None:
    mrkdwn = DIALECTS["mrkdwn"]
    assert mrkdwn.escape("<!channel> <@U123> <http://x|y> a & b") == (
        "&lt;!channel&gt; &lt;@\u200bU123&gt; &lt;http:\u200b//x|y&gt; a &amp; b"
    )
    # quotes and formatting characters are not Slack control sequences
    assert mrkdwn.escape("'\"*_~") == "'\"*_~"


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@all", "@someone"])
def test_mentions_are_neutralised(word: str) -> None:
    for dialect in ("mrkdwn", "markdown", "html"):
        escaped = DIALECTS[dialect].escape(f"hi {word}!")
        assert word not in escaped
        assert "@" + ZWSP + word[1:] in escaped


@pytest.mark.parametrize("url", ["http://evil.example", "https://e.x/a", "ftp://f", "www.evil.com"])
def test_bare_urls_do_not_autolink(url: str) -> None:
    for dialect in ("mrkdwn", "markdown", "html"):
        escaped = DIALECTS[dialect].escape(f"see {url} now")
        assert url not in escaped
        assert visible(dialect, escaped) == f"see {url} now"


def test_markdown_block_markers_are_broken_at_every_line_start() -> None:
    escaped = DIALECTS["markdown"].escape(BLOCKS)
    for line in escaped.split("\n"):
        # a backtick fence is no fence once its backticks are look-alikes
        assert line.startswith((ZWSP, "\u02cb\u02cb\u02cb")), line


def test_markdown_markers_inside_a_line_are_left_alone() -> None:
    assert DIALECTS["markdown"].escape("a # b - c 1. d") == "a # b - c 1. d"


def test_markdown_emphasis_cannot_form() -> None:
    escaped = DIALECTS["markdown"].escape("a*b*c **bold** ~~s~~ __init__ _x_ `x`")
    # CommonMark does not count U+200B as whitespace, so "*" and "~" are swapped for
    # look-alikes; "_" cannot close emphasis when U+200B follows it; backticks are swapped
    for char in "*~`":
        assert char not in escaped
    assert "__" not in escaped
    assert escaped.count("_" + ZWSP) == 6


def test_markdown_keeps_identifiers_searchable() -> None:
    # an underscore between letters or digits never delimits emphasis in CommonMark
    text = "app.views.checkout_failed order_id x__y v1_2"
    assert DIALECTS["markdown"].escape(text) == text
    assert DIALECTS["markdown"].escape("Foo.__init__ _private") == (
        "Foo._\u200b_\u200binit_\u200b_\u200b _\u200bprivate"
    )


def test_markdown_html_and_entities_are_inert() -> None:
    escaped = DIALECTS["markdown"].escape("<b>x</b> <!-- c --> &amp; &#60;")
    assert not re.search(r"<[A-Za-z/!?]", escaped)
    assert not re.search(r"&[#A-Za-z]", escaped)


def test_html_escapes_entities_and_quotes() -> None:
    assert (
        DIALECTS["html"].escape('<a href="x">&</a>')
        == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
    )


@pytest.mark.parametrize("dialect", ["mrkdwn", "markdown"])
def test_code_cannot_end_a_code_span(dialect: str) -> None:
    code = DIALECTS[dialect].code("a ` b ``` c")
    assert "`" not in code
    assert visible(dialect, code) == "a ` b ``` c"


def test_code_escapes_too() -> None:
    assert DIALECTS["mrkdwn"].code("<!here>") == "&lt;!here&gt;"
    assert DIALECTS["html"].code("<b>") == "&lt;b&gt;"
    assert "](" not in DIALECTS["markdown"].code("[x](y)")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_empty_and_plain_text(dialect: str) -> None:
    assert DIALECTS[dialect].escape("") == ""
    assert DIALECTS[dialect].escape("ValueError: bad input 42") == "ValueError: bad input 42"
    assert DIALECTS[dialect].escape("漢字 émoji 🔥") == "漢字 émoji 🔥"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_escaping_is_linear(dialect: str) -> None:
    text = (HOSTILE + "\n" + BLOCKS + "\n") * 20_000  # ~4 MB
    started = time.perf_counter()
    DIALECTS[dialect].escape(text)
    assert time.perf_counter() - started < 5.0


# -- discord ---------------------------------------------------------------------------------


def unescaped(text: str) -> list[str]:
    """The characters of ``text`` that Discord reads as themselves, not as escaped: a
    backslash takes the punctuation after it out of play."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            i += 2
            continue
        out.append(text[i])
        i += 1
    return out


def test_discord_hostile_text_is_neutralised() -> None:
    escaped = DIALECTS["discord"].escape(HOSTILE)
    for sequence in ["<!", "<@", "<s", "://", "@all"]:
        assert sequence not in escaped, (sequence, escaped)
    assert "[" not in unescaped(escaped)  # no masked link can open
    assert visible("discord", escaped) == HOSTILE


def test_discord_formatting_cannot_form() -> None:
    text = "a*b*c **bold** ***x*** ~~gone~~ ||spoiler|| __under__ _it_ a_b_ c `code`"
    escaped = DIALECTS["discord"].escape(text)
    live = unescaped(escaped)
    for char in "*~|`[":
        assert char not in live, (char, escaped)
    # an "_" Discord could pair is escaped; only a run between ASCII letters/digits is not
    assert escaped.count("_") - escaped.count("\\_") == 1  # the one in a_b
    assert visible("discord", escaped) == text


def test_discord_block_markers_are_escaped_at_every_line_start() -> None:
    escaped = DIALECTS["discord"].escape(BLOCKS + "\n-# subtext\n>>> quote\n1) one")
    for line in escaped.split("\n"):
        assert not re.match(r"[ \t]*(?:[#>+\-*|~\[`]|\d+[.)])", line), line


def test_discord_markers_inside_a_line_are_left_alone() -> None:
    assert DIALECTS["discord"].escape("a # b - c 1. d > e") == "a # b - c 1. d > e"


def test_discord_backslashes_are_kept() -> None:
    discord = DIALECTS["discord"]
    # a Windows path reads as written (U+200B after a backslash would hide the backslash)
    assert discord.escape("C:\\Users\\app") == "C:\\\\Users\\\\app"
    # a trailing backslash cannot escape the template's markup after the value
    assert discord.escape("x\\") == "x\\\\"
    assert unescaped("**" + discord.escape("x\\") + "**").count("*") == 4


def test_discord_keeps_identifiers_searchable() -> None:
    text = "app.views.checkout_failed order_id x__y v1_2 step_5.step_5"
    assert DIALECTS["discord"].escape(text) == text
    # Discord's word boundary is ASCII: "é_x_é" could be emphasis there
    assert DIALECTS["discord"].escape("é_x_é") == "é\\_x\\_é"


def test_discord_code_is_literal_but_inert() -> None:
    code = DIALECTS["discord"].code("a ` b ``` \\n *x* <@123> @here http://evil.example")
    assert "`" not in code
    assert "\\n *x*" in code  # no backslash escapes inside code: they would show
    assert "<@1" not in code
    assert "@here" not in code
    assert "://" not in code
    assert visible("markdown", code) == "a ` b ``` \\n *x* <@123> @here http://evil.example"


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@all", "@someone"])
def test_discord_mentions_are_neutralised(word: str) -> None:
    escaped = DIALECTS["discord"].escape(f"hi {word}!")
    assert word not in escaped
    assert "@" + ZWSP + word[1:] in escaped


@pytest.mark.parametrize("url", ["http://evil.example", "https://e.x/a", "www.evil.com"])
def test_discord_bare_urls_do_not_autolink(url: str) -> None:
    escaped = DIALECTS["discord"].escape(f"see {url} now")
    assert url not in escaped
    assert visible("discord", escaped) == f"see {url} now"

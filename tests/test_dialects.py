"""Untrusted text and code in each platform's markup: code byte for byte, prose escaped with
the platform's own syntax only where a construct could form, nothing invisible and no
look-alike ever.

The oracle for "would this mention, link or format" is the inbox's imitation of each
platform's markup (``erralert.inbox.show.markup_html``), which reads backslash escapes,
character references and code spans the way the platform does. Teams is read by erralert
itself (``erralert.channels.teams_text``), into TextRuns that Teams shows as written: its
oracle is that reader's card, as the inbox shows it."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest

from erralert.channels import DIALECTS, Dialect
from erralert.channels.teams_text import rich_text_blocks
from erralert.inbox import InboxMessage
from erralert.inbox.show import markup_html, render_body
from tests.samples import HOSTILE

PLATFORMS = [
    "slack",
    "discord",
    "teams",
    "googlechat",
    "mattermost",
    "rocketchat",
    "telegram",
    "dingtalk",
    "wecom",
    "feishu",
]
SPANNING = [p for p in PLATFORMS if DIALECTS[p].has_code_spans]
# what a person copies from an alert: ASCII, as Python writes it
CODE_LINES = [
    "return _client.create_charge(amount_cents=int(total * 100), **kwargs)",
    'raise PaymentError(f"card declined for order {order.id}")',
    "if a < b and b > c or x & mask: return ~x ^ y | z",
    "items = [row[0] for row in rows if row and row[0] != '#']",
    "path = r'C:\\Users\\app\\' + '\\\\n'  # a comment with `code` and *stars*",
    "    total = sum(x ** 2 for x in data)  # indented, __dunder__",
    "url = 'https://shop.example/pay/1042?coupon=XMAS&x=1'  # @all ~~strike~~",
    "@app.route('/pay/<int:order>')",
    "- 1. # > | --- === ``` ~~~",
]
PATHS = [
    "shop.billing._stripe_client._StripeClient._post",
    "shop/billing/_stripe_client.py:218",
    "httpx/_client.py",
    "app.views.checkout_failed",
    "Foo.__init__",
    "/srv/shop/checkout/step_5.py",
]
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
NBSP = "\u00a0"


def shown(platform: str, markup: str) -> str:
    """``markup`` as ``platform`` shows it, as HTML. Teams: the channel's reader makes
    RichTextBlocks of it, each shown by the inbox on a line of its own."""
    if platform != "teams":
        return markup_html(platform, markup)
    lines = []
    for block in rich_text_blocks(markup):
        card = {"type": "AdaptiveCard", "body": [block]}
        payload = {"type": "message", "attachments": [{"content": card}]}
        message = InboxMessage(1, 0.0, "teams", "/", "alert", "t", payload, "{}", 202, None)
        lines.append(render_body(message))
    return "<br>".join(lines)


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
        "text",
        "===",
        "---",
        "***",
        "```",
        "~~~",
        "[ref]: http://evil.example",
        "    indented code",
        "-# subtext",
        ">>> quote",
    ]
)
EMPHASIS = "a*b*c **bold** ***x*** _it_ __init__ ~~gone~~ ||spoiler|| `tick` x__y__z"


def test_the_registry() -> None:
    assert set(DIALECTS) == {"plain", *PLATFORMS, "mrkdwn", "markdown", "html"}
    for name, dialect in DIALECTS.items():
        assert isinstance(dialect, Dialect)
        assert dialect.name == name
    with pytest.raises(dataclasses.FrozenInstanceError):
        DIALECTS["plain"].name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("alias", "platform"), [("mrkdwn", "slack"), ("markdown", "dingtalk"), ("html", "telegram")]
)
def test_the_old_names_keep_their_rules(alias: str, platform: str) -> None:
    old, new = DIALECTS[alias], DIALECTS[platform]
    for method in ("escape", "code", "span"):
        assert getattr(old, method)(HOSTILE) == getattr(new, method)(HOSTILE)
    assert (old.has_code_spans, old.has_code_blocks) == (new.has_code_spans, new.has_code_blocks)


@pytest.mark.parametrize(
    ("platform", "spans", "blocks"),
    [
        ("plain", False, False),
        ("slack", True, True),
        ("discord", True, True),
        ("teams", True, True),
        ("googlechat", False, False),
        ("mattermost", True, True),
        ("rocketchat", True, True),
        ("telegram", True, True),
        ("dingtalk", False, False),
        ("wecom", True, False),
        ("feishu", True, True),
    ],
)
def test_what_each_platform_has(platform: str, spans: bool, blocks: bool) -> None:
    assert DIALECTS[platform].has_code_spans is spans
    assert DIALECTS[platform].has_code_blocks is blocks


# -- nothing invisible, no look-alike -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_ascii_in_ascii_out_for_every_method(name: str) -> None:
    """No U+200B and friends, and no look-alike (U+2217, U+223C, U+02CB, U+2039 …): the
    output of ASCII input is ASCII, whatever the method."""
    dialect = DIALECTS[name]
    samples = [HOSTILE, BLOCKS, EMPHASIS, *CODE_LINES, *PATHS, "\n".join(CODE_LINES)]
    for text in samples:
        for shown in (
            dialect.escape(text),
            dialect.code(text),
            dialect.span(text),
            dialect.block(text),
            dialect.block(text, "python"),
        ):
            assert shown.isascii(), (name, text, shown)
            assert not INVISIBLE.search(shown)


# -- code, byte for byte --------------------------------------------------------------------


def _code_contents(shown_html: str) -> list[str]:
    """The texts of the code spans and blocks of rendered markup, as a reader copies them."""
    found = re.findall(
        r"<code>(.*?)</code>|<pre>(?:<code>)?(.*?)(?:</code>)?</pre>", shown_html, re.S
    )
    return [html.unescape(span or block) for span, block in found]


@pytest.mark.parametrize("platform", SPANNING)
@pytest.mark.parametrize("text", CODE_LINES + PATHS)
def test_a_code_span_shows_code_byte_for_byte(platform: str, text: str) -> None:
    span = DIALECTS[platform].span(text)
    if platform == "slack" and "`" in text:
        pytest.skip("mrkdwn code spans cannot hold a backtick (no escape exists)")
    single = platform in ("rocketchat", "wecom", "feishu") and "`" in text
    if single or (platform == "discord" and "```" in text):
        # single-backtick spans only (on Discord, "```" anywhere makes a block): the text
        # is escaped prose instead, which shows it as written
        assert _visible(shown(platform, span)) == text
        return
    assert _code_contents(shown(platform, span)) == [text]
    if platform not in ("slack", "telegram"):  # entities are these platforms' rule in code
        assert text in span  # the raw payload holds the line itself: grep -F finds it


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if DIALECTS[p].has_code_blocks])
def test_a_code_block_shows_code_byte_for_byte(platform: str) -> None:
    text = "\n".join(CODE_LINES)
    block = DIALECTS[platform].block(text, "python")
    if platform == "teams":
        # the channel shows the fence's lines one monospace TextRun each, as written (the
        # indentation as no-break spaces, which the renderer does not collapse)
        assert block.split("\n")[0] == "````python"  # longer than the text's "```"
        indented = [NBSP * (len(t) - len(t.lstrip(" "))) + t.lstrip(" ") for t in text.split("\n")]
        assert _code_contents(shown("teams", block)) == indented
        assert text in block
        return
    if platform in ("slack", "discord", "rocketchat", "feishu"):
        # ``` inside the text: these fences cannot be longer, so one span per line
        assert "```" in text
        assert len(_code_contents(markup_html(platform, block))) >= 1
        return
    assert _code_contents(markup_html(platform, block)) == [text]
    if platform != "telegram":
        assert text in block


@pytest.mark.parametrize("platform", ["slack", "discord", "rocketchat", "feishu", "mattermost"])
def test_a_code_block_without_a_fence_inside_is_one_block(platform: str) -> None:
    text = "\n".join(line for line in CODE_LINES if "```" not in line and "`" not in line)
    block = DIALECTS[platform].block(text, "python")
    assert _code_contents(shown(platform, block)) == [text]


def test_fences_and_spans_grow_past_the_backticks_inside() -> None:
    mattermost = DIALECTS["mattermost"]
    assert mattermost.span("a`b") == "``a`b``"
    assert mattermost.span("`x`") == "`` `x` ``"
    assert mattermost.span(" x ") == "`  x  `"  # CommonMark strips one space each side
    assert mattermost.span("") == ""
    assert mattermost.block("````\nx", "py") == "`````py\n````\nx\n`````"
    assert mattermost.block("x", "not a language") == "```\nx\n```"
    discord = DIALECTS["discord"]
    assert discord.span("`x") == "`` `x``"  # Discord strips a space only next to a backtick
    assert discord.span("x`") == "``x` ``"
    telegram = DIALECTS["telegram"]
    assert telegram.span("a < b") == "<code>a &lt; b</code>"
    assert telegram.block("x", "python") == '<pre><code class="language-python">x</code></pre>'
    assert telegram.block("x", '"><b>') == "<pre>x</pre>"


@pytest.mark.parametrize(
    ("platform", "text", "shown"),
    [
        # a span the platform cannot hold the text in: escaped prose
        ("slack", "a`b", "a`b"),
        ("slack", "a\nb", "a\nb"),
        ("rocketchat", "a`b", "a\\`b"),
        ("wecom", "x <@ops> y", "x &lt;@ops> y"),
        ("feishu", "x <at id=all></at>", "x &lt;at id=all>&lt;/at>"),
        ("mattermost", "a\nb", "a\nb"),
        # no code spans at all
        ("dingtalk", "a*b*c", "a&#42;b&#42;c"),
        ("googlechat", "a < b", "a &lt; b"),
    ],
)
def test_a_span_falls_back_to_escaped_text(platform: str, text: str, shown: str) -> None:
    assert DIALECTS[platform].span(text) == shown


@pytest.mark.parametrize(
    ("platform", "shown"),
    [
        ("slack", "`a`b`"),  # no escape for a backtick in mrkdwn, and no look-alike
        ("discord", "`a`\\``b`"),  # the span closed, an escaped backtick, opened again
        ("mattermost", "`a`\\``b`"),
        ("rocketchat", "`a`\\``b`"),
        ("wecom", "`a`&#96;`b`"),
        ("feishu", "`a`&#96;`b`"),
        ("teams", "`a`\\``b`"),
        ("telegram", "`a`b`"),  # inside <code>, where only entities apply
        ("dingtalk", "`a&#96;b`"),  # no code spans: prose
    ],
)
def test_code_inside_a_template_span_breaks_out_around_a_backtick(
    platform: str, shown: str
) -> None:
    assert "`" + DIALECTS[platform].code("a`b") + "`" == shown


@pytest.mark.parametrize(
    "platform", ["discord", "mattermost", "rocketchat", "wecom", "feishu", "teams"]
)
def test_code_inside_a_template_span_reads_as_written(platform: str) -> None:
    for text in [*CODE_LINES, "`start", "end`", "a``b"]:
        html_shown = shown(platform, "`" + DIALECTS[platform].code(text) + "`")
        # an empty piece before or after a backtick is a span of one space
        assert _visible(html_shown).strip(" ") == text.strip(" "), (text, html_shown)


# -- prose ----------------------------------------------------------------------------------


PROSE = [
    *PATHS[:4],
    "/srv/shop/checkout/step_5.py",
    "checkout_failed order__id v1_2",
    "a * b",
    "def f(*args, **kwargs)",
    "x - y + z # 1. not a list",
    "ValueError: bad input 42",
    "漢字 émoji 🔥",
    "C:\\Users\\app",
]


# Teams is left out: its escapes are consumed by the channel's reader and never reach the
# payload, so it escapes every character the reader could take for markup (below)
@pytest.mark.parametrize(
    "platform", [p for p in PLATFORMS if p not in ("telegram", "googlechat", "teams")]
)
@pytest.mark.parametrize("text", PROSE)
def test_prose_is_escaped_only_where_a_construct_could_form(platform: str, text: str) -> None:
    assert DIALECTS[platform].escape(text) == text


@pytest.mark.parametrize("text", PROSE)
def test_teams_prose_reaches_the_card_as_written(text: str) -> None:
    html_shown = shown("teams", DIALECTS["teams"].escape(text))
    assert _visible(html_shown) == text
    assert not re.search(r"<(b|i|code)>", html_shown)


ESCAPED = {
    "slack": [
        "see `http://evil.example` and @all",
        "**kwargs and a * b",
        "`*x*` `_y_` ~~z~~",
        "[a](`http://e)` &lt;b&gt;x&lt;/b&gt; &amp;amp;",
        "# h\n&gt; q\n- i\n1. o",
        "x\\",
    ],
    "discord": [
        "see http\\://evil.example and @all",
        "**kwargs and a * b",
        "\\*x\\* \\_y\\_ \\~\\~z\\~\\~",
        "\\[a](http\\://e) \\<b>x\\</b> &amp;",
        "\\# h\n\\> q\n\\- i\n1\\. o",
        "x\\\\",
    ],
    # every character the channel's reader takes for markup, wherever it is
    "teams": [
        "see http://evil.example and @all",
        "\\*\\*kwargs and a \\* b",
        "\\*x\\* \\_y\\_ ~~z~~",
        "[a](http://e) <b>x</b> &amp;",
        "# h\n> q\n\\- i\n1. o",
        "x\\\\",
    ],
    "googlechat": [
        "see http&#58;//evil.example and @all",
        "**kwargs and a * b",
        "*x* _y_ ~~z~~",
        "[a](http&#58;//e) &lt;b&gt;x&lt;/b&gt; &amp;amp;",
        "# h\n&gt; q\n- i\n1. o",
        "x\\",
    ],
    "mattermost": [
        "see `http://evil.example` and `@all`",
        "**kwargs and a * b",
        "\\*x\\* \\_y\\_ \\~\\~z\\~\\~",
        "\\[a](`http://e)` &lt;b>x&lt;/b> &amp;amp;",
        "\\# h\n\\> q\n\\- i\n1\\. o",
        "x\\\\",
    ],
    "rocketchat": [
        "see `http://evil.example` and `@all`",
        "**kwargs and a * b",
        "\\*x\\* \\_y\\_ \\~\\~z\\~\\~",
        "`[a](http://e)` <b>x</b> &amp;",
        "\\# h\n`>` q\n`-` i\n1\\. o",
        "x`\\`",
    ],
    "telegram": [
        "see <code>http://evil.example</code> and <code>@all</code>",
        "**kwargs and a * b",
        "*x* _y_ ~~z~~",
        "[a](<code>http://e)</code> &lt;b&gt;x&lt;/b&gt; &amp;amp;",
        "# h\n&gt; q\n- i\n1. o",
        "x\\",
    ],
    "dingtalk": [
        "see http&#58;//evil.example and @all",
        "**kwargs and a * b",
        "&#42;x&#42; &#95;y&#95; &#126;&#126;z&#126;&#126;",
        "&#91;a](http&#58;//e) &lt;b>x&lt;/b> &amp;amp;",
        "&#35; h\n&gt; q\n&#45; i\n1&#46; o",
        "x&#92;",
    ],
    "wecom": [
        "see `http://evil.example` and @all",
        "**kwargs and a * b",
        "&#42;x&#42; &#95;y&#95; &#126;&#126;z&#126;&#126;",
        "&#91;a](`http://e)` &lt;b>x&lt;/b> &amp;amp;",
        "&#35; h\n&gt; q\n&#45; i\n1&#46; o",
        "x&#92;",
    ],
    "plain": [
        "see http://evil.example and @all",
        "**kwargs and a * b",
        "*x* _y_ ~~z~~",
        "[a](http://e) <b>x</b> &amp;",
        "# h\n> q\n- i\n1. o",
        "x\\",
    ],
}
ESCAPED["feishu"] = ESCAPED["wecom"]
ESCAPE_INPUTS = [
    "see http://evil.example and @all",
    "**kwargs and a * b",
    "*x* _y_ ~~z~~",
    "[a](http://e) <b>x</b> &amp;",
    "# h\n> q\n- i\n1. o",
    "x\\",
]


@pytest.mark.parametrize("platform", sorted(ESCAPED))
def test_escaped_prose_exactly(platform: str) -> None:
    assert [DIALECTS[platform].escape(t) for t in ESCAPE_INPUTS] == ESCAPED[platform]


def _visible(shown_html: str) -> str:
    """What a reader sees of rendered markup: tags dropped, entities decoded."""
    text = re.sub(r"<br>", "\n", shown_html)
    text = re.sub(r"</p><p>|</li><li>", "\n", text)
    return html.unescape(re.sub(r"<[^>]*>", "", text))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_hostile_text_forms_no_mention_link_or_markup(platform: str) -> None:
    html_shown = shown(platform, DIALECTS[platform].escape(HOSTILE))
    assert 'class="mention"' not in html_shown
    assert "<a " not in html_shown
    if platform == "slack":
        # mrkdwn has no escape for a backtick: `tick` stays code (inert, but formatted)
        assert set(re.findall(r"<(\w+)", html_shown)) == {"code"}
        return
    assert not re.search(r"<(b|i|s|u|blockquote|li|h\d|div class=\"h)\b", html_shown), html_shown
    assert _visible(html_shown) == HOSTILE


@pytest.mark.parametrize(
    "platform", [p for p in PLATFORMS if p not in ("telegram", "googlechat", "slack")]
)
def test_block_markers_cannot_form(platform: str) -> None:
    html_shown = shown(platform, DIALECTS[platform].escape(BLOCKS))
    assert not re.search(r"<(ul|ol|blockquote|hr|pre|div class=\"h)", html_shown), html_shown
    assert _visible(html_shown).replace("\n", "") == BLOCKS.replace("\n", "")


@pytest.mark.parametrize(
    "platform", [p for p in PLATFORMS if p not in ("telegram", "googlechat", "slack")]
)
def test_emphasis_cannot_form(platform: str) -> None:
    html_shown = shown(platform, DIALECTS[platform].escape(EMPHASIS))
    assert not re.search(r"<(b|i|s|code|span class=\"spoiler)\b", html_shown), html_shown
    assert _visible(html_shown) == EMPHASIS


def test_slack_shows_formatting_pairs_and_links_as_code() -> None:
    slack = DIALECTS["slack"]
    assert slack.escape("a *b* c x_y_z") == "a `*b*` c x_y_z"
    assert slack.escape("<!channel> <@U123> <http://x|y> a & b") == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;`http://x|y`&gt; a &amp; b"
    )
    assert slack.escape("'\"*_~") == "'\"*_~"  # nothing that pairs: as written
    assert slack.code("<!here>") == "&lt;!here&gt;"  # the three entities, code included


def test_mentions_become_code_where_nothing_escapes_them() -> None:
    assert DIALECTS["mattermost"].escape("hi @channel!") == "hi `@channel`!"
    assert DIALECTS["rocketchat"].escape("hi @here.") == "hi `@here.`"
    assert DIALECTS["telegram"].escape("hi @someone") == "hi <code>@someone</code>"
    # a mail address is not a mention
    assert DIALECTS["mattermost"].escape("a@b.io") == "`a@b.io`"
    # DingTalk mentions only through its "at" field: "@all" in text names nobody
    assert DIALECTS["dingtalk"].escape("hi @all") == "hi @all"
    # Discord never pings (allowed_mentions), and shows @everyone as text when escaped
    assert DIALECTS["discord"].escape("hi @everyone @here @bob") == "hi \\@everyone \\@here @bob"


def test_discord_keeps_identifiers_and_windows_paths() -> None:
    discord = DIALECTS["discord"]
    assert discord.escape("C:\\Users\\app") == "C:\\Users\\app"
    assert discord.escape("x\\") == "x\\\\"  # cannot escape the template's markup after it
    assert discord.escape("é_x_é") == "é\\_x\\_é"  # JavaScript's \\b is ASCII
    assert discord.escape("order__id and x__y") == "order\\_\\_id and x\\_\\_y"  # underline


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_every_method_strips_control_characters(name: str) -> None:
    dialect = DIALECTS[name]
    for shown in (
        dialect.escape("x\x00\x1b]8;;http\x07y\u202e"),
        dialect.code("x\x00\x1b[2Jy\u202e"),
        dialect.span("x\x00\x1b[2Jy"),
        dialect.block("x\x00\x1b[2Jy\r\nz"),
    ):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", shown)


def test_plain_changes_nothing_but_control_characters() -> None:
    plain = DIALECTS["plain"]
    assert plain.escape(HOSTILE) == HOSTILE
    assert plain.escape("a\x00b\x1b[31mred\x07\tc\r\nd\re\x7f\x9b") == "ab[31mred\tc\nd\ne"
    assert plain.escape("evil\u202egnp.exe") == "evilgnp.exe"
    assert plain.code("a\x00b") == plain.span("a\x00b") == plain.block("a\x00b") == "ab"


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_empty_and_plain_text(name: str) -> None:
    dialect = DIALECTS[name]
    assert dialect.escape("") == ""
    assert dialect.span("") == ""
    assert dialect.escape("ValueError: bad input 42") == "ValueError: bad input 42"
    assert dialect.escape("漢字 émoji 🔥") == "漢字 émoji 🔥"


@pytest.mark.parametrize("name", sorted(DIALECTS))
@pytest.mark.slow
@pytest.mark.timeout(10)  # a hang guard, not a speed target (those live in benchmarks/)
def test_escaping_is_linear(name: str) -> None:
    # ~400 KB: linear work takes a fraction of a second; a quadratic step in any rule
    # (10**11 character steps) would not end within the timeout
    text = (HOSTILE + "\n" + BLOCKS + "\n" + EMPHASIS + "\n") * 2_000
    DIALECTS[name].escape(text)
    DIALECTS[name].block(text)


@pytest.mark.parametrize("platform", ["mattermost", "rocketchat", "telegram"])
def test_mentions_run_together_are_one_code_span(platform: str) -> None:
    """ "@all@all": were the first "@all" alone in a code span, the second would follow a
    backtick (not a word) and ring (found by the property test)."""
    escaped = DIALECTS[platform].escape("x @all@all @here@@y")
    shown = markup_html(platform, escaped)
    assert 'class="mention"' not in shown
    assert "@all@all" in shown
    assert "@here@@y" in shown


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("text", ["\\@all", "\\\\@all", "x \\@here y", "\\@channel\\", "\\<!here>"])
def test_a_backslash_before_a_mention_does_not_free_it(platform: str, text: str) -> None:
    # the mention is shown as a code span: a backslash in the value right before it must
    # not escape the span's opening backtick (found by the property test's "\\@all")
    shown = markup_html(platform, DIALECTS[platform].escape(text))
    assert 'class="mention"' not in shown
    assert "\\" in html.unescape(re.sub("<[^>]+>", "", shown))  # and the backslash is shown

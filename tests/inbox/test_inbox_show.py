"""Rendering: untrusted payloads render inert; mentions show as chips; the markups of the
platforms become the right HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from erralert.inbox import InboxMessage
from erralert.inbox.show import card_html, markup_html, render_body


def message(platform: str, payload: object, *, error: str | None = None) -> InboxMessage:
    return InboxMessage(1, 0.0, platform, "/p", "alert", "t", payload, "{}", 200, error)


HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3)) "
    '<a href="javascript:alert(4)">y</a> <javascript:alert(5)|z>'
)

PAYLOADS = {
    "slack": {
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": HOSTILE}},
            {"type": "section", "text": {"type": "mrkdwn", "text": HOSTILE}},
        ],
        "attachments": [{"color": "red;background:url(x)", "text": HOSTILE}],
    },
    "discord": {
        "content": HOSTILE,
        "embeds": [{"title": HOSTILE, "description": HOSTILE, "color": 1}],
    },
    "teams": {
        "type": "message",
        "attachments": [
            {
                "content": {
                    "body": [{"type": "TextBlock", "text": HOSTILE, "color": 'x" onclick="y'}]
                }
            }
        ],
    },
    "googlechat": {
        "text": HOSTILE,
        "cardsV2": [
            {
                "card": {
                    "header": {"title": HOSTILE},
                    "sections": [{"widgets": [{"textParagraph": {"text": HOSTILE}}]}],
                }
            }
        ],
    },
    "mattermost": {"text": HOSTILE, "attachments": [{"text": HOSTILE, "color": '#123456"x'}]},
    "rocketchat": {
        "text": HOSTILE,
        "attachments": [{"title": HOSTILE, "title_link": "javascript:x"}],
    },
    "telegram": {"text": HOSTILE, "parse_mode": "HTML"},
    "dingtalk": {"msgtype": "markdown", "markdown": {"title": HOSTILE, "text": HOSTILE}},
    "wecom": {
        "msgtype": "markdown",
        "markdown": {"content": f'<font color="x onmouseover=y">{HOSTILE}</font>'},
    },
    "feishu": {
        "msg_type": "interactive",
        "card": {
            "header": {"title": {"content": HOSTILE}, "template": 'red"x'},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": HOSTILE}}],
        },
    },
    "webhook": {"kind": "alert", "title": HOSTILE, "text": HOSTILE, "event": {"culprit": HOSTILE}},
}


class Tags(HTMLParser):
    """Every element and attribute of an HTML fragment, as a browser would parse it."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


ALLOWED_TAGS = {
    "a", "article", "b", "blockquote", "br", "code", "details", "div", "header", "hr", "i",
    "li", "ol", "p", "pre", "s", "span", "summary", "table", "td", "th", "time", "tr", "u",
    "ul",
}  # fmt: skip


@pytest.mark.parametrize("platform", sorted(PAYLOADS))
def test_hostile_payload_renders_inert(platform: str) -> None:
    parser = Tags()
    parser.feed(card_html(message(platform, PAYLOADS[platform], error=HOSTILE)))
    assert parser.found
    for tag, attrs in parser.found:
        assert tag in ALLOWED_TAGS, tag  # no script, img, iframe …: only the renderer's own
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name in {
                "class",
                "href",
                "rel",
                "target",
                "style",
                "data-id",
                "data-platform",
                "datetime",
            }
            if name == "href":
                assert value is not None
                assert value.startswith(("http://", "https://")), value
            if name == "style":
                assert value is not None
                assert re.fullmatch(r"(border-left-)?color:#[0-9a-f]{6}", value), value
            if name == "rel":
                assert value == "noopener noreferrer nofollow"


def test_links_are_http_only_and_noopener() -> None:
    html = render_body(
        message("slack", {"text": "<https://example.com/a?b=1&amp;c=2|site> <ftp://x|f>"})
    )
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow" '
        'target="_blank">site</a>' in html
    )
    assert 'href="ftp' not in html
    assert ">site</a> f<" in html
    markdown = render_body(
        message("mattermost", {"text": "[ok](https://e.com) [no](data:text/html,x)"})
    )
    assert 'href="https://e.com"' in markdown
    assert 'href="data' not in markdown


@pytest.mark.parametrize(
    ("platform", "payload", "chips"),
    [
        (
            "slack",
            {"text": "<!channel> <@U123> <!subteam^S1|oncall>"},
            ["@channel", "@U123", "@oncall"],
        ),
        (
            "dingtalk",
            {
                "msgtype": "text",
                "text": {"content": "x"},
                "at": {"atMobiles": ["138"], "isAtAll": True},
            },
            ["@all", "@138"],
        ),
        ("discord", {"content": "<@42> @everyone", "allowed_mentions": {"parse": []}}, []),
        (
            "discord",
            {
                "content": "<@42> @everyone",
                "allowed_mentions": {"parse": ["everyone"], "users": ["42"]},
            },
            ["@42", "@everyone"],
        ),
        (
            "feishu",
            {
                "msg_type": "interactive",
                "card": {
                    "elements": [
                        {"tag": "div", "text": {"tag": "lark_md", "content": "<at id=all></at> hi"}}
                    ]
                },
            },
            ["@all"],
        ),
        (
            "wecom",
            {"msgtype": "markdown", "markdown": {"content": "<@zhangsan> hi"}},
            ["@zhangsan"],
        ),
        ("mattermost", {"text": "@channel and @\u200ball and a@b.c"}, ["@channel"]),
        ("googlechat", {"text": "<users/all> <users/123>"}, ["@all", "@123"]),
        ("telegram", {"text": '<a href="tg://user?id=1">Ann</a>', "parse_mode": "HTML"}, ["@Ann"]),
        (
            "teams",
            {
                "type": "message",
                "attachments": [
                    {
                        "content": {
                            "body": [{"type": "TextBlock", "text": "<at>Ann</at> <at>Bob</at>"}],
                            "msteams": {
                                "entities": [
                                    {
                                        "type": "mention",
                                        "text": "<at>Ann</at>",
                                        "mentioned": {"id": "a@x.com", "name": "Ann"},
                                    }
                                ]
                            },
                        }
                    }
                ],
            },
            ["@Ann"],
        ),
    ],
)
def test_mentions_are_chips(platform: str, payload: dict[str, object], chips: list[str]) -> None:
    html = render_body(message(platform, payload))
    if '<div class="pings">' in html:  # who is pinged, apart from how the text shows it
        html = html.split('<div class="pings">', 1)[1]
    found = re.findall(r'<span class="mention">(.*?)</span>', html)
    assert [re.sub(r"<[^>]+>", "", f) for f in found] == chips


def test_discord_says_nobody_is_pinged() -> None:
    html = render_body(
        message("discord", {"content": "@everyone", "allowed_mentions": {"parse": []}})
    )
    assert "nobody (allowed_mentions)" in html


def test_markups() -> None:
    slack = render_body(message("slack", {"text": "*b* _i_ ~s~ `c` ```pre\nx``` a &lt;b&gt;"}))
    assert "<b>b</b> <i>i</i> <s>s</s> <code>c</code> <pre>pre\nx</pre> a &lt;b&gt;" in slack
    md = render_body(
        message(
            "mattermost",
            {"text": "### Head\n**b** *i* ~~s~~\n> q\n- one\n- two\n```\ncode <x>\n```"},
        )
    )
    assert '<div class="h h5">Head</div>' in md
    assert "<b>b</b> <i>i</i> <s>s</s>" in md
    assert "<blockquote><p>q</p></blockquote>" in md
    assert "<ul><li>one</li><li>two</li></ul>" in md
    assert "<pre>code &lt;x&gt;</pre>" in md
    # DingTalk decodes character references, erralert's escape there: text, not markup
    dingtalk = render_body(
        message(
            "dingtalk",
            {"msgtype": "markdown", "markdown": {"title": "t", "text": "&#95;&#95;main&#95;&#95;"}},
        )
    )
    assert "<p>__main__</p>" in dingtalk
    rocket = render_body(message("rocketchat", {"text": "*bold*"}))
    assert "<b>bold</b>" in rocket
    telegram = render_body(
        message(
            "telegram",
            {
                "text": "<b>b</b> <tg-spoiler>s</tg-spoiler> <pre>p</pre> &lt;3",
                "parse_mode": "HTML",
            },
        )
    )
    assert '<b>b</b> <span class="spoiler">s</span> <pre>p</pre> &lt;3' in telegram
    wecom = render_body(
        message(
            "wecom",
            {"msgtype": "markdown", "markdown": {"content": '<font color="warning">w</font>'}},
        )
    )
    assert '<span style="color:#ecb22e">w</span>' in wecom
    chat = render_body(
        message(
            "googlechat",
            {
                "cardsV2": [
                    {
                        "card": {
                            "sections": [
                                {
                                    "widgets": [
                                        {
                                            "decoratedText": {
                                                "topLabel": "top",
                                                "text": "<b>t</b><br>x",
                                            }
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                ]
            },
        )
    )
    assert "<b>t</b><br>x" in chat


def test_refusal_and_unknown_shapes() -> None:
    card = card_html(message("slack", {"text": "x"}, error="invalid_blocks: header too long"))
    assert "is-refused" in card
    assert "invalid_blocks: header too long" in card
    odd = render_body(message("slack", {"blocks": "not a list", "attachments": [1, 2]}))
    assert "<script" not in odd
    raw = render_body(
        InboxMessage(1, 0.0, "unknown", "/x", None, "", None, "<b>raw</b>", 404, "no")
    )
    assert "&lt;b&gt;raw&lt;/b&gt;" in raw


@pytest.mark.parametrize(
    ("platform", "text", "shown"),
    [
        # backslash escapes as each platform honours them
        ("mattermost", r"\*\*x\*\* a\_b \`t\` \[l](u) \#", "<p>**x** a_b `t` [l](u) #</p>"),
        # not in marked's list: the backslash shows, and @all still notifies
        ("mattermost", r"\@all \:", r'<p>\<span class="mention">@all</span> \:</p>'),
        ("rocketchat", r"\*b\* \[x\]", r"<p>*b* \[x\]</p>"),
        # character references where the platform decodes them, and only there
        ("mattermost", "&lt;b&gt; &#42;x&#42;", "<p>&lt;b&gt; *x*</p>"),
        ("rocketchat", "&#42;x&#42;", "<p>&amp;#42;x&amp;#42;</p>"),
        # code spans: any number of backticks where CommonMark's rule applies
        ("mattermost", "``a`b`` `` `x ``", "<p><code>a`b</code> <code>`x</code></p>"),
        ("rocketchat", "``a`` `b`", "<p>``a`` <code>b</code></p>"),
        ("dingtalk", "`a`", "<p>`a`</p>"),
        # fences longer than any run inside
        ("mattermost", "````py\n```\nx\n````", "<pre>```\nx</pre>"),
        # bare links are links, unless broken
        ("mattermost", "see http://e.com", 'see <a href="http://e.com"'),
        ("dingtalk", "see http&#58;//e.com", "<p>see http://e.com</p>"),
        ("discord", r"see https\://e.com", "<p>see https://e.com</p>"),
        ("mattermost", "`http://e.com` `@all`", "<p><code>http://e.com</code> <code>@all</code>"),
    ],
)
def test_markdown_flavours(platform: str, text: str, shown: str) -> None:
    payloads: dict[str, dict[str, object]] = {
        "mattermost": {"text": text},
        "rocketchat": {"text": text},
        "discord": {"content": text, "allowed_mentions": {"parse": []}},
        "dingtalk": {"msgtype": "markdown", "markdown": {"title": "t", "text": text}},
    }
    assert shown in render_body(message(platform, payloads[platform]))


def test_telegram_finds_links_and_mentions_outside_code_only() -> None:
    html = render_body(
        message(
            "telegram",
            {
                "text": "@ann http://e.com <code>@bob https://f.com</code> <pre>@cy</pre>",
                "parse_mode": "HTML",
            },
        )
    )
    assert html.count('class="mention"') == 1
    assert html.count("<a ") == 1
    assert "<code>@bob https://f.com</code>" in html


def test_feishu_rich_text_element() -> None:
    card = {
        "msg_type": "interactive",
        "card": {
            "elements": [{"tag": "markdown", "content": "`a*b*` &#42;x&#42;\n```py\nreturn 1\n```"}]
        },
    }
    html = render_body(message("feishu", card))
    assert "<code>a*b*</code> *x*" in html
    assert "<pre>return 1</pre>" in html


@pytest.mark.parametrize(
    ("platform", "text", "shown"),
    [
        # a code span opening inside an emphasis or a link and closing after it wins (6.1)
        ("mattermost", "*a `b* c`", "<p>*a <code>b* c</code></p>"),
        ("mattermost", "[x](`y)` z", "<p>[x](<code>y)</code> z</p>"),
        ("mattermost", "*a* `b` **c**", "<p><i>a</i> <code>b</code> <b>c</b></p>"),
        # Discord links URLs with a scheme only, never a bare www. name
        ("discord", "see www.example.com", "<p>see www.example.com</p>"),
        ("mattermost", "see www.example.com", None),
    ],
)
def test_the_markdown_reader_follows_each_platform(
    platform: str, text: str, shown: str | None
) -> None:
    html = markup_html(platform, text)
    if shown is None:
        assert '<a href="http://www.example.com"' in html
    else:
        assert html == shown


@pytest.mark.parametrize(
    ("platform", "text"),
    [("slack", "a\n```\ncode\n```\nb"), ("telegram", "a\n<pre>code</pre>\nb")],
)
def test_a_code_block_breaks_the_lines_around_it_itself(platform: str, text: str) -> None:
    """The line breaks next to a block are not blank lines around it, as in the apps."""
    assert markup_html(platform, text) == "a<pre>code</pre>b"

# ruff: noqa: RUF001  (the full-width punctuation of Chinese text, on purpose)
"""The line of a digest that says where its repeats came from ("from 3 hosts (8
processes) · releases 1.4.2, 1.4.3"), on every platform: said only when it adds something,
worded for each case, and release names shown as written — markup in them stays text."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from erralert._render.renderer import Renderer
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.inbox.show import markup_html
from tests import samples
from tests.channels.conformance import assert_inert, payload, render, strings
from tests.channels.test_conformance import READERS
from tests.channels.test_golden import SAMPLE_URLS
from tests.channels.test_teams import card, run_texts

PLATFORMS_SENT = [p for p, channel in sorted(PLATFORMS.items()) if not channel.local]
HOSTILE_RELEASES = ("1.4.3_*rc*", "[x](http://evil.example)", "<!channel> @all")
_TAG = re.compile(r"<[^>]+>")


def _sent(platform: str, **origins: Any) -> Any:
    request = render(parse_webhook(SAMPLE_URLS[platform]), notice=samples.fleet_digest(**origins))
    return payload(request)


def _shown(platform: str, **origins: Any) -> str:
    """The text a person reads: the strings the platform parses as markup, rendered as it
    does (the inbox's imitation), tags dropped; the generic webhook's plain text as is."""
    body = _sent(platform, **origins)
    if platform not in READERS:
        return str(body["text"])
    shown = [markup_html(platform, s) for s in READERS[platform].parsed(body)]
    if platform == "teams":  # the lines of a card are text runs, shown as they are
        shown += [html.escape(run) for run in run_texts(card(body))]
    return html.unescape(_TAG.sub("", "\n".join(shown)))


@pytest.mark.parametrize("platform", PLATFORMS_SENT)
def test_the_line_says_hosts_processes_and_releases(platform: str) -> None:
    assert "from 3 hosts (8 processes) · releases 1.4.2, 1.4.3, hotfix_*2*" in _shown(platform)


@pytest.mark.parametrize("platform", PLATFORMS_SENT)
def test_release_names_reach_chat_as_written_and_inert(platform: str) -> None:
    if platform in READERS:
        body = _sent(platform, releases=HOSTILE_RELEASES)
        assert_inert(READERS[platform].parsed(body), platform)
    line = "releases 1.4.3_*rc*, [x](http://evil.example), <!channel> @all"
    assert line in _shown(platform, releases=HOSTILE_RELEASES)


def _line(platform: str, **origins: Any) -> str | None:
    """The line that says where the repeats came from, as shown; None without one."""
    for line in _shown(platform, **origins).splitlines():
        line = line.strip().removeprefix("- ").removeprefix("> ")
        if line.startswith(("from ", "releases ")):
            return line
    return None


@pytest.mark.parametrize(
    ("origins", "line"),
    [
        (
            {"hosts": 1, "processes": 4, "releases": ("1.4.3",)},
            "from 4 processes on one host · release 1.4.3",
        ),
        ({"hosts": 3, "processes": 3, "releases": ()}, "from 3 hosts"),
        ({"hosts": 1, "processes": 1, "releases": ("1.4.2", "1.4.3")}, "releases 1.4.2, 1.4.3"),
        # processes unknown (a caller that named none), releases known
        ({"hosts": 0, "processes": 0, "releases": ("1.4.2", "1.4.3")}, "releases 1.4.2, 1.4.3"),
        (
            {
                "hosts": 12,
                "processes": 64,
                "more_processes": True,
                "releases": tuple(f"1.{n}.0" for n in range(8)),
                "more_releases": True,
            },
            "from 12 hosts (64+ processes) · releases 1.0.0, 1.1.0, 1.2.0 and 5+ more",
        ),
        (
            {"hosts": 64, "processes": 64, "more_hosts": True, "more_processes": True},
            "from 64+ hosts · releases 1.4.2, 1.4.3, hotfix_*2*",
        ),
        # the release the sample alert was raised under: not repeated
        (
            {"hosts": 2, "processes": 5, "releases": (samples.event().release,)},
            "from 2 hosts (5 processes)",
        ),
        # another commit, as a reader takes it in: its first 12 digits
        (
            {"hosts": 2, "processes": 2, "releases": ("0" * 40,)},
            "from 2 hosts · release 000000000000",
        ),
    ],
)
def test_the_line_is_worded_for_each_case(origins: dict[str, Any], line: str) -> None:
    assert _line("slack", **origins) == line
    assert _line("telegram", **origins) == line


@pytest.mark.parametrize("platform", PLATFORMS_SENT)
@pytest.mark.parametrize(
    "origins",
    [
        {"hosts": 1, "processes": 1, "releases": ("1.4.3",)},  # one process: nothing new
        {"hosts": 0, "processes": 0, "releases": ()},  # unknown: an earlier version's state
        {"hosts": 1, "processes": 1, "releases": ()},
    ],
)
def test_one_process_and_one_release_add_no_line(platform: str, origins: dict[str, Any]) -> None:
    one = _sent(platform, **origins)
    plain = payload(render(parse_webhook(SAMPLE_URLS[platform]), "digest"))
    if platform == "webhook":  # the document says what is known: the text says nothing new
        assert one["occurrences"].pop("processes", 0) == origins["processes"]
        assert (one["text"], one["title"]) == (plain["text"], plain["title"])
    else:
        assert one == plain


def test_alerts_never_carry_the_line() -> None:
    notice = samples.fleet_digest()
    alert = notice.__class__(
        "alert", notice.event, notice.occurrences, created_at=notice.created_at
    )
    request = render(parse_webhook(SAMPLE_URLS["slack"]), notice=alert)
    assert "hosts" not in request.content.decode()


@pytest.mark.parametrize("platform", ["dingtalk", "wecom", "feishu", "slack"])
def test_the_line_in_chinese(platform: str) -> None:
    renderer = Renderer(locale="zh")
    notice = samples.fleet_digest(releases=("1.4.2", "1.4.3"))
    request = render(parse_webhook(SAMPLE_URLS[platform]), notice=notice, renderer=renderer)
    assert any(
        "来自 3 台主机（8 个进程） · 版本 1.4.2、1.4.3" in s for s in strings(payload(request))
    )

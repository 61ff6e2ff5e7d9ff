"""A template written for an earlier erralert still renders (issue 15, scope 9): the
defaults of erralert 0.1.0 (``tests/templates_v0/``), used as a ``template_dir``, render
every kind of message on top of today's ``_base.j2`` without falling back, and show what
they showed."""

from __future__ import annotations

from pathlib import Path

import pytest

from erralert._core.notice import Kind
from erralert._render.renderer import Renderer
from erralert.channels.registry import parse_webhook
from erralert.cli.sample import KINDS, sample_event, sample_notices
from tests.channels.test_golden import SAMPLE_URLS

OLD = Path(__file__).resolve().parent / "templates_v0"
NOW = 1795717201.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("platform", "locale"),
    [("slack", "en"), ("dingtalk", "en"), ("telegram", "en"), ("feishu", "en"), ("dingtalk", "zh")],
)
def test_a_template_of_the_earlier_context_still_renders(
    platform: str, locale: str, kind: Kind
) -> None:
    renderer = Renderer(OLD, locale=locale)
    assert renderer.template_for(parse_webhook(SAMPLE_URLS[platform])) == (
        f"zh/{platform}.j2" if locale == "zh" else f"{platform}.j2"
    )
    notice = sample_notices(sample_event(NOW))[kind]
    message = renderer.render(notice, parse_webhook(SAMPLE_URLS[platform]))
    assert message.template_error is None
    if kind == "storm":
        assert "OperationalError: could not connect to server" in message.body
    else:
        assert "Gateway._raise_for" in message.body
    if kind == "alert":  # the old layout: the innermost frames, as it listed them
        assert "self._raise_for(answer)" in message.body
        assert ("First time" if locale == "en" else "首次出现") in message.body

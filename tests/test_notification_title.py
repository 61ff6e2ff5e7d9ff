"""Where, first thing on a lock screen (issue 15, acceptance 3): the field each platform
shows in its push notification carries the service and the environment, for alerts,
digests and storm summaries alike — and, for a digest, the message's first line, not only
the exception's type. The README's table of these fields is this table."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from erralert._core.notice import Kind
from erralert._render.renderer import Renderer
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.cli.sample import KINDS, sample_event, sample_notices
from tests.channels.test_golden import SAMPLE_URLS

NOW = 1795717201.0


def _dingtalk(body: dict[str, Any]) -> str:
    message = body.get("markdown") or body["actionCard"]  # an actionCard carries links
    return str(message["title"])


# platform -> the field its notification shows
NOTIFICATION: dict[str, Callable[[dict[str, Any]], str]] = {
    "slack": lambda b: b["text"],
    "discord": lambda b: b["embeds"][0]["title"],
    "teams": lambda b: b["attachments"][0]["content"]["body"][0]["inlines"][0]["text"],
    "googlechat": lambda b: b["fallbackText"],
    "mattermost": lambda b: b["text"],
    "rocketchat": lambda b: b["text"],
    "telegram": lambda b: b["text"].split("\n")[0],
    "dingtalk": _dingtalk,
    "wecom": lambda b: b["markdown"]["content"].split("\n")[0],
    "feishu": lambda b: b["card"]["header"]["title"]["content"],
    "lark": lambda b: b["card"]["header"]["title"]["content"],
    "webhook": lambda b: b["title"],
}


def test_every_platform_is_listed() -> None:
    assert set(NOTIFICATION) == {p for p, channel in PLATFORMS.items() if not channel.local}


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("platform", sorted(NOTIFICATION))
def test_the_notification_says_where(platform: str, kind: Kind, locale: str) -> None:
    notice = sample_notices(sample_event(NOW))[kind]
    channel = parse_webhook(SAMPLE_URLS[platform])
    message = Renderer(locale=locale).render(notice, channel)
    body = json.loads(channel.build_request(message, NOW).content)
    shown = NOTIFICATION[platform](body)
    assert "[checkout·prod·1.4.3]" in shown, shown
    if kind == "digest":  # the message, not only the type: which PaymentDeclined?
        assert "PaymentDeclined: card declined for order 1042" in shown, shown


@pytest.mark.parametrize(
    ("service", "environment", "release", "scope"),
    [
        ("checkout", "production", "1.4.3", "[checkout·prod·1.4.3] "),
        ("checkout", "staging", None, "[checkout·staging] "),
        ("checkout", "development", "3f2a9c1b7d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a", "[checkout·dev] "),
        (None, "production", None, "[prod] "),
        (None, None, None, ""),
    ],
)
def test_the_scope_reads_well_on_a_lock_screen(
    service: str | None, environment: str | None, release: str | None, scope: str
) -> None:
    """Production and staging never look the same; a commit hash stays out of the title."""
    event = dataclasses.replace(
        sample_event(NOW), service=service, environment=environment, release=release
    )
    notice = sample_notices(event)["alert"]
    message = Renderer().render(notice, parse_webhook(SAMPLE_URLS["slack"]))
    assert message.title == f"🔴 {scope}{event.title}"

# ruff: noqa: RUF001  (the full-width punctuation of Chinese text, on purpose)
"""The words and times the channels add to a message themselves (not the templates): the
Feishu note, the Discord footer, the Google Chat subtitle, the truncation line. They follow
the renderer's ``locale`` and ``timezone``; English in UTC stays byte for byte what the
golden files hold."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from erralert._core.truncate import truncate
from erralert._core.wording import TRUNCATION_LINE, kind_label, truncation_marker
from erralert._render.renderer import Renderer
from erralert.channels import (
    dingtalk,
    discord,
    feishu,
    googlechat,
    mattermost,
    rocketchat,
    slack,
    teams,
    telegram,
    wecom,
)
from erralert.channels.base import Message
from erralert.channels.registry import parse_webhook
from tests import samples
from tests.channels.conformance import strings
from tests.channels.test_golden import SAMPLE_URLS
from tests.test_locale import chinese_storm

ZH_SHANGHAI = Renderer(locale="zh", timezone="Asia/Shanghai")
EN_SHANGHAI = Renderer(timezone="Asia/Shanghai")
ZH = Renderer(locale="zh")
EN = Renderer()
ZH_MARKER = re.compile(r"… 已截断，省略 \d+ 行 …")
HTTP_PLATFORMS = sorted(p for p in SAMPLE_URLS if p != "webhook")  # webhook adds no words


def sent(renderer: Renderer, platform: str, kind: str = "alert", level: str = "error") -> Any:
    channel = parse_webhook(SAMPLE_URLS[platform])
    event = dataclasses.replace(samples.event(), level=level)
    notice = samples.notice(kind, event)  # type: ignore[arg-type]
    message = renderer.render(notice, channel)
    return json.loads(channel.build_request(message, samples.NOW).content)


def feishu_note(payload: Any) -> str:
    (note,) = [e for e in payload["card"]["elements"] if e["tag"] == "note"]
    content: str = note["elements"][0]["content"]
    return content


# -- the Feishu (and Lark) note --------------------------------------------------------------


@pytest.mark.parametrize("platform", ["feishu", "lark"])
@pytest.mark.parametrize(
    ("renderer", "kind", "note"),
    [
        (ZH_SHANGHAI, "alert", "2026-11-27 02:20:01 UTC+8 · 事件 5f0c2a9e0b7d"),
        (ZH_SHANGHAI, "digest", "2026-11-27 02:25:01 UTC+8 · 事件 5f0c2a9e0b7d"),
        (ZH_SHANGHAI, "storm", "2026-11-27 02:20:03 UTC+8 · 事件 5f0c2a9e0b7d"),
        (ZH, "alert", "2026-11-26 18:20:01 UTC · 事件 5f0c2a9e0b7d"),
        # English follows the time zone too
        (EN_SHANGHAI, "alert", "2026-11-27 02:20:01 UTC+8 · event 5f0c2a9e0b7d"),
        (EN_SHANGHAI, "digest", "2026-11-27 02:25:01 UTC+8 · event 5f0c2a9e0b7d"),
        (EN, "alert", "2026-11-26 18:20:01 UTC · event 5f0c2a9e0b7d"),
    ],
)
def test_the_feishu_note_follows_the_locale_and_the_time_zone(
    platform: str, renderer: Renderer, kind: str, note: str
) -> None:
    assert feishu_note(sent(renderer, platform, kind)) == note


def test_the_feishu_note_shows_the_offset_of_its_moment() -> None:
    new_york = Renderer(timezone="America/New_York")
    assert feishu_note(sent(new_york, "feishu")) == "2026-11-26 13:20:01 UTC-5 · event 5f0c2a9e0b7d"


def test_the_feishu_note_and_datetime_write_a_time_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "feishu.j2").write_text(
        "{% block body %}{{ notice.created_at|datetime }}{% endblock %}", encoding="utf-8"
    )
    payload = sent(Renderer(tmp_path, timezone="Asia/Kolkata"), "feishu")
    body = payload["card"]["elements"][0]["content"]
    assert body == "2026-11-26 23:50:01 UTC+5:30"
    assert feishu_note(payload) == f"{body} · event 5f0c2a9e0b7d"


@pytest.mark.parametrize(
    ("changes", "note"),
    [
        ({"event_id": ""}, "2026-11-27 02:20:01 UTC+8"),
        ({"created_at": 0.0}, "事件 5f0c2a9e0b7d"),
        ({"created_at": 1e20}, "事件 5f0c2a9e0b7d"),  # past year 9999: no time, no crash
    ],
)
def test_a_feishu_note_without_a_time_or_an_id(changes: dict[str, Any], note: str) -> None:
    channel = parse_webhook(SAMPLE_URLS["feishu"])
    message = ZH_SHANGHAI.render(samples.notice("alert"), channel)
    message = dataclasses.replace(message, **changes)
    payload = json.loads(channel.build_request(message, samples.NOW).content)
    assert feishu_note(payload) == note


# -- the Discord footer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("renderer", "footer"),
    [
        (ZH_SHANGHAI, "erralert · 事件 5f0c2a9e0b7d"),
        (ZH, "erralert · 事件 5f0c2a9e0b7d"),
        (EN_SHANGHAI, "erralert · event 5f0c2a9e0b7d"),
        (EN, "erralert · event 5f0c2a9e0b7d"),
    ],
)
@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_the_discord_footer_follows_the_locale(renderer: Renderer, footer: str, kind: str) -> None:
    (embed,) = sent(renderer, "discord", kind)["embeds"]
    assert embed["footer"] == {"text": footer}
    # Discord shows the timestamp in each reader's own zone: it stays ISO, in UTC
    assert embed["timestamp"].endswith("+00:00")


def test_a_discord_footer_without_an_event_id() -> None:
    channel = parse_webhook(SAMPLE_URLS["discord"])
    message = dataclasses.replace(ZH.render(samples.notice("alert"), channel), event_id="")
    (embed,) = json.loads(channel.build_request(message, samples.NOW).content)["embeds"]
    assert embed["footer"] == {"text": "erralert"}


# -- the Google Chat subtitle ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "level", "zh", "en"),
    [
        ("alert", "error", "错误告警", "Error alert"),
        ("alert", "critical", "严重告警", "Critical alert"),
        ("alert", "fatal", "致命告警", "Fatal alert"),
        ("alert", "warning", "警告", "Warning alert"),
        ("alert", "info", "通知", "Info alert"),
        ("alert", "debug", "调试", "Debug alert"),
        ("alert", "notice", "Notice 告警", "Notice alert"),  # a level of the app's own
        ("digest", "error", "重复错误", "Repeated error"),
        ("digest", "warning", "重复错误", "Repeated error"),
        ("storm", "error", "错误风暴", "Error storm"),
    ],
)
def test_the_google_chat_subtitle_follows_the_locale(
    kind: str, level: str, zh: str, en: str
) -> None:
    def subtitle(renderer: Renderer) -> str:
        card = sent(renderer, "googlechat", kind, level=level)["cardsV2"][0]["card"]
        text: str = card["header"]["subtitle"]
        return text

    assert subtitle(ZH_SHANGHAI) == zh
    assert subtitle(EN_SHANGHAI) == en


def test_an_empty_level_is_an_error_alert() -> None:
    assert kind_label("alert", "", "en") == "Error alert"
    assert kind_label("alert", "", "zh") == "错误告警"


# -- no channel adds English words or a UTC time of its own ------------------------------------


@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_no_channel_adds_english_or_utc_to_a_chinese_message(platform: str, kind: str) -> None:
    texts = strings(sent(ZH_SHANGHAI, platform, kind))
    for text in texts:
        assert " UTC " not in f"{text} ", text  # every time is in UTC+8
        for word in ("event ", "truncated", "Repeated", "Error storm", "Error alert"):
            assert word not in text, (word, text)


# -- the truncation line ---------------------------------------------------------------------


def test_truncate_speaks_the_locale() -> None:
    text = "\n".join(f"第 {i} 行：错误信息" for i in range(100))
    cut = truncate(text, 300, "bytes", locale="zh")
    assert len(cut.encode()) <= 300
    (marker,) = [line for line in cut.splitlines() if TRUNCATION_LINE.fullmatch(line)]
    dropped = 100 - (len(cut.splitlines()) - 1)
    assert marker == f"… 已截断，省略 {dropped} 行 …"
    # English by default and for a language erralert does not have
    english = truncate(text, 300, "bytes")
    assert f"… truncated, {dropped} more lines …" in english.splitlines()
    assert truncate(text, 300, "bytes", locale="fr") == english


@pytest.mark.parametrize(
    ("dropped", "locale", "line"),
    [
        (1, "en", "… truncated, 1 more line …"),
        (7, "en", "… truncated, 7 more lines …"),
        (1, "zh", "… 已截断，省略 1 行 …"),
        (7, "zh", "… 已截断，省略 7 行 …"),
    ],
)
def test_the_truncation_line(dropped: int, locale: str, line: str) -> None:
    assert truncation_marker(dropped, locale) == line
    assert TRUNCATION_LINE.fullmatch(line)


def _bytes(request: httpx.Request) -> int:
    return len(request.content)


def _chars(request: httpx.Request) -> int:
    return len(request.content.decode())


def _discord(request: httpx.Request) -> int:
    (embed,) = json.loads(request.content)["embeds"]
    return len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])


def _telegram(request: httpx.Request) -> int:
    return telegram.visible_length(json.loads(request.content)["text"])


def _wecom(request: httpx.Request) -> int:
    return len(json.loads(request.content)["markdown"]["content"].encode())


# what each platform limits, and how it counts
LIMITS: dict[str, tuple[int, Callable[[httpx.Request], int]]] = {
    "dingtalk": (dingtalk.BODY_LIMIT, _bytes),
    "discord": (discord.EMBED_TOTAL_LIMIT, _discord),
    "feishu": (feishu.BODY_LIMIT, _bytes),
    "googlechat": (googlechat.MESSAGE_LIMIT, _bytes),
    "lark": (feishu.BODY_LIMIT, _bytes),
    "mattermost": (mattermost.POST_LIMIT, _chars),
    "rocketchat": (rocketchat.MESSAGE_LIMIT, _chars),
    "slack": (slack.PAYLOAD_LIMIT, _chars),
    "teams": (teams.BODY_LIMIT, _bytes),
    "telegram": (telegram.SAFE_LIMIT, _telegram),
    "wecom": (wecom.CONTENT_LIMIT, _wecom),
}


def test_every_platform_has_a_limit_here() -> None:
    assert set(LIMITS) == set(HTTP_PLATFORMS)


@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
def test_a_long_chinese_message_is_cut_with_a_chinese_line(platform: str, tmp_path: Path) -> None:
    # cut by the renderer, on whole lines: erralert's own summaries list eight lines and
    # count the rest, so a user's template that lists every group makes the long body
    listing = (
        '{% extends "zh/_base.j2" %}{% block body %}{% for g in storm.groups %}\n'
        "{{ g.title }} · {{ g.culprit }}\n{% endfor %}{% endblock %}"
    )
    for name in (platform, "feishu"):  # Lark renders with feishu's
        (tmp_path / "zh").mkdir(exist_ok=True)
        (tmp_path / "zh" / f"{name}.j2").write_text(listing, encoding="utf-8")
    renderer = Renderer(tmp_path, locale="zh", timezone="Asia/Shanghai")
    channel = parse_webhook(SAMPLE_URLS[platform])
    message = renderer.render(chinese_storm(300), channel)
    request = channel.build_request(message, samples.NOW)
    limit, size = LIMITS[platform]
    assert size(request) <= limit
    texts = strings(json.loads(request.content))
    assert any(ZH_MARKER.search(text) for text in texts)
    assert not any("truncated" in text for text in texts)


def _overlong(locale: str) -> Message:
    """A message no renderer cut: 1500 lines, 60 kB of Chinese with quotes to escape."""
    body = "\n".join(f'第 {i:04d} 行 "错误信息" 错误信息错误信息' for i in range(1500))
    return Message("alert", "支付失败", body, event_id="5f0c2a9e0b7d4c1e", locale=locale)


@pytest.mark.parametrize("platform", sorted(set(HTTP_PLATFORMS) - {"dingtalk"}))
def test_a_channels_own_cut_speaks_the_messages_language(platform: str) -> None:
    channel = parse_webhook(SAMPLE_URLS[platform])
    request = channel.build_request(_overlong("zh"), samples.NOW)
    limit, size = LIMITS[platform]
    assert size(request) <= limit
    texts = strings(json.loads(request.content))
    assert any(ZH_MARKER.search(text) for text in texts)
    assert not any("truncated" in text for text in texts)
    english = strings(json.loads(channel.build_request(_overlong("en"), samples.NOW).content))
    assert any(re.search(r"… truncated, \d+ more lines …", text) for text in english)


@pytest.mark.parametrize(("locale", "note"), [("zh", "…（已截断）"), ("en", "…(truncated)")])
def test_dingtalks_own_cut_speaks_the_messages_language(locale: str, note: str) -> None:
    channel = parse_webhook(SAMPLE_URLS["dingtalk"])  # with the keyword "alert"
    request = channel.build_request(_overlong(locale), samples.NOW)
    assert len(request.content) <= dingtalk.BODY_LIMIT
    text = json.loads(request.content)["markdown"]["text"]
    assert text.endswith(f"{note}\n\nalert")


def test_telegram_closes_a_block_around_the_chinese_line_too() -> None:
    assert telegram.repair_html("<pre>a\nb\n… 已截断，省略 3 行 …\nc\nd</pre>\nend") == (
        "<pre>a\nb</pre>\n… 已截断，省略 3 行 …\n<pre>c\nd</pre>\nend"
    )


# -- the renderer hands its language and zone to the message ---------------------------------


def test_the_message_carries_the_renderers_locale_and_zone() -> None:
    channel = parse_webhook("slack://T/B/X")
    message = ZH_SHANGHAI.render(samples.notice("alert"), channel)
    assert (message.locale, message.zone) == ("zh", ZoneInfo("Asia/Shanghai"))
    message = EN.render(samples.notice("alert"), channel)
    assert (message.locale, message.zone) == ("en", UTC)


def test_a_zh_template_named_outright_makes_a_chinese_message() -> None:
    # ?template=zh/feishu under an English renderer: the card is Chinese, so is its note
    channel = parse_webhook(SAMPLE_URLS["feishu"] + "&template=zh/feishu")
    message = EN_SHANGHAI.render(samples.notice("alert"), channel)
    assert message.locale == "zh"
    payload = json.loads(channel.build_request(message, samples.NOW).content)
    assert feishu_note(payload) == "2026-11-27 02:20:01 UTC+8 · 事件 5f0c2a9e0b7d"

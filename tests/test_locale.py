# ruff: noqa: RUF001  (the full-width punctuation of Chinese text, on purpose)
"""``locale="zh"``: the Simplified Chinese templates, which file renders a channel, the
filters in Chinese, the built-in fallback, DingTalk keywords and byte limits in Chinese.

Golden payloads for zh live in ``tests/channels/golden/zh/``; regenerate them with
``ERRALERT_UPDATE_GOLDEN=1 pytest tests/test_locale.py``."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

import erralert
from erralert._capture.events import build_exception_event
from erralert._capture.scrub import Scrubber
from erralert._core.config import env_options
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.notice import Notice, Occurrences, Storm, StormGroup
from erralert._render.locale import LOCALES, normalise_locale
from erralert._render.renderer import Renderer, default_template_dir
from erralert.channels.base import Channel, ChannelOptions
from erralert.channels.dingtalk import BODY_LIMIT as DINGTALK_LIMIT
from erralert.channels.feishu import BODY_LIMIT as FEISHU_LIMIT
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.channels.wecom import CONTENT_LIMIT as WECOM_LIMIT
from erralert.testing import capture_alerts
from tests import samples
from tests.channels import conformance
from tests.channels.test_golden import GOLDEN, SAMPLE_URLS, UPDATE

ZH = Renderer(locale="zh")
EN = Renderer()
CJK = re.compile("[\u4e00-\u9fff]")
KINDS = ("alert", "digest", "storm")
# every platform, local ones (console) included
ALL_URLS = {**SAMPLE_URLS, "console": "console://"}


def write(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def render(renderer: Renderer, url: str, kind: str = "alert", event: Event | None = None) -> Any:
    """The sample notice rendered at the time of its decision (as the worker renders it:
    ``|day`` and ``|ago`` read the time of the render)."""
    channel = parse_webhook(url)
    notice = samples.notice(kind, event)  # type: ignore[arg-type]
    with freeze_time(datetime.fromtimestamp(notice.created_at, UTC)):
        return renderer.render(notice, channel)


# -- the locale option ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("zh", "zh"),
        (" zh ", "zh"),
        ("zh-CN", "zh"),
        ("zh_CN", "zh"),
        ("zh-Hans", "zh"),
        ("ZH_HANS", "zh"),
    ],
)
def test_locale_names_and_aliases(value: str, expected: str) -> None:
    assert normalise_locale(value) == expected
    assert Renderer(locale=value).locale == expected


@pytest.mark.parametrize("value", ["fr", "zh-TW", "zh-Hant", "english", "", "zh/"])
def test_an_unsupported_locale_is_a_config_error_naming_it_and_the_supported_ones(
    value: str,
) -> None:
    with pytest.raises(ConfigError) as raised:
        normalise_locale(value)
    assert str(raised.value) == (
        f"locale {value!r} is not supported: use one of 'en', 'zh' "
        "(zh-CN, zh_CN and zh-Hans mean 'zh')"
    )
    with pytest.raises(ConfigError, match=re.escape(f"locale {value!r}")):
        Renderer(locale=value)
    with pytest.raises(ConfigError, match=re.escape(f"locale {value!r}")):
        erralert.Alerter(locale=value)


def test_a_locale_that_is_not_a_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="locale 7 is not supported"):
        normalise_locale(7)  # type: ignore[arg-type]


def test_locales_are_en_and_zh() -> None:
    assert LOCALES == ("en", "zh")
    assert Renderer().locale == "en"


def test_alerter_and_init_take_the_locale() -> None:
    alerter = erralert.Alerter(["console://"], locale="zh_CN")
    try:
        assert alerter.locale == "zh"
    finally:
        alerter.close(0.1)
    assert erralert.init(webhooks=["console://"], locale="zh-Hans").locale == "zh"
    assert erralert.init(webhooks=["console://"]).locale == "en"


def test_the_environment_sets_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "locale" not in env_options({})
    assert "locale" not in env_options({"ERRALERT_LOCALE": "  "})  # empty: not set
    assert env_options({"ERRALERT_LOCALE": " zh-CN "}) == {"locale": "zh-CN"}
    monkeypatch.setenv("ERRALERT_LOCALE", "zh")
    monkeypatch.setenv("ERRALERT_WEBHOOKS", "console://")
    assert erralert.get_alerter().locale == "zh"
    # keyword options win over the environment
    assert erralert.init(locale="en").locale == "en"


def test_a_bad_locale_in_the_environment_fails_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_LOCALE", "klingon")
    with pytest.raises(ConfigError, match="locale 'klingon' is not supported"):
        erralert.init(webhooks=["console://"])


def test_an_alerter_in_zh_sends_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    alerter = erralert.Alerter(["dingtalk://t0ken?keyword=告警"], locale="zh")
    try:
        with capture_alerts(alerter) as alerts:
            try:
                raise KeyError("user")
            except KeyError:
                alerter.capture_exception()
        (alert,) = alerts
        scope = f"[{alerter.release[:12]}] " if len(alerter.release or "") <= 10 else ""
        assert alert.title == f"🔴 {scope}告警：KeyError: 'user'"
        assert alert.payload["markdown"]["text"].startswith(f"### {alert.title}\n\n🆕 新错误")
        assert "- 位置：tests/test_locale.py:" in alert.body
        assert "中的 test_an_alerter_in_zh_sends_chinese" in alert.body
        assert 'raise KeyError("user")' in alert.body
    finally:
        alerter.close(0.1)


# -- the zh templates -------------------------------------------------------------------------


def test_every_platform_template_has_a_chinese_twin() -> None:
    defaults = default_template_dir()
    english = {p.name for p in defaults.glob("*.j2")}
    chinese = {p.name for p in (defaults / "zh").glob("*.j2")}
    assert english == chinese
    for name in chinese - {"_base.j2"}:
        first = (defaults / "zh" / name).read_text(encoding="utf-8").splitlines()[0]
        assert first in ('{% extends "zh/_base.j2" %}', '{% extends "zh/_plain.j2" %}'), name


@pytest.mark.parametrize("platform", sorted(ALL_URLS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_platform_renders_every_kind_in_chinese(platform: str, kind: str) -> None:
    channel = parse_webhook(ALL_URLS[platform])
    message = ZH.render(samples.notice(kind), channel)  # type: ignore[arg-type]
    assert message.template_error is None
    assert ZH.template_for(channel) == f"zh/{channel.template_names[-1]}.j2"
    assert CJK.search(message.title), message.title
    assert CJK.search(message.body), message.body
    # the English set has no Chinese at all: the locale, not the data, made it
    english = EN.render(samples.notice(kind), channel)  # type: ignore[arg-type]
    assert not CJK.search(english.title + english.body)


ZH_TITLES = {
    "alert": "🔴 [checkout·prod] 告警：PaymentError: card declined for order 1042",
    "digest": "🔁 [checkout·prod] 重复：PaymentError: card declined for order 1042 ×99（5 分钟内）",
    "storm": "🌪 [checkout·prod] 错误风暴：共 282 次，12 种错误",
}


@pytest.mark.parametrize("kind", KINDS)
def test_chinese_titles(kind: str) -> None:
    assert render(ZH, "slack://T/B/X", kind).title == ZH_TITLES[kind]


@pytest.mark.parametrize(
    ("level", "label"),
    [
        ("critical", "🚨 严重"),
        ("fatal", "🚨 严重"),
        ("error", "🔴 告警"),
        ("warning", "🟠 警告"),
        ("info", "🔵 通知"),
        ("debug", "⚪ 调试"),
    ],
)
def test_chinese_alert_titles_by_level(level: str, label: str) -> None:
    import dataclasses

    event = dataclasses.replace(samples.event(), level=level)
    sign, word = label.split()
    title = render(ZH, "slack://T/B/X", "alert", event).title
    assert title == f"{sign} [checkout·prod] {word}：{event.title}"


def test_a_replayed_message_says_it_is_late_in_chinese() -> None:
    import dataclasses

    notice = dataclasses.replace(samples.notice("digest"), replayed=True)
    message = ZH.render(notice, parse_webhook("slack://T/B/X"))
    assert message.title == f"⏳ 延迟送达：{ZH_TITLES['digest']}"


def test_the_dingtalk_digest_in_chinese() -> None:
    text = render(ZH, "dingtalk://t0ken", "digest").body
    assert text == (
        f"### {ZH_TITLES['digest']}\n\n"
        "**最近 5 分钟内又出现 99 次（首次 18:20 UTC，最近 18:24 UTC）**\n\n"
        "- 累计 100 次，自 18:20 UTC起\n"
        "- 趋势：█▇▅▄▃▃▂▂▂▂\n"
        "- 位置：shop/checkout/step_5.py:15 中的 step_5\n\n"
        'raise PaymentError(f"card declined for order {order.id}")\n\n'
        "- 来源：checkout · production · 3f2a9c1b7d0e · web-1"
    )


@pytest.mark.parametrize(
    ("platform", "kind"),
    [
        (platform, kind)
        for platform, channel in sorted(PLATFORMS.items())
        if not channel.local
        for kind in KINDS
    ],
)
def test_golden_payload_in_chinese(platform: str, kind: str) -> None:
    channel = parse_webhook(SAMPLE_URLS[platform])
    request = conformance.render(channel, kind, renderer=ZH)
    got = {
        "method": request.method,
        "url": str(request.url),
        "content-type": request.headers.get("content-type"),
        "body": json.loads(request.content),
    }
    path = GOLDEN / "zh" / f"{platform}-{kind}.json"
    text = json.dumps(got, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"zh/{path.name} did not exist; written now, review and commit it")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "platform", sorted(p for p, url in SAMPLE_URLS.items() if parse_webhook(url).dialect != "plain")
)
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_text_stays_inert_in_chinese_markup(platform: str, kind: str) -> None:
    # the body is what every platform parses as markup (titles are plain text, shown
    # verbatim where a platform shows them apart)
    event = samples.event(samples.HOSTILE)
    message = render(ZH, SAMPLE_URLS[platform], kind, event)
    assert message.template_error is None
    conformance.assert_inert([message.body], platform)


# -- which file renders a channel ------------------------------------------------------------


def names(renderer: Renderer, url: str) -> str:
    return renderer.template_for(parse_webhook(url))


def test_zh_picks_erralerts_zh_file_and_en_the_plain_one() -> None:
    assert names(ZH, "dingtalk://t") == "zh/dingtalk.j2"
    assert names(EN, "dingtalk://t") == "dingtalk.j2"
    # Lark renders with Feishu's templates, in Chinese too
    assert names(ZH, "lark://hook") == "zh/feishu.j2"


def test_a_users_zh_file_wins_over_everything(tmp_path: Path) -> None:
    write(tmp_path, "zh/dingtalk.j2", "{% block body %}用户的中文模板{% endblock %}")
    write(tmp_path, "dingtalk.j2", "{% block body %}user's own{% endblock %}")
    renderer = Renderer(tmp_path, locale="zh")
    assert names(renderer, "dingtalk://t") == "zh/dingtalk.j2"
    assert render(renderer, "dingtalk://t").body == "用户的中文模板"
    # English still takes the user's plain file
    assert render(Renderer(tmp_path), "dingtalk://t").body == "user's own"


def test_a_users_plain_file_wins_over_erralerts_zh_file(tmp_path: Path) -> None:
    # a team that wrote its own dingtalk.j2 keeps it when it switches to zh
    write(
        tmp_path, "dingtalk.j2", "{% block body %}我们自己的模板 {{ 300|duration }}{% endblock %}"
    )
    renderer = Renderer(tmp_path, locale="zh")
    assert names(renderer, "dingtalk://t") == "dingtalk.j2"
    message = render(renderer, "dingtalk://t")
    # rendered in the renderer's locale: the duration is Chinese
    assert (message.body, message.template_error) == ("我们自己的模板 5 分钟", None)
    # other platforms still get erralert's Chinese files
    assert names(renderer, "wecom://k") == "zh/wecom.j2"


def test_a_user_zh_base_changes_the_chinese_titles_of_erralerts_templates(tmp_path: Path) -> None:
    write(
        tmp_path,
        "zh/_base.j2",
        """\
        {% extends "default/zh/_base.j2" %}
        {% block title %}【线上告警】{{ super() }}{% endblock %}
        """,
    )
    renderer = Renderer(tmp_path, locale="zh")
    message = render(renderer, "dingtalk://t")
    assert message.title == f"【线上告警】{ZH_TITLES['alert']}"
    assert message.body.startswith(f"### 【线上告警】{ZH_TITLES['alert']}")
    # the English titles are untouched
    assert render(Renderer(tmp_path), "dingtalk://t").title.startswith("🔴 [checkout·prod] Pay")


def test_a_user_template_can_extend_erralerts_zh_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "zh/dingtalk.j2",
        """\
        {% extends "default/zh/dingtalk.j2" %}
        {% block body %}{{ super() }}

        值班手册：https://wiki.example/oncall{% endblock %}
        """,
    )
    message = render(Renderer(tmp_path, locale="zh"), "dingtalk://t")
    assert message.template_error is None
    assert message.body.startswith(f"### {ZH_TITLES['alert']}\n\n🆕 新错误")
    assert message.body.endswith("个应用帧\n\n值班手册：https://wiki.example/oncall")


def test_the_channels_template_option_still_wins(tmp_path: Path) -> None:
    write(tmp_path, "oncall.j2", "{% block body %}oncall plain{% endblock %}")
    zh = Renderer(tmp_path, locale="zh")
    # ?template=oncall beats the platform's files, Chinese or not
    assert names(zh, "dingtalk://t?template=oncall") == "oncall.j2"
    assert render(zh, "dingtalk://t?template=oncall").body == "oncall plain"
    # … and its own zh/ twin beats it under zh, not under en
    write(tmp_path, "zh/oncall.j2", "{% block body %}值班{% endblock %}")
    zh = Renderer(tmp_path, locale="zh")
    assert names(zh, "dingtalk://t?template=oncall") == "zh/oncall.j2"
    assert render(zh, "dingtalk://t?template=oncall").body == "值班"
    assert render(Renderer(tmp_path), "dingtalk://t?template=oncall").body == "oncall plain"


def test_template_zh_slash_name_gives_one_channel_chinese_under_en() -> None:
    message = render(EN, "dingtalk://t?template=zh/dingtalk", "digest")
    assert message.title == ZH_TITLES["digest"]
    # the filters follow the template's folder: Chinese durations in a Chinese template
    assert "最近 5 分钟内又出现 99 次" in message.body
    assert names(EN, "slack://T/B/X") == "slack.j2"


def test_check_finds_a_template_in_the_locales_folder(tmp_path: Path) -> None:
    write(tmp_path, "zh/oncall.j2", "{% block body %}值班{% endblock %}")
    Renderer(tmp_path, locale="zh").check("oncall")
    with pytest.raises(ConfigError) as raised:
        Renderer(tmp_path).check("oncall")  # English does not look into zh/
    assert str(raised.value).startswith("template 'oncall' not found: no oncall.j2 in ")
    with pytest.raises(ConfigError) as raised:
        Renderer(tmp_path, locale="zh").check("nope")
    assert str(raised.value).startswith("template 'nope' not found: no zh/nope.j2 or nope.j2 in ")
    # the alerter checks ?template= against its locale
    alerter = erralert.Alerter(["dingtalk://t?template=oncall"], template_dir=tmp_path, locale="zh")
    alerter.close(0.1)
    with pytest.raises(ConfigError, match="template 'oncall' not found"):
        erralert.Alerter(["dingtalk://t?template=oncall"], template_dir=tmp_path)


def test_a_users_payload_template_takes_the_chinese_body(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dingtalk.payload.j2",
        '{"msgtype": "text", "text": {"content": "{{ title }}\\n{{ body }}"}}',
    )
    message = render(Renderer(tmp_path, locale="zh"), "dingtalk://t")
    assert message.payload is not None
    content = message.payload["text"]["content"]
    assert content.startswith(f"{ZH_TITLES['alert']}\n### {ZH_TITLES['alert']}")
    assert "**调用栈**（应用代码在前）" in content


def test_templates_see_the_locale_and_the_timezone(tmp_path: Path) -> None:
    write(tmp_path, "slack.j2", "{% block body %}{{ locale }} {{ timezone }}{% endblock %}")
    assert render(Renderer(tmp_path), "slack://T/B/X").body == "en UTC"
    zh = Renderer(tmp_path, locale="zh", timezone="Asia/Shanghai")
    assert render(zh, "slack://T/B/X").body == "zh Asia/Shanghai"


# -- filters in Chinese ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "en", "zh"),
    [
        (0, "0 s", "0 秒"),
        (30, "30 s", "30 秒"),
        (90, "1 min 30 s", "1 分钟 30 秒"),
        (300, "5 min", "5 分钟"),
        (3600, "1 h", "1 小时"),
        (3900, "1 h 5 min", "1 小时 5 分钟"),
        (86400, "1 d", "1 天"),
        (2 * 86400 + 3 * 3600, "2 d 3 h", "2 天 3 小时"),
    ],
)
def test_duration_in_both_languages(tmp_path: Path, seconds: int, en: str, zh: str) -> None:
    # a constant: the filter must not be folded at compile time, in no language
    write(tmp_path, "slack.j2", f"{{% block body %}}{{{{ {seconds}|duration }}}}{{% endblock %}}")
    assert render(Renderer(tmp_path), "slack://T/B/X").body == en
    assert render(Renderer(tmp_path, locale="zh"), "slack://T/B/X").body == zh


@freeze_time("2026-11-26 18:20:01")
@pytest.mark.parametrize(
    ("before", "en", "zh"),
    [
        (0, "just now", "刚刚"),
        (300, "5 min ago", "5 分钟前"),
        (3900, "1 h 5 min ago", "1 小时 5 分钟前"),
    ],
)
def test_ago_in_both_languages(tmp_path: Path, before: int, en: str, zh: str) -> None:
    write(
        tmp_path,
        "slack.j2",
        f"{{% block body %}}{{{{ {samples.NOW - before}|ago }}}}{{% endblock %}}",
    )
    assert render(Renderer(tmp_path), "slack://T/B/X").body == en
    assert render(Renderer(tmp_path, locale="zh"), "slack://T/B/X").body == zh


@freeze_time("2026-11-26 18:20:01")
@pytest.mark.parametrize(
    ("before", "zone", "en", "zh"),
    [
        (3600, "UTC", "17:20 UTC", "17:20 UTC"),  # the render's day: the time
        (3 * 86400, "UTC", "23 Nov", "11月23日"),  # this year: the day
        (400 * 86400, "UTC", "22 Oct 2025", "2025年10月22日"),  # another year: with it
        # the day is the zone's: 2026-11-26 18:20 UTC is already the 27th in Shanghai
        (0, "Asia/Shanghai", "02:20 UTC+8", "02:20 UTC+8"),
        (8 * 3600, "Asia/Shanghai", "26 Nov", "11月26日"),
    ],
)
def test_day_in_both_languages(tmp_path: Path, before: int, zone: str, en: str, zh: str) -> None:
    write(
        tmp_path,
        "slack.j2",
        f"{{% block body %}}{{{{ {samples.NOW - before}|day }}}}{{% endblock %}}",
    )
    assert render(Renderer(tmp_path, timezone=zone), "slack://T/B/X").body == en
    assert render(Renderer(tmp_path, locale="zh", timezone=zone), "slack://T/B/X").body == zh


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (7, "7"),
        (1204, "1,204"),
        (1234567, "1,234,567"),
        (2048.5, "2,048.5"),
        ("n/a", "n/a"),
    ],
)
def test_number_groups_thousands(tmp_path: Path, value: object, shown: str) -> None:
    write(tmp_path, "slack.j2", f"{{% block body %}}{{{{ {value!r}|number }}}}{{% endblock %}}")
    assert render(Renderer(tmp_path), "slack://T/B/X").body == shown
    assert render(Renderer(tmp_path, locale="zh"), "slack://T/B/X").body == shown


# -- the built-in template in Chinese ----------------------------------------------------------


def test_a_broken_template_falls_back_to_the_chinese_built_in(tmp_path: Path) -> None:
    write(tmp_path, "zh/slack.j2", "{% block body %}{{ 1 // 0 }}{% endblock %}")
    message = render(Renderer(tmp_path, locale="zh"), "slack://T/B/X", "digest")
    assert message.template_error == (
        'custom template "zh/slack.j2" failed: ZeroDivisionError: integer division or modulo '
        "by zero (line 1)"
    )
    assert message.title == "PaymentError: card declined for order 1042 ×99（5 分钟内）"
    assert message.body.split("\n\n") == [
        f"⚠ 模板出错，本条消息改用内置模板发送：{message.template_error}",
        "PaymentError: card declined for order 1042",
        "最近 5 分钟内又出现 99 次（首次 2026-11-26 18:20:03 UTC，最近 2026-11-26 18:24:51 UTC），"
        "累计 100 次",
        "错误位置：shop.checkout.step_5.step_5 (shop/checkout/step_5.py:15)",
        "请求：POST /pay/1042",
        "- shop/checkout/step_1.py:11 step_1 → return step_2(order)\n"
        "- shop/checkout/step_2.py:12 step_2 → return step_3(order)\n"
        "- shop/checkout/step_3.py:13 step_3 → return step_4(order)\n"
        "- shop/checkout/step_4.py:14 step_4 → return step_5(order)\n"
        '- shop/checkout/step_5.py:15 step_5 → raise PaymentError(f"card declined for order '
        '{order.id}")',
    ]


def test_a_broken_zh_template_named_under_en_falls_back_in_chinese(tmp_path: Path) -> None:
    write(tmp_path, "zh/oncall.j2", "{% block body %}{{ 1 // 0 }}{% endblock %}")
    message = render(Renderer(tmp_path), "slack://T/B/X?template=zh/oncall", "digest")
    assert message.body.startswith(
        '⚠ 模板出错，本条消息改用内置模板发送：custom template "zh/oncall.j2"'
    )
    assert message.title == "PaymentError: card declined for order 1042 ×99（5 分钟内）"


def test_the_english_built_in_stays_english(tmp_path: Path) -> None:
    write(tmp_path, "slack.j2", "{% block body %}{{ 1 // 0 }}{% endblock %}")
    message = render(Renderer(tmp_path), "slack://T/B/X", "digest")
    assert message.body.startswith('⚠ custom template "slack.j2" failed: ZeroDivisionError')
    assert not CJK.search(message.title + message.body)


class Carrier(Channel):
    platform = "carrierpigeon"  # no template of its own: the built-in one renders it
    dialect = "markdown"
    max_length = 3000


def test_a_platform_without_a_template_gets_the_chinese_built_in() -> None:
    channel = Carrier("https://pigeon.example/", ChannelOptions())
    assert ZH.template_for(channel) == "built-in"
    storm = ZH.render(samples.notice("storm"), channel)
    assert (storm.title, storm.template_error) == ("错误风暴：共 282 个错误，12 种", None)
    assert storm.body.startswith(
        "共 282 个错误，12 种，2026-11-26 18:20:01 UTC 至 2026-11-26 18:20:03 UTC\n\n"
        "- 40× LookupError: warehouse 0 down（shop.stock.check_0 (shop/stock.py:20)）"
    )


# -- DingTalk keywords and byte limits in Chinese -------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_chinese_dingtalk_keyword_is_in_every_message(kind: str) -> None:
    for keyword in ("告警", "错误", "alert"):
        channel = parse_webhook(f"dingtalk://t0ken?keyword={keyword}")
        request = conformance.render(channel, kind, renderer=ZH)
        text = conformance.payload(request)["markdown"]["text"]
        assert keyword in text


def test_a_keyword_the_template_already_says_is_not_repeated() -> None:
    # "告警" is in every zh alert's heading: DingTalk finds it there
    channel = parse_webhook("dingtalk://t0ken?keyword=告警")
    text = conformance.payload(conformance.render(channel, renderer=ZH))["markdown"]["text"]
    assert text.count("告警") == 1
    assert text.endswith("个应用帧")


class 支付失败Error(Exception):  # a Chinese class name, as Chinese code has
    pass


def huge_chinese_event() -> Event:
    """A real exception through the real capture path: a Chinese message of a million
    characters (three million bytes) raised 500 frames deep."""

    def 步骤(depth: int) -> None:
        if depth == 0:
            raise 支付失败Error("订单金额校验失败，" * 100_000)
        步骤(depth - 1)

    try:
        步骤(499)
    except 支付失败Error as exc:
        return Scrubber().event(build_exception_event(exc, now=samples.NOW))
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("url", "limit", "text_of"),
    [
        ("dingtalk://t0ken?keyword=告警", DINGTALK_LIMIT, lambda p: p["markdown"]["text"]),
        ("wecom://k3y", WECOM_LIMIT, lambda p: p["markdown"]["content"]),
        ("feishu://h00k?secret=s", FEISHU_LIMIT, lambda p: json.dumps(p, ensure_ascii=False)),
    ],
    ids=["dingtalk", "wecom", "feishu"],
)
def test_a_huge_chinese_error_stays_within_the_byte_limits(
    url: str, limit: int, text_of: Any
) -> None:
    channel = parse_webhook(url)
    notice = samples.notice("alert", huge_chinese_event())
    message = ZH.render(notice, channel)
    # the renderer's own cut keeps the body within the channel's bytes (the channel's
    # emergency cut, which knows no lines, never runs) …
    assert len(message.body.encode()) <= channel.max_length
    request = channel.build_request(message, samples.NOW)
    text = text_of(json.loads(request.content))
    if channel.platform == "wecom":
        assert len(text.encode()) <= limit  # WeCom counts the content's bytes
    else:
        assert len(request.content) <= limit  # DingTalk and Feishu the whole body's
    # … on clean boundaries: no character cut in half, title, culprit and innermost frames
    # kept, and a line that says what went
    assert "\ufffd" not in text
    assert "告警：支付失败Error: 订单金额校验失败" in text
    innermost = text.split("最内层调用栈")[-1]
    assert "raise 支付失败Error" in innermost
    assert "步骤(499)" not in innermost  # the outermost call is cut, not the innermost
    assert "…" in text


def test_wecom_gives_a_chinese_message_a_smaller_share_than_an_english_one() -> None:
    event = samples.event("金额" * 1000)
    body = ZH.render(samples.notice("alert", event), parse_webhook("wecom://k3y")).body
    line = next(line for line in body.splitlines() if line.startswith("`金额"))
    # 300 characters (900 bytes of the 4096) where an English message gets 600
    assert line == "`" + "金额" * 147 + "…（已截断）`"
    assert "**调用栈**（应用代码在前）" in body


def chinese_storm(groups: int) -> Notice:
    """A storm of ``groups`` kinds of error with Chinese titles (three bytes a character)."""
    kinds = tuple(
        StormGroup(
            title=f"库存服务异常：第 {i} 号仓库连接超时，订单无法锁定库存，请检查仓库服务状态",
            culprit=f"shop.stock.check_{i} (shop/stock.py:{20 + i})",
            count=1000 - i,
            fingerprint=f"fp{i}",
        )
        for i in range(groups)
    )
    total = sum(g.count for g in kinds)
    occurrences = Occurrences(
        count=total,
        total=total,
        first_seen=samples.NOW,
        last_seen=samples.NOW + 2,
        window=300.0,
        is_new=False,
    )
    storm = Storm(groups=kinds, total=total, since=samples.NOW, until=samples.NOW + 2)
    return Notice("storm", samples.event(), occurrences, storm=storm, created_at=samples.NOW)


@pytest.mark.parametrize(
    "url", ["dingtalk://t0ken?keyword=告警", "wecom://k3y", "feishu://h00k?secret=s"]
)
def test_a_long_chinese_storm_is_cut_on_whole_lines_within_the_bytes(
    url: str, tmp_path: Path
) -> None:
    # erralert's own summaries list 8 lines and count the rest: a user's template that
    # lists every group makes a body far past the limit, which the cut must bring back
    body = (
        '{% extends "zh/_base.j2" %}{% block body %}### {{ self.title() }}\n\n'
        "{% for g in storm.groups %}\n- **×{{ g.count }}** {{ g.title }} · {{ g.culprit }}\n"
        "{% endfor %}{% endblock %}"
    )
    for name in ("dingtalk", "wecom", "feishu"):
        write(tmp_path, f"zh/{name}.j2", body)
    renderer = Renderer(tmp_path, locale="zh")
    channel = parse_webhook(url)
    roomy = type("Roomy", (type(channel),), {"max_length": 10**7})(channel.url, channel.options)
    notice = chinese_storm(300)
    whole = renderer.render(notice, roomy).body.splitlines()
    cut = renderer.render(notice, channel).body
    assert len("\n".join(whole).encode()) > channel.max_length  # it had to be cut
    assert len(cut.encode()) <= channel.max_length
    assert len(cut.encode()) > channel.max_length * 0.9  # and kept most of what fits
    # every line is one of the message's own, but the one that says what was dropped and
    # at most one cut short (at a character, never inside one) with "…"
    new = [line for line in cut.splitlines() if line not in whole]
    markers = [line for line in new if re.fullmatch(r"… 已截断，省略 \d+ 行 …", line)]
    assert len(markers) == 1
    for line in set(new) - set(markers):
        assert line.endswith("…")
        assert any(full.startswith(line[:-1].rstrip()) for full in whole), line
    assert len(new) <= 2
    assert "错误风暴：共 " in cut.splitlines()[0]
    assert "库存服务异常：第 0 号仓库" in cut  # the largest group comes first and stays

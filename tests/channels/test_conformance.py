"""What every platform in the registry must do, each checked for each platform: the facts
its class declares, the request it builds, hostile error text shown inert, a huge error
kept within the limit. A new platform gets a row in ``FACTS`` and, if it is sent over
HTTP, a way to read its payload in ``READERS``; the registry test below fails until it
has them.

What only one platform does (its payload's shape, its mentions, its answers) is tested in
that platform's module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from erralert.channels import DIALECTS, PLATFORMS, Rate, parse_webhook
from erralert.channels.discord import DESCRIPTION_LIMIT
from erralert.channels.feishu import BODY_LIMIT as FEISHU_LIMIT
from erralert.channels.googlechat import MESSAGE_LIMIT as GOOGLECHAT_LIMIT
from erralert.channels.mattermost import POST_LIMIT
from erralert.channels.registry import MODULES
from erralert.channels.rocketchat import MESSAGE_LIMIT as ROCKETCHAT_LIMIT
from erralert.channels.teams import BODY_LIMIT as TEAMS_LIMIT
from erralert.channels.wecom import CONTENT_LIMIT
from tests import samples
from tests.channels import conformance
from tests.channels.test_discord import shown as discord_shown
from tests.channels.test_feishu import texts as feishu_texts
from tests.channels.test_golden import SAMPLE_URLS
from tests.channels.test_googlechat import paragraph
from tests.channels.test_mattermost import markup as mattermost_markup
from tests.channels.test_rocketchat import markup as rocketchat_markup
from tests.channels.test_teams import card, run_texts, text_blocks_of


@dataclass(frozen=True)
class Facts:
    dialect: str
    max_length: int
    length_unit: str
    rates: tuple[Rate, ...]
    short_form: str | None
    native_urls: tuple[tuple[str, str], ...]
    options: frozenset[str]
    local: bool = False


_COMMON = frozenset({"template", "rate", "name"})  # every platform honours these
_MENTION = _COMMON | {"mention"}
_SIGNED = _MENTION | {"secret", "keyword"}  # DingTalk, Feishu and Lark sign and have keywords

FACTS = {
    "console": Facts(
        "plain", 100000, "chars", (), "console://[stderr|stdout]", (), _COMMON, local=True
    ),
    "dingtalk": Facts(
        "dingtalk",
        18000,
        "bytes",
        (Rate(20, 60.0),),
        "dingtalk://[secret@]access_token",
        (("oapi.dingtalk.com", "/robot/send"),),
        _SIGNED,
    ),
    "discord": Facts(
        "discord",
        DESCRIPTION_LIMIT,
        "chars",
        # 5 per webhook in any 2 s, 30 a minute into one channel
        (Rate(5, 2.0), Rate(30, 60.0)),
        "discord://id/token",
        (
            ("discord.com", "/api/"),
            ("*.discord.com", "/api/"),
            ("discordapp.com", "/api/"),
            ("*.discordapp.com", "/api/"),
        ),
        _MENTION,
    ),
    "feishu": Facts(
        "feishu",
        18000,
        "bytes",
        (Rate(5, 1.0), Rate(100, 60.0)),
        "feishu://[secret@]hook_id",
        (("open.feishu.cn", "/open-apis/bot/v2/hook/"),),
        _SIGNED,
    ),
    "googlechat": Facts(
        "googlechat",
        28_000,
        "bytes",
        (Rate(1, 1.0), Rate(60, 60.0)),
        "googlechat://SPACE/KEY/TOKEN",
        (("chat.googleapis.com", "/v1/spaces/"),),
        _MENTION,
    ),
    "lark": Facts(
        "feishu",
        18000,
        "bytes",
        (Rate(5, 1.0), Rate(100, 60.0)),
        "lark://[secret@]hook_id",
        (("open.larksuite.com", "/open-apis/bot/v2/hook/"),),
        _SIGNED,
    ),
    "mattermost": Facts(
        "mattermost",
        15000,
        "chars",
        (Rate(10, 10.0),),  # self-hosted, no documented limit: 1/s with bursts of 10
        "mattermost://host[:port][/path]/key",
        (),  # self-hosted: no host to recognise
        _MENTION,
    ),
    "rocketchat": Facts(
        "rocketchat",
        4500,
        "chars",
        # the default API rate limiter rule, which applies to webhooks: 10 calls a minute
        (Rate(10, 60.0),),
        "rocketchat://host[:port][/path]/id/token",
        (),  # self-hosted: no host to recognise
        _MENTION,
    ),
    "slack": Facts(
        "slack",
        11000,
        "chars",
        # over any 3 s at most 3: a short burst, and 1/s over any longer stretch
        (Rate(3, 3.0),),
        "slack://T…/B…/…",
        (("hooks.slack.com", "/services/"), ("hooks.slack-gov.com", "/services/")),
        _MENTION,
    ),
    "teams": Facts(
        "teams",
        20_000,
        "bytes",
        (Rate(5, 5.0), Rate(30, 60.0)),
        None,
        (
            ("*.logic.azure.com", "/workflows/"),
            ("*.api.powerplatform.com", "/powerautomate/"),
            ("*.environment.api.powerplatform.com", "/powerautomate/"),
            ("*.webhook.office.com", "/webhookb2/"),
            ("outlook.office.com", "/webhook"),
            ("outlook.office365.com", "/webhook"),
        ),
        _MENTION,
    ),
    "telegram": Facts(
        "telegram",
        3700,
        "chars",
        # ~1 message a second in a chat, 20 a minute in a group
        (Rate(1, 1.0), Rate(20, 60.0)),
        "telegram://<bot token>/<chat id>",
        (("api.telegram.org", "/bot"),),
        _MENTION,
    ),
    "webhook": Facts("plain", 100000, "chars", (), None, (), _COMMON | {"secret"}),
    "wecom": Facts(
        "wecom",
        3968,
        "bytes",
        (Rate(20, 60.0),),
        "wecom://key",
        (("qyapi.weixin.qq.com", "/cgi-bin/webhook/send"),),
        _MENTION,
    ),
}


def _slack(payload: Any) -> list[str]:
    # the header block is plain_text: Slack shows it verbatim and parses nothing in it
    return [payload["text"]] + [b["text"]["text"] for b in payload["attachments"][0]["blocks"]]


def _feishu_shown(payload: Any) -> list[str]:
    return [payload["card"]["header"]["title"]["content"], *feishu_texts(payload)]


def _googlechat_shown(payload: Any) -> list[str]:
    return [payload["cardsV2"][0]["card"]["header"]["title"], paragraph(payload)]


def _first_attachment(payload: Any) -> list[str]:
    return [payload["text"], payload["attachments"][0]["text"]]


@dataclass(frozen=True)
class Reader:
    """How to read one platform's payload: the strings it parses as markup, the strings it
    shows of a huge error and the size that error must fit in (None: the platform's
    module checks that itself, as Telegram measures the text a reader sees)."""

    parsed: Callable[[Any], list[str]]
    huge: tuple[int, str, Callable[[Any], list[str]]] | None


READERS = {
    # markdown.title is the plain notification preview; the text is rendered markdown
    "dingtalk": Reader(
        lambda p: [p["markdown"]["text"]], (20_000, "bytes", lambda p: [p["markdown"]["text"]])
    ),
    # the whole body is far below Discord's limits too, counted in characters
    "discord": Reader(discord_shown, (8000, "chars", discord_shown)),
    "feishu": Reader(feishu_texts, (FEISHU_LIMIT, "bytes", _feishu_shown)),
    "lark": Reader(feishu_texts, (FEISHU_LIMIT, "bytes", _feishu_shown)),
    "googlechat": Reader(lambda p: [paragraph(p)], (GOOGLECHAT_LIMIT, "bytes", _googlechat_shown)),
    "mattermost": Reader(mattermost_markup, (POST_LIMIT, "chars", _first_attachment)),
    "rocketchat": Reader(rocketchat_markup, (ROCKETCHAT_LIMIT, "chars", _first_attachment)),
    # Slack refused payloads near 13k characters with msg_blocks_too_long
    "slack": Reader(_slack, (13_000, "chars", _slack)),
    # nothing Teams parses (its TextBlocks) may hold the error's text
    "teams": Reader(text_blocks_of, (TEAMS_LIMIT, "bytes", lambda p: run_texts(card(p)))),
    "telegram": Reader(lambda p: [p["text"]], None),
    # the content's bytes are what WeCom counts; the envelope around them is small
    "wecom": Reader(
        lambda p: [p["markdown"]["content"]],
        (CONTENT_LIMIT + 64, "bytes", lambda p: [p["markdown"]["content"]]),
    ),
}
# not chat markup: the console writes text, the generic webhook sends the event as data
UNREAD = {"console", "webhook"}

# the golden URLs; Feishu and Lark with a keyword too, which every message must then carry,
# huge ones included
CHANNEL_URLS = {
    **SAMPLE_URLS,
    "feishu": SAMPLE_URLS["feishu"] + "&keyword=alert",
    "lark": SAMPLE_URLS["lark"] + "&keyword=alert",
}

HTTP = sorted(name for name, channel in PLATFORMS.items() if not channel.local)
HUGE = sorted(name for name, reader in READERS.items() if reader.huge)
KINDS = ("alert", "digest", "storm")


def test_every_platform_is_checked() -> None:
    assert set(FACTS) == set(PLATFORMS)
    assert set(READERS) | UNREAD == set(PLATFORMS)
    assert set(SAMPLE_URLS) == set(HTTP)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_class_facts(platform: str) -> None:
    channel, facts = PLATFORMS[platform], FACTS[platform]
    assert channel.platform == platform
    assert channel.dialect == facts.dialect
    assert channel.max_length == facts.max_length
    assert channel.length_unit == facts.length_unit
    assert channel.rates == facts.rates
    assert channel.local is facts.local
    assert channel.short_form == facts.short_form
    assert channel.native_urls == facts.native_urls
    assert channel.supported_options == facts.options


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_one_module_holds_the_platform(module: Any) -> None:
    # the module's channels are registered, and escape with the module's own dialect
    assert module.CHANNELS
    for channel in module.CHANNELS:
        assert PLATFORMS[channel.platform] is channel
        assert channel.__module__ == module.__name__
        assert DIALECTS[channel.dialect] == module.DIALECT
        assert channel.sample_url, "erralert preview needs a stand-in webhook"
        assert parse_webhook(channel.sample_url).platform == channel.platform


@pytest.mark.parametrize("platform", HTTP)
@pytest.mark.parametrize("kind", KINDS)
def test_request_is_an_erralert_post(platform: str, kind: str) -> None:
    channel = parse_webhook(CHANNEL_URLS[platform])
    conformance.assert_erralert_post(conformance.render(channel, kind), kind)


@pytest.mark.parametrize("platform", sorted(READERS))
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_error_stays_inert(platform: str, kind: str) -> None:
    channel = parse_webhook(CHANNEL_URLS[platform])
    payload = conformance.payload(conformance.render(channel, kind, message=samples.HOSTILE))
    conformance.assert_inert(READERS[platform].parsed(payload), platform)


@pytest.mark.parametrize("platform", HUGE)
def test_huge_error_fits(platform: str) -> None:
    huge = READERS[platform].huge
    assert huge is not None
    limit, unit, shown = huge
    request = conformance.huge_request(parse_webhook(CHANNEL_URLS[platform]))
    conformance.assert_huge_error_fits(request, limit, unit, shown(conformance.payload(request)))

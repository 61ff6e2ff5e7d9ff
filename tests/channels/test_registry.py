"""Webhook URL in -> channel (platform, exact request URL, options) out; bad URL -> ConfigError."""

from __future__ import annotations

import pytest

from erralert._core.errors import ConfigError
from erralert._core.pacing import Rate
from erralert.channels.base import Channel, ChannelOptions
from erralert.channels.console import ConsoleChannel
from erralert.channels.dingtalk import DingTalkChannel
from erralert.channels.discord import DiscordChannel
from erralert.channels.feishu import FeishuChannel, LarkChannel
from erralert.channels.googlechat import GoogleChatChannel
from erralert.channels.masking import mask_url_secrets
from erralert.channels.mattermost import MattermostChannel
from erralert.channels.registry import NATIVE_URLS, PLATFORMS, parse_webhook
from erralert.channels.rocketchat import RocketChatChannel
from erralert.channels.slack import SlackChannel
from erralert.channels.teams import TeamsChannel
from erralert.channels.telegram import TelegramChannel
from erralert.channels.webhook import WebhookChannel
from erralert.channels.wecom import WeComChannel

SLACK_TOKEN = "T0AB12CD/B0EF34GH/XyZ0aBcD1eFgH2iJkL3mNoP4"
SLACK = f"https://hooks.slack.com/services/{SLACK_TOKEN}"
DING_TOKEN = "5f1c0a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"
DING = f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}"
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"

VALID = [
    # native URLs, pasted as the platforms give them
    (SLACK, SlackChannel, SLACK, ChannelOptions()),
    (
        f"https://hooks.slack-gov.com/services/{SLACK_TOKEN}",
        SlackChannel,
        f"https://hooks.slack-gov.com/services/{SLACK_TOKEN}",
        ChannelOptions(),
    ),
    (f"http://hooks.slack.com/services/{SLACK_TOKEN}/", SlackChannel, None, ChannelOptions()),
    (DING, DingTalkChannel, DING, ChannelOptions()),
    (
        f"{DING}&secret={SECRET}&keyword=%E6%8A%A5%E8%AD%A6&mention=13800000000,all",
        DingTalkChannel,
        DING,
        ChannelOptions(secret=SECRET, keyword="报警", mention=("13800000000", "all")),
    ),
    # unknown query parameters are the platform's: kept, byte for byte, and sent
    (
        f"{DING}&foo=a+b%2Fc&name=ops",
        DingTalkChannel,
        f"{DING}&foo=a+b%2Fc",
        ChannelOptions(name="ops"),
    ),
    # <platform>+https:// sends that platform's payload to exactly that URL
    (
        "slack+https://chat.example.com/hooks/abc?x=1&mention=U0123,here",
        SlackChannel,
        "https://chat.example.com/hooks/abc?x=1",
        ChannelOptions(mention=("U0123", "here")),
    ),
    ("dingtalk+http://127.0.0.1:8080/robot", DingTalkChannel, "http://127.0.0.1:8080/robot", None),
    (
        "webhook+https://ops.example.com/hooks/errors?secret=s3cr+t&rate=5/10",
        WebhookChannel,
        "https://ops.example.com/hooks/errors",
        ChannelOptions(secret="s3cr+t", rate=Rate(5, 10.0)),
    ),
    ("WEBHOOK+HTTPS://ops.example.com/x", WebhookChannel, "https://ops.example.com/x", None),
    # short forms
    (f"slack://{SLACK_TOKEN}", SlackChannel, SLACK, ChannelOptions()),
    (
        f"slack://{SLACK_TOKEN}?template=short",
        SlackChannel,
        SLACK,
        ChannelOptions(template="short"),
    ),
    (f"dingtalk://{DING_TOKEN}", DingTalkChannel, DING, ChannelOptions()),
    (f"dingtalk://{SECRET}@{DING_TOKEN}", DingTalkChannel, DING, ChannelOptions(secret=SECRET)),
    (
        f"dingtalk://{DING_TOKEN}?secret={SECRET}&rate=10/60s&template=zh/dingtalk",
        DingTalkChannel,
        DING,
        ChannelOptions(secret=SECRET, rate=Rate(10, 60.0), template="zh/dingtalk"),
    ),
    ("console://", ConsoleChannel, "console://stderr", ChannelOptions()),
    ("console://stdout", ConsoleChannel, "console://stdout", ChannelOptions()),
    (
        "  console://stderr?name=dev  ",
        ConsoleChannel,
        "console://stderr",
        ChannelOptions(name="dev"),
    ),
]


@pytest.mark.parametrize(("spec", "cls", "url", "options"), VALID)
def test_valid_urls(
    spec: str, cls: type[Channel], url: str | None, options: ChannelOptions | None
) -> None:
    channel = parse_webhook(spec)
    assert type(channel) is cls
    assert channel.platform == cls.platform
    if url is not None:
        assert channel.url == url
    if options is not None:
        assert channel.options == options


def test_platforms_registry() -> None:
    expected = {
        "console": ConsoleChannel,
        "dingtalk": DingTalkChannel,
        "discord": DiscordChannel,
        "feishu": FeishuChannel,
        "googlechat": GoogleChatChannel,
        "lark": LarkChannel,
        "mattermost": MattermostChannel,
        "rocketchat": RocketChatChannel,
        "slack": SlackChannel,
        "teams": TeamsChannel,
        "telegram": TelegramChannel,
        "webhook": WebhookChannel,
        "wecom": WeComChannel,
    }
    assert expected == PLATFORMS
    for name, cls in PLATFORMS.items():
        assert cls.platform == name
    assert set(NATIVE_URLS.values()) <= set(PLATFORMS)


def test_a_signed_query_value_is_sent_as_pasted() -> None:
    teams_like = (
        "webhook+https://x.example.com/invoke?api-version=2016-06-01&sig=ab%2Fcd%3D&sp=%2Ftriggers"
    )
    channel = parse_webhook(teams_like)
    assert (
        channel.url
        == "https://x.example.com/invoke?api-version=2016-06-01&sig=ab%2Fcd%3D&sp=%2Ftriggers"
    )


def test_a_platform_without_short_form_says_what_to_write() -> None:
    with pytest.raises(ConfigError, match=r"teams has no short form.*teams\+https://"):
        parse_webhook("teams://tenant/flow")


NATIVE = [
    ("https://discord.com/api/webhooks/123456/AbCdEf0123", "discord"),
    ("https://discordapp.com/api/webhooks/123456/AbCdEf0123", "discord"),
    (
        "https://prod-12.westus.logic.azure.com:443/workflows/ab12/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Z9",
        "teams",
    ),
    ("https://chat.googleapis.com/v1/spaces/AAA/messages?key=K1&token=T1", "googlechat"),
    ("https://api.telegram.org/bot123:AbC/sendMessage?chat_id=42", "telegram"),
    ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K1", "wecom"),
    ("https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c", "feishu"),
    ("https://open.larksuite.com/open-apis/bot/v2/hook/0a1b2c", "lark"),
]


@pytest.mark.parametrize(("spec", "platform"), NATIVE)
def test_every_platform_is_recognised_by_its_native_url(spec: str, platform: str) -> None:
    assert parse_webhook(spec).platform == platform


INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    ("hooks.slack.com/services/T0AB12CD/B0EF34GH/XyZ0aBcD1eFgH2iJkL3mNoP4", "not a URL"),
    ("https://[::1/x", "not a valid URL"),
    ("https://hooks.slack.com:port/services/x", "not a valid URL"),
    # an unknown https host could be anything: ask for the explicit generic form
    (
        "https://ops.example.com/hooks/AbC123",
        "write webhook\\+https://ops.example.com/hooks/\\*\\*\\*",
    ),
    ("https://hooks.slack.com/triggers/T0AB12CD/Zz9", "not its webhook path"),
    ("https://hooks.slack.com/services/T0AB12CD/B0EF34GH", "three parts"),
    ("https://oapi.dingtalk.com/robot/send", "no access_token"),
    ("https://oapi.dingtalk.com/robot/send?access_token=", "no access_token"),
    ("https://oapi.dingtalk.com/robot/sendx?access_token=Ab12", "robot/send\\?access_token"),
    ("gopher+https://example.com/x", "unknown platform 'gopher'"),
    ("slack+ftp://example.com/x", "slack\\+https://"),
    ("webhook+https:///nohost", "no host"),
    ("console+https://example.com/x", "not sent over HTTP"),
    ("ftp://example.com/x", "unknown scheme ftp://"),
    ("webhook://example.com/hook", "webhook\\+https://host/path"),
    ("slack://T0AB12CD/B0EF34GH", "three parts"),
    ("slack://T0AB12CD/B0EF34GH/Xy/extra", "three parts"),
    ("dingtalk://", "dingtalk://\\[secret@\\]access_token"),
    ("dingtalk://Ab12/extra", "dingtalk://\\[secret@\\]access_token"),
    ("console://printer", "stderr or console://stdout"),
    ("console://stdout?x=1", "takes no parameters"),
    # options
    (f"{DING}&rate=0/60", "rate '0/60'"),
    (f"{DING}&rate=20/0", "rate '20/0'"),
    (f"{DING}&rate=-1/60", "rate '-1/60'"),
    (f"{DING}&rate=twenty", "rate 'twenty'"),
    (f"{DING}&rate=20", "rate '20'"),
    (f"{DING}&secret=", "option 'secret' is empty"),
    (f"{DING}&secret=SEC1&secret=SEC2", "option 'secret' is given twice"),
    (f"dingtalk://SEC9@{DING_TOKEN}?secret=SEC1", "secret is given twice"),
    (f"{DING}&mention=,,", "names nobody"),
    (f"{DING}&template=../../etc/passwd", "not a template name"),
    (f"{SLACK}?secret=SEC1", "option 'secret' is not supported by slack"),
    (f"{SLACK}?keyword=alert", "option 'keyword' is not supported by slack"),
    (f"{SLACK}?mention=bob", "Slack mention 'bob'"),
    ("webhook+https://example.com/x?keyword=alert", "'keyword' is not supported by webhook"),
    ("webhook+https://example.com/x?mention=all", "'mention' is not supported by webhook"),
    ("console://?secret=abc", "'secret' is not supported by console"),
]


@pytest.mark.parametrize(("spec", "problem"), INVALID)
def test_invalid_urls(spec: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_webhook(spec)
    text = str(caught.value)
    for credential in (SLACK_TOKEN.split("/")[-1], "B0EF34GH", DING_TOKEN, "SEC1", "SEC2", "SEC9"):
        assert credential not in text
    if spec.strip():
        assert "webhook URL " in text  # names the culprit


@pytest.mark.parametrize(
    "spec",
    [
        f"{SLACK}?secret={SECRET}",
        f"{DING}&secret={SECRET}&rate=0/1",
        f"dingtalk://{SECRET}@{DING_TOKEN}?rate=bad",
        f"dingtalk://{DING_TOKEN}/x",
        f"slack://{SLACK_TOKEN}/extra",
        f"webhook+https://user:{SECRET}@example.com/x?keyword=k",
    ],
)
def test_errors_never_show_credentials(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_webhook(spec)
    text = str(caught.value)
    for credential in (SECRET, DING_TOKEN, "XyZ0aBcD1eFgH2iJkL3mNoP4", "T0AB12CD"):
        assert credential not in text


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        (f"{SLACK}?mention=here", "https://hooks.slack.com/services/***/***/***"),
        (f"{DING}&secret={SECRET}", "https://oapi.dingtalk.com/robot/send?access_token=***"),
        (
            f"dingtalk://{SECRET}@{DING_TOKEN}",
            "https://oapi.dingtalk.com/robot/send?access_token=***",
        ),
        (
            "webhook+https://ops.example.com/hooks/Ab12?secret=x&y=1",
            "https://ops.example.com/hooks/***?y=***",
        ),
    ],
)
def test_repr_and_name_hide_credentials(spec: str, shown: str) -> None:
    channel = parse_webhook(spec)
    assert channel.masked_url == shown
    for text in (repr(channel), channel.name, repr(channel.options)):
        assert SECRET not in text
        assert DING_TOKEN not in text
        assert "XyZ0aBcD1eFgH2iJkL3mNoP4" not in text


def test_name_option_labels_the_channel() -> None:
    channel = parse_webhook(f"{DING}&name=ops-room")
    assert channel.name == "ops-room"
    assert repr(channel) == "<DingTalkChannel ops-room>"


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("20/60", Rate(20, 60.0)), ("5/1.5", Rate(5, 1.5)), ("1/60s", Rate(1, 60.0))],
)
def test_rate_option(rate: str, expected: Rate) -> None:
    channel = parse_webhook(f"{DING}&rate={rate}")
    assert channel.options.rate == expected
    assert channel.pacing == (expected,)


def test_platform_pacing_by_default() -> None:
    assert parse_webhook(DING).pacing == (Rate(20, 60.0),)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "https://hooks.slack.com/services/T0AB/B0CD/XYZ",
            "https://hooks.slack.com/services/***/***/***",
        ),
        ("dingtalk://5f1c0a9e", "dingtalk://***"),
        ("dingtalk://SEC01@5f1c0a9e", "dingtalk://***@***"),
        ("slack://T0AB/B0CD/Xy1", "slack://***/***/***"),
        ("console://stdout", "console://stdout"),
        ("console://", "console://"),
        ("redis://localhost:6379/0", "redis://localhost:6379/***"),
        ("https://user:pw@example.com:8443/a/b?x=1#frag", "https://***@example.com:8443/a/b?x=***"),
        ("https://example.com/hook?Ab12Cd34", "https://example.com/hook?***=***"),
        ("telegram://123:AbC/42", "telegram://***/***"),
        ("https://[::1", "<unparsable url>"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url_secrets(url) == masked


# -- mentions a channel can make, and its identity ---------------------------------------------


@pytest.mark.parametrize(
    "spec", ["webhook+https://ops.example.com/hooks/Zq9sEcReT?team=core", "console://stderr"]
)
@pytest.mark.parametrize("entry", ["all", "U0123ABC", "13800000000"])
def test_a_platform_without_mentions_refuses_every_entry(spec: str, entry: str) -> None:
    channel = parse_webhook(spec)
    assert "mention" not in channel.supported_options
    with pytest.raises(ConfigError, match="cannot mention anyone") as caught:
        channel.check_mention(entry)
    assert "Zq9sEcReT" not in str(caught.value)


MENTIONING = [name for name, cls in PLATFORMS.items() if "mention" in cls.supported_options]


def test_the_platforms_that_mention() -> None:
    assert sorted(MENTIONING) == [
        "dingtalk",
        "discord",
        "feishu",
        "googlechat",
        "lark",
        "mattermost",
        "rocketchat",
        "slack",
        "teams",
        "telegram",
        "wecom",
    ]


@pytest.mark.parametrize("entry", ["", " ", " all", "all "])
def test_an_empty_or_padded_entry_is_refused_everywhere(entry: str) -> None:
    for spec in (*(spec for spec, _ in NATIVE), SLACK, DING, "mattermost://chat.example.com/k1"):
        channel = parse_webhook(spec)
        with pytest.raises(ConfigError, match="mention"):
            channel.check_mention(entry)


def test_key_is_the_ledger_and_spool_identity() -> None:
    import hashlib

    channel = parse_webhook(f"{SLACK}?mention=here&name=ops")
    expected = hashlib.sha256(SLACK.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    assert channel.key == expected
    # erralert's own options are not part of it: the same webhook is the same budget
    assert parse_webhook(SLACK).key == expected
    assert parse_webhook(DING).key != expected
    assert SLACK_TOKEN not in channel.key

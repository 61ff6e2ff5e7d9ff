"""Discord: URL in -> exact request out; Discord's answer in -> verdict out; hostile and huge
errors through the default template."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._core.notice import Kind, Notice, Storm, StormGroup
from erralert._render.renderer import Renderer
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.discord import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, DiscordChannel
from erralert.channels.payloads import USER_AGENT
from tests import samples
from tests.channels import conformance

HOOK_ID = "123456789012345678"
TOKEN = "abcDEF-123_ghiJKLmno456PQRstu789VWXyz0"
URL = f"https://discord.com/api/webhooks/{HOOK_ID}/{TOKEN}"
USER = "234567890123456789"
ROLE = "987654321098765432"
CREATED = 1_718_000_000.0  # 2024-06-10 06:13:20 UTC


def discord(*mention: str, url: str = URL) -> DiscordChannel:
    return DiscordChannel(url, ChannelOptions(mention=mention))


def message(body: str = "**KeyError** in `orders.view`", **fields: Any) -> Message:
    known = {"event_id": "5f0c2a9e0b7d4c1e9a3b6d8f1e2c4a7b", "created_at": CREATED}
    return conformance.message(body, **{**known, **fields})


def sent(channel: DiscordChannel, msg: Message, now: float | None = None) -> Any:
    return conformance.sent(channel, msg, now)


def test_max_length_is_the_description_limit() -> None:
    assert DiscordChannel.max_length == DESCRIPTION_LIMIT == 4096


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (URL, None),
        (f"{URL}/", None),
        (f"https://discordapp.com/api/webhooks/{HOOK_ID}/{TOKEN}", None),
        (f"https://canary.discord.com/api/v10/webhooks/{HOOK_ID}/{TOKEN}", None),
        (f"{URL}/slack", "drop the /slack at the end"),
        (f"{URL}/github", "drop the /github at the end"),
        (f"https://discord.com/api/webhooks/{HOOK_ID}", "/api/webhooks/{id}/{token}"),
        ("https://discord.com/api/channels/1/messages", "/api/webhooks/{id}/{token}"),
        (f"https://discord.com/api/webhooks/{HOOK_ID}/{TOKEN}/extra", "/api/webhooks/{id}"),
    ],
)
def test_check_native(url: str, problem: str | None) -> None:
    found = DiscordChannel.check_native(urlsplit(url))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_native_urls_are_recognised_by_host() -> None:
    assert ("discord.com", "/api/") in DiscordChannel.native_urls
    assert ("discordapp.com", "/api/") in DiscordChannel.native_urls
    assert ("*.discord.com", "/api/") in DiscordChannel.native_urls  # ptb. and canary.


def test_short_form_expands_to_the_native_url() -> None:
    assert DiscordChannel.expand_short(HOOK_ID, f"/{TOKEN}") == URL
    assert DiscordChannel.expand_short(HOOK_ID, f"/{TOKEN}/") == URL


@pytest.mark.parametrize(
    ("host", "path"),
    [("", f"/{TOKEN}"), ("webhook", f"/{TOKEN}"), (HOOK_ID, ""), (HOOK_ID, f"/{TOKEN}/x")],
)
def test_bad_short_forms(host: str, path: str) -> None:
    with pytest.raises(ValueError, match=r"discord://\{id\}/\{token\}"):
        DiscordChannel.expand_short(host, path)


def test_masked_url_and_repr_hide_the_id_and_token() -> None:
    channel = DiscordChannel(
        f"https://discord.com/api/webhooks/{HOOK_ID}/lowercasetoken?thread_id=9"
    )
    assert channel.masked_url == "https://discord.com/api/webhooks/***/***?thread_id=***"
    for text in (repr(channel), channel.name):
        assert HOOK_ID not in text
        assert "lowercasetoken" not in text
    assert DiscordChannel("http://127.0.0.1:8080/hook").masked_url == "http://127.0.0.1:8080/hook"


@pytest.mark.parametrize(
    ("url", "sent_to"),
    [
        (URL, f"{URL}?wait=true"),
        # Discord's own parameters are kept (thread_id posts into a thread)
        (f"{URL}?thread_id=42", f"{URL}?thread_id=42&wait=true"),
        (f"{URL}?wait=false&thread_id=42", f"{URL}?thread_id=42&wait=true"),
        ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook?wait=true"),
    ],
)
def test_wait_true_makes_discord_report_failures(url: str, sent_to: str) -> None:
    assert str(discord(url=url).build_request(message()).url) == sent_to


# -- the payload -----------------------------------------------------------------------------


def test_embed_payload() -> None:
    request = discord().build_request(message(), now=1_800_000_000.0)
    assert request.method == "POST"
    assert str(request.url) == f"{URL}?wait=true"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == USER_AGENT
    assert json.loads(request.content) == {
        "embeds": [
            {
                "title": "KeyError: 'order 1'",
                "color": 0xE01E5A,
                "footer": {"text": "erralert · event 5f0c2a9e0b7d"},
                "timestamp": "2024-06-10T06:13:20+00:00",  # when the error was decided on
                "description": "**KeyError** in `orders.view`",
            }
        ],
        "allowed_mentions": {"parse": []},
    }


@pytest.mark.parametrize(
    ("kind", "level", "colour"),
    [
        ("alert", "error", 0xE01E5A),
        ("alert", "critical", 0xE01E5A),
        ("alert", "warning", 0xF2C744),
        ("alert", "info", 0x36C5F0),
        ("digest", "error", 0xECB22E),
        ("storm", "error", 0x7C3AED),
    ],
)
def test_colour_by_kind_and_level(kind: Kind, level: str, colour: int) -> None:
    assert sent(discord(), message(kind=kind, level=level))["embeds"][0]["color"] == colour


@pytest.mark.parametrize(
    ("created_at", "now", "timestamp"),
    [
        (CREATED, None, "2024-06-10T06:13:20+00:00"),
        (0.0, 1_800_000_000.0, "2027-01-15T08:00:00+00:00"),
        (0.0, None, None),
    ],
)
def test_timestamp(created_at: float, now: float | None, timestamp: str | None) -> None:
    embed = sent(discord(), message(created_at=created_at), now)["embeds"][0]
    assert embed.get("timestamp") == timestamp


def test_title_is_escaped_and_cut_to_256() -> None:
    embed = sent(discord(), message(title="ValueError: **x** <@1> " + "y" * 400))["embeds"][0]
    assert embed["title"].startswith("ValueError: \\*\\*x\\*\\* \\<@1> yyy")
    assert len(embed["title"]) == 256
    assert embed["title"].endswith("y…")


def test_title_is_never_cut_inside_an_escape() -> None:
    title = sent(discord(), message(title="*x* " * 100))["embeds"][0]["title"]
    assert len(title) <= 256
    assert title.startswith("\\*x\\* \\*x\\* ")
    # whole "\*" pairs, then the ellipsis: no lone backslash escapes it
    assert title.endswith("…")
    assert (len(title[:-1]) - len(title[:-1].rstrip("\\"))) % 2 == 0


def test_body_over_the_limit_is_cut() -> None:
    body = "\n".join(f"line {i:03d} " + "w" * 90 for i in range(100))  # ~10k chars
    embed = sent(discord(), message(body=body))["embeds"][0]
    assert len(embed["description"]) <= DESCRIPTION_LIMIT
    assert "truncated, " in embed["description"]
    assert embed["description"].endswith("w" * 90)  # the tail (innermost frames) is kept
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    assert total <= EMBED_TOTAL_LIMIT


def test_empty_body_sends_no_description() -> None:
    assert "description" not in sent(discord(), message(body="  \n"))["embeds"][0]


def test_custom_payload_gets_allowed_mentions_unless_it_has_its_own() -> None:
    custom = {"content": "custom @everyone"}
    assert sent(discord(), message(payload=custom)) == {
        "content": "custom @everyone",
        "allowed_mentions": {"parse": []},
    }
    assert custom == {"content": "custom @everyone"}  # the message's payload is not changed
    own = {"content": "@here", "allowed_mentions": {"parse": ["everyone"]}}
    assert sent(discord(), message(payload=own)) == own


# -- mentions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "content", "allowed"),
    [
        ((USER,), f"<@{USER}>", {"parse": [], "users": [USER]}),
        ((f"user:{USER}",), f"<@{USER}>", {"parse": [], "users": [USER]}),
        ((f"role:{ROLE}",), f"<@&{ROLE}>", {"parse": [], "roles": [ROLE]}),
        ((f"&{ROLE}",), f"<@&{ROLE}>", {"parse": [], "roles": [ROLE]}),
        (("everyone",), "@everyone", {"parse": ["everyone"]}),
        (("all",), "@everyone", {"parse": ["everyone"]}),
        (("here",), "@here", {"parse": ["everyone"]}),
        (
            (USER, f"role:{ROLE}", "here", USER),
            f"<@{USER}> <@&{ROLE}> @here",
            {"parse": ["everyone"], "users": [USER], "roles": [ROLE]},
        ),
    ],
)
def test_mentions_on_alerts_of_new_errors(
    ids: tuple[str, ...], content: str, allowed: dict[str, Any]
) -> None:
    payload = sent(discord(*ids), message(mentions=ids))
    assert payload["content"] == content
    assert payload["allowed_mentions"] == allowed


def test_no_mentions_unless_the_message_has_some() -> None:
    payload = sent(discord(USER, "everyone"), message(mentions=()))
    assert "content" not in payload
    assert payload["allowed_mentions"] == {"parse": []}


OTHER_USER = "345678901234567890"


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: allowed_mentions lists exactly this message's ids
    msg = message(body="x", mentions=(f"role:{ROLE}", OTHER_USER, f"@{OTHER_USER}", "here"))
    assert sent(discord(USER, "everyone"), msg) == {
        "content": f"<@{OTHER_USER}> <@&{ROLE}> @here",
        "embeds": [
            {
                "title": "KeyError: 'order 1'",
                "color": 0xE01E5A,
                "footer": {"text": "erralert · event 5f0c2a9e0b7d"},
                "timestamp": "2024-06-10T06:13:20+00:00",
                "description": "x",
            }
        ],
        "allowed_mentions": {"parse": ["everyone"], "users": [OTHER_USER], "roles": [ROLE]},
    }


def test_mentions_without_any_configured() -> None:
    payload = sent(discord(), message(mentions=(USER,)))
    assert payload["content"] == f"<@{USER}>"
    assert payload["allowed_mentions"] == {"parse": [], "users": [USER]}


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    payload = sent(discord(), message(mentions=("bob", f"role:{ROLE}")))
    assert payload["content"] == f"<@&{ROLE}>"
    assert payload["allowed_mentions"] == {"parse": [], "roles": [ROLE]}


@pytest.mark.parametrize(
    "bad", ["bob", "@bob", "<@123456789012345678>", "role:abc", "12345", "channel", "U0123ABC"]
)
def test_bad_mention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="Discord mention") as caught:
        discord(bad)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("good", [USER, f"user:{USER}", f"role:{ROLE}", f"&{ROLE}", "all"])
def test_check_mention_accepts(good: str) -> None:
    discord().check_mention(good)


@pytest.mark.parametrize(
    "bad", ["bob", "@bob", "<@123456789012345678>", "role:abc", "12345", "channel", "U0123ABC"]
)
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match="Discord mention") as caught:
        discord().check_mention(bad)
    assert TOKEN not in str(caught.value)


def test_too_many_mentions_is_a_config_error() -> None:
    ids = tuple(str(10**17 + i) for i in range(101))
    with pytest.raises(ConfigError, match="at most 100"):
        discord(*ids)


def test_a_message_with_too_many_mentions_is_cut_to_the_limits() -> None:
    users = [str(10**17 + i) for i in range(150)]
    roles = [f"role:{10**17 + i}" for i in range(150)]
    payload = sent(discord(), message(mentions=(*users, *roles, "everyone")))
    allowed = payload["allowed_mentions"]
    content = payload["content"]
    assert len(content) <= 2000
    assert allowed["users"] == users[: len(allowed["users"])]
    assert len(allowed["users"]) <= 100
    assert len(allowed.get("roles", [])) <= 100
    # allowed_mentions lists exactly what content names
    named = [f"<@{u}>" for u in allowed["users"]]
    named += [f"<@&{r}>" for r in allowed.get("roles", [])]
    named += ["@everyone"] if allowed["parse"] == ["everyone"] else []
    assert content == " ".join(named)


def test_a_message_of_many_users_keeps_the_first_100() -> None:
    # 15-digit ids: 100 of them fit in the content, and the id limit cuts the rest
    users = [str(10**14 + i) for i in range(150)]
    payload = sent(discord(), message(mentions=tuple(users)))
    assert payload["allowed_mentions"] == {"parse": [], "users": users[:100]}
    assert payload["content"] == " ".join(f"<@{u}>" for u in users[:100])


def test_a_message_of_long_mentions_keeps_what_fits_the_content() -> None:
    # 18-digit ids: "<@…> " is 22 characters, 90 of them fit in 2000
    users = [str(10**17 + i) for i in range(100)]
    payload = sent(discord(), message(mentions=tuple(users)))
    assert payload["allowed_mentions"] == {"parse": [], "users": users[:90]}
    assert len(payload["content"]) == 90 * 22 - 1


# -- the default template, hostile and huge errors ------------------------------------------

# mention syntax that would render or ping on Discord if it survived
_LIVE = re.compile(r"<@[!&]?\d|<#\d|<t:|<a?:\w+:\d|@everyone|@here")


def unescaped(text: str) -> str:
    """The characters Discord reads as markup: a backslash takes the next punctuation out
    of play, and code spans and blocks (any number of backticks) show their text
    literally."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            i += 2
        elif text[i] == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            close = text.find("`" * run, i + run)
            while close >= 0 and text[close + run : close + run + 1] == "`":
                close = text.find("`" * run, close + run + 1)
            i = i + run if close < 0 else close + run
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def shown(payload: dict[str, Any]) -> list[str]:
    """The texts Discord parses as markdown: content, embed titles and descriptions."""
    texts = [payload.get("content", "")]
    for embed in payload["embeds"]:
        texts += [embed.get("title", ""), embed.get("description", "")]
    return texts


def hostile_storm() -> Notice:
    group = StormGroup(title=samples.HOSTILE, culprit=samples.HOSTILE, count=7)
    storm = Storm(groups=(group,), total=7, since=samples.NOW, until=samples.NOW + 2)
    base = samples.notice("storm")
    return Notice("storm", base.event, base.occurrences, storm=storm, created_at=samples.NOW)


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_default_template_fits(kind: str) -> None:
    request = conformance.render(discord(), kind)
    assert str(request.url) == f"{URL}?wait=true"
    embed = conformance.payload(request)["embeds"][0]
    assert embed["title"]
    assert 0 < len(embed["description"]) <= DESCRIPTION_LIMIT
    assert embed["timestamp"].startswith("2026-11-26T18:2")


@pytest.mark.parametrize(
    "notice",
    [
        samples.notice("alert", samples.event(message=samples.HOSTILE)),
        # a second line puts the message in the body as well as in the title
        samples.notice("alert", samples.event(message=f"{samples.HOSTILE}\n{samples.HOSTILE}")),
        samples.notice("digest", samples.event(message=samples.HOSTILE)),
        hostile_storm(),
    ],
    ids=["alert", "alert-body", "digest", "storm"],
)
def test_hostile_error_stays_inert(notice: Notice) -> None:
    channel = discord()
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    assert payload["allowed_mentions"] == {"parse": []}
    assert "content" not in payload
    texts = shown(payload)
    conformance.assert_inert(texts, "discord")
    for text in texts:
        live = unescaped(text)
        assert not _LIVE.search(live), text
        # outside code, no "[label](" Discord reads as one: no masked link can open (the
        # title's own "[checkout·prod]" is followed by no "(")
        assert not re.search(r"\[[^\]]*\]\(", live), text


def test_hostile_error_with_mentions_mentions_only_the_configured() -> None:
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE), mentions=True)
    channel = discord(USER)
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    assert payload["content"] == f"<@{USER}>"
    assert payload["allowed_mentions"] == {"parse": [], "users": [USER]}
    conformance.assert_inert(shown(payload)[1:], "discord")


def test_huge_error_fits_the_embed_limits() -> None:
    embed = conformance.payload(conformance.huge_request(discord()))["embeds"][0]
    assert len(embed["title"]) <= 256
    assert len(embed["description"]) <= DESCRIPTION_LIMIT
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    assert total <= EMBED_TOTAL_LIMIT


# -- Discord's answers -----------------------------------------------------------------------


def answer(status: int, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


INVALID_BODY = {
    "code": 50035,
    "message": "Invalid Form Body",
    "errors": {
        "embeds": {
            "0": {
                "description": {
                    "_errors": [
                        {
                            "code": "BASE_TYPE_MAX_LENGTH",
                            "message": "Must be 4096 or fewer in length.",
                        }
                    ]
                },
                "title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Too long."}]},
            }
        }
    },
}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(200, json={"id": "1", "content": ""}), Judgement(Verdict.OK)),
        (answer(204), Judgement(Verdict.OK)),
        (
            answer(
                429,
                json={
                    "message": "You are being rate limited.",
                    "retry_after": 0.35,
                    "global": False,
                },
                headers={"Retry-After": "1"},
            ),
            Judgement(Verdict.RETRY, "HTTP 429: You are being rate limited. (rate limited)", 0.35),
        ),
        (
            answer(
                429,
                json={"message": "You are being rate limited.", "retry_after": 1.5, "global": True},
            ),
            Judgement(
                Verdict.RETRY, "HTTP 429: You are being rate limited. (global rate limit)", 1.5
            ),
        ),
        (
            # milliseconds, as reported for URLs without an API version: the header wins
            answer(
                429,
                json={"message": "You are being rate limited.", "retry_after": 1500},
                headers={"Retry-After": "2"},
            ),
            Judgement(Verdict.RETRY, "HTTP 429: You are being rate limited. (rate limited)", 2.0),
        ),
        (
            answer(429, text="error code: 1015", headers={"Retry-After": "60"}),  # Cloudflare
            Judgement(Verdict.RETRY, "HTTP 429: error code: 1015", 60.0),
        ),
        (
            answer(400, json=INVALID_BODY),
            Judgement(
                Verdict.FAIL,
                "HTTP 400: Invalid Form Body (code 50035): embeds.0.description: Must be 4096 "
                "or fewer in length.; embeds.0.title: Too long.",
            ),
        ),
        (
            answer(400, json={"message": "Cannot send an empty message", "code": 50006}),
            Judgement(Verdict.FAIL, "HTTP 400: Cannot send an empty message (code 50006)"),
        ),
        (
            answer(401, json={"message": "Invalid Webhook Token", "code": 50027}),
            Judgement(
                Verdict.FAIL,
                "HTTP 401: Invalid Webhook Token (code 50027); the webhook's token is wrong or "
                "was regenerated: copy the webhook URL again",
            ),
        ),
        (
            answer(404, json={"message": "Unknown Webhook", "code": 10015}),
            Judgement(
                Verdict.FAIL,
                "HTTP 404: Unknown Webhook (code 10015); the webhook was deleted, or the URL is "
                "wrong: create one and copy its URL",
            ),
        ),
        (
            answer(403, json={"message": "Missing Permissions", "code": 50013}),
            Judgement(
                Verdict.FAIL,
                "HTTP 403: Missing Permissions (code 50013); the webhook may not post there "
                "(a locked or archived thread, missing permissions)",
            ),
        ),
        (
            answer(502, json={"message": "502: Bad Gateway", "code": 0}),
            Judgement(Verdict.RETRY, "HTTP 502: 502: Bad Gateway"),
        ),
        (
            answer(503, text="upstream connect error"),
            Judgement(Verdict.RETRY, "HTTP 503: upstream connect error"),
        ),
    ],
)
def test_judge(response: httpx.Response, expected: Judgement) -> None:
    assert discord().judge(response) == expected

"""Microsoft Teams (Workflows): URL in -> exact request out; the workflow's answer in ->
verdict out; hostile and huge errors through the default template."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from erralert.channels.base import USER_AGENT, ChannelOptions, Judgement, Message, Rate, Verdict
from erralert.channels.teams import BODY_LIMIT, TeamsChannel, text_blocks
from erralert.errors import ConfigError
from erralert.notice import Kind, Notice, Storm, StormGroup
from erralert.render import Renderer
from tests import samples
from tests.channels import conformance

QUERY = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zm9vYmFyYmF6cXV4"
URL = (
    "https://prod-12.westus.logic.azure.com:443/workflows/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    f"/triggers/manual/paths/invoke?{QUERY}"
)
PLATFORM_URL = (
    "https://default0a1b2c3d4e5f.05.environment.api.powerplatform.com:443/powerautomate/"
    "automations/direct/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"
    "?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zm9vYmFy"
)
ADA = "ada@contoso.com"
OBJECT_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
TITLE_BLOCK = {
    "type": "TextBlock",
    "text": "KeyError: 'order 1'",
    "size": "Large",
    "weight": "Bolder",
    "color": "Attention",
    "wrap": True,
}


def teams(*mention: str, url: str = URL) -> TeamsChannel:
    return TeamsChannel(url, ChannelOptions(mention=mention))


def message(
    body: str = "**KeyError** in orders.view",
    *,
    title: str = "KeyError: 'order 1'",
    kind: Kind = "alert",
    level: str = "error",
    mentions: tuple[str, ...] = (),
    payload: dict[str, Any] | None = None,
) -> Message:
    return Message(
        kind=kind, title=title, body=body, level=level, mentions=mentions, payload=payload
    )


def card(payload: dict[str, Any]) -> dict[str, Any]:
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content: dict[str, Any] = attachment["content"]
    return content


def sent(channel: TeamsChannel, msg: Message) -> Any:
    request = channel.build_request(msg)
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == USER_AGENT
    return json.loads(request.content)


def test_class_facts() -> None:
    assert TeamsChannel.platform == "teams"
    assert TeamsChannel.dialect == "teams"
    assert TeamsChannel.length_unit == "bytes"
    assert TeamsChannel.max_length == 20_000
    assert TeamsChannel.rates == (Rate(5, 5.0), Rate(30, 60.0))
    assert TeamsChannel.short_form is None
    assert "mention" in TeamsChannel.supported_options


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (URL, None),
        (PLATFORM_URL, None),
        (URL.replace("&sig=Zm9vYmFyYmF6cXV4", ""), "has no sig="),
        (URL.replace("sig=Zm9vYmFyYmF6cXV4", "sig="), "has no sig="),
        (
            "https://prod-12.westus.logic.azure.com/workflows/0a1b/runs?sig=x",
            "/triggers/manual/paths/invoke",
        ),
        (
            "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d",
            "Microsoft retired those connectors",
        ),
        ("https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d", "retired"),
    ],
)
def test_check_native(url: str, problem: str | None) -> None:
    found = TeamsChannel.check_native(urlsplit(url))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_native_urls() -> None:
    assert ("*.logic.azure.com", "/workflows/") in TeamsChannel.native_urls
    assert ("*.api.powerplatform.com", "/powerautomate/") in TeamsChannel.native_urls
    assert ("*.environment.api.powerplatform.com", "/powerautomate/") in TeamsChannel.native_urls


def test_no_short_form() -> None:
    with pytest.raises(ValueError, match="no short form"):
        TeamsChannel.expand_short("x", "")


@pytest.mark.parametrize("url", [URL, PLATFORM_URL])
def test_every_query_parameter_is_sent(url: str) -> None:
    request = teams(url=url).build_request(message())
    # httpx drops the default :443; the path and every parameter (sig included) are kept
    assert str(request.url) == url.replace(":443", "")
    assert urlsplit(str(request.url)).query == urlsplit(url).query


def test_masked_url_hides_the_signature_and_workflow() -> None:
    channel = teams()
    assert channel.masked_url == (
        "https://prod-12.westus.logic.azure.com:443/workflows/***/triggers/manual/paths/invoke"
        "?api-version=***&sp=***&sv=***&sig=***"
    )
    assert "Zm9v" not in repr(channel)


# -- the payload -----------------------------------------------------------------------------


def test_card_payload() -> None:
    assert sent(teams(), message()) == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        TITLE_BLOCK,
                        {"type": "TextBlock", "text": "**KeyError** in orders.view", "wrap": True},
                    ],
                    "msteams": {"width": "Full"},
                },
            }
        ],
    }


@pytest.mark.parametrize(
    ("kind", "level", "colour"),
    [
        ("alert", "error", "Attention"),
        ("alert", "critical", "Attention"),
        ("alert", "fatal", "Attention"),
        ("alert", "warning", "Warning"),
        ("alert", "INFO", "Accent"),
        ("alert", "debug", "Default"),
        ("digest", "error", "Warning"),
        ("storm", "warning", "Attention"),
    ],
)
def test_title_colour_by_kind_and_level(kind: Kind, level: str, colour: str) -> None:
    title = card(sent(teams(), message(kind=kind, level=level)))["body"][0]
    assert title["color"] == colour


def test_title_is_markdown_escaped() -> None:
    title = card(sent(teams(), message(title="ValueError: **x** <at>ops</at>")))["body"][0]
    assert title["text"] == "ValueError: &#42;&#42;x&#42;&#42; &lt;at>ops&lt;/at>"


def block(text: str, spaced: bool = True, **extra: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True, **extra}
    if not spaced:
        out["spacing"] = "None"
    return out


@pytest.mark.parametrize(
    ("body", "blocks"),
    [
        ("", []),
        ("one", [block("one")]),
        # lines that follow each other sit tight; a blank line leaves the default gap
        ("a\nb\n\nc", [block("a"), block("b", False), block("c")]),
        ("a\n\n\n\nb", [block("a"), block("b")]),
        # a list stays one TextBlock: Teams keeps line breaks inside lists
        (
            "x\n- 1\n- 2\n1. a\n2. b\ny",
            [block("x"), block("- 1\n- 2\n1. a\n2. b", False), block("y", False)],
        ),
        ("- 1\n\n- 2", [block("- 1"), block("- 2")]),
        # a fenced block: monospace lines, indentation kept as no-break spaces
        (
            "t\n```\nf.py:1 in g\n    return x\n\n```\nafter",
            [
                block("t"),
                block("f.py:1 in g", fontType="Monospace"),
                block("\u00a0\u00a0\u00a0\u00a0return x", False, fontType="Monospace"),
                block("after"),
            ],
        ),
        ("```\ncode", [block("code", fontType="Monospace")]),  # an unclosed fence (cut)
        ("~~~\ncode\n~~~", [block("code", fontType="Monospace")]),
    ],
)
def test_text_blocks(body: str, blocks: list[dict[str, Any]]) -> None:
    assert text_blocks(body) == blocks


def test_custom_payload_is_sent_as_is() -> None:
    custom = {"type": "message", "attachments": []}
    assert sent(teams(ADA), message(payload=custom, mentions=(ADA,))) == custom


def test_oversized_body_is_cut_to_fit() -> None:
    # many short lines: each becomes a TextBlock, so the card outgrows the body
    body = "\n".join(f"line {i:04d}" for i in range(4000))  # ~40k bytes of card
    request = teams().build_request(message(body=body))
    assert len(request.content) <= BODY_LIMIT
    texts = [b["text"] for b in card(json.loads(request.content))["body"]]
    assert texts[1] == "line 0000"
    assert texts[-1] == "line 3999"  # the tail (innermost frames) is kept
    assert any("truncated, " in t for t in texts)


def test_body_that_fits_is_not_cut() -> None:
    body = "é" * 9000  # 18000 bytes, one line
    texts = [b["text"] for b in card(sent(teams(), message(body=body)))["body"]]
    assert texts[1] == body


# -- mentions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "tags", "mentioned"),
    [
        ((ADA,), [f"<at>{ADA}</at>"], [{"id": ADA, "name": ADA}]),
        (
            (f"Ada Lovelace|{ADA}",),
            ["<at>Ada Lovelace</at>"],
            [{"id": ADA, "name": "Ada Lovelace"}],
        ),
        (
            (f"On call|{OBJECT_ID}", f"Ada|{ADA}", f"Ada|{ADA}"),
            ["<at>On call</at>", "<at>Ada</at>"],
            [{"id": OBJECT_ID, "name": "On call"}, {"id": ADA, "name": "Ada"}],
        ),
    ],
)
def test_mentions_on_alerts_of_new_errors(
    ids: tuple[str, ...], tags: list[str], mentioned: list[dict[str, str]]
) -> None:
    content = card(sent(teams(*ids), message(mentions=ids)))
    assert content["body"][1] == {"type": "TextBlock", "text": " ".join(tags), "wrap": True}
    assert content["msteams"] == {
        "width": "Full",
        "entities": [
            {"type": "mention", "text": tag, "mentioned": who}
            for tag, who in zip(tags, mentioned, strict=True)
        ],
    }


def test_no_mentions_unless_the_message_has_some() -> None:
    content = card(sent(teams(ADA), message(mentions=())))
    assert content["msteams"] == {"width": "Full"}
    assert "<at>" not in json.dumps(content)
    assert len(content["body"]) == 2


GRACE = "grace@contoso.com"


def test_the_message_mentions_not_the_channel() -> None:
    # routing adds people of its own: the message's entries are mentioned, each once
    msg = message(mentions=(f"Grace Hopper|{GRACE}", OBJECT_ID, f"Grace Hopper|{GRACE}"))
    assert sent(teams(ADA), msg) == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        TITLE_BLOCK,
                        {
                            "type": "TextBlock",
                            "text": f"<at>Grace Hopper</at> <at>{OBJECT_ID}</at>",
                            "wrap": True,
                        },
                        {"type": "TextBlock", "text": "**KeyError** in orders.view", "wrap": True},
                    ],
                    "msteams": {
                        "width": "Full",
                        "entities": [
                            {
                                "type": "mention",
                                "text": "<at>Grace Hopper</at>",
                                "mentioned": {"id": GRACE, "name": "Grace Hopper"},
                            },
                            {
                                "type": "mention",
                                "text": f"<at>{OBJECT_ID}</at>",
                                "mentioned": {"id": OBJECT_ID, "name": OBJECT_ID},
                            },
                        ],
                    },
                },
            }
        ],
    }


def test_mentions_without_any_configured() -> None:
    content = card(sent(teams(), message(mentions=(ADA,))))
    assert content["body"][1] == {"type": "TextBlock", "text": f"<at>{ADA}</at>", "wrap": True}
    assert content["msteams"]["entities"] == [
        {"type": "mention", "text": f"<at>{ADA}</at>", "mentioned": {"id": ADA, "name": ADA}}
    ]


def test_a_malformed_entry_of_a_message_is_left_out() -> None:
    content = card(sent(teams(), message(mentions=("all", ADA))))
    assert content["body"][1]["text"] == f"<at>{ADA}</at>"
    assert len(content["msteams"]["entities"]) == 1


@pytest.mark.parametrize("good", [ADA, OBJECT_ID, f"Ada Lovelace|{ADA}"])
def test_check_mention_accepts(good: str) -> None:
    teams().check_mention(good)


@pytest.mark.parametrize(
    "bad",
    ["all", "everyone", "bob", "@bob", "ada@", "Ada|", "<at>x</at>|ada@contoso.com", "a<b|x@y.z"],
)
def test_check_mention_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match="Teams mention") as caught:
        teams().check_mention(bad)
    assert "Zm9v" not in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    ["all", "everyone", "bob", "@bob", "ada@", "Ada|", "<at>x</at>|ada@contoso.com", "a<b|x@y.z"],
)
def test_bad_mention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="Teams mention") as caught:
        teams(bad)
    assert "Zm9v" not in str(caught.value)


# -- the default template, hostile and huge errors ------------------------------------------


def texts_of(payload: dict[str, Any]) -> list[str]:
    """Every TextBlock's text: Teams parses all of them as markdown (and <at> tags)."""
    return [b["text"] for b in card(payload)["body"]]


def hostile_storm() -> Notice:
    group = StormGroup(title=samples.HOSTILE, culprit=samples.HOSTILE, count=7)
    storm = Storm(groups=(group,), total=7, since=samples.NOW, until=samples.NOW + 2)
    base = samples.notice("storm")
    return Notice("storm", base.event, base.occurrences, storm=storm, created_at=samples.NOW)


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_default_template_fits(kind: str) -> None:
    request = conformance.render(teams(), kind)
    assert len(request.content) <= BODY_LIMIT
    texts = texts_of(conformance.payload(request))
    assert len(texts) > 1
    assert all(t.strip() for t in texts)


def test_default_alert_shows_frames_in_monospace() -> None:
    blocks = card(conformance.payload(conformance.render(teams(), "alert")))["body"]
    mono = [b["text"] for b in blocks if b.get("fontType") == "Monospace"]
    assert mono[0] == "shop/checkout/step_1.py:11 in step_1"
    assert (
        mono[-1]
        == '\u00a0\u00a0\u00a0\u00a0raise PaymentError(f"card declined for order {order.id}")'
    )


@pytest.mark.parametrize(
    "notice",
    [
        samples.notice("alert", samples.event(message=samples.HOSTILE)),
        samples.notice("alert", samples.event(message=f"{samples.HOSTILE}\n{samples.HOSTILE}")),
        samples.notice("digest", samples.event(message=samples.HOSTILE)),
        hostile_storm(),
    ],
    ids=["alert", "alert-body", "digest", "storm"],
)
def test_hostile_error_stays_inert(notice: Notice) -> None:
    channel = teams()
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    assert "entities" not in card(payload)["msteams"]
    texts = texts_of(payload)
    conformance.assert_inert(texts, "teams")
    for text in texts:
        assert "<at" not in text.lower()  # no mention tag can form from untrusted text
        assert "[" not in text  # no markdown link: its "[" is a character reference


def test_hostile_error_with_mentions_mentions_only_the_configured() -> None:
    notice = samples.notice(
        "alert", samples.event(message=f"{samples.HOSTILE}\n<at>Ada</at>"), mentions=True
    )
    channel = teams(f"Ada|{ADA}")
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    assert [e["mentioned"]["id"] for e in card(payload)["msteams"]["entities"]] == [ADA]
    texts = texts_of(payload)
    assert sum(t.count("<at>") for t in texts) == 1  # only the configured mention's tag
    assert texts[1] == "<at>Ada</at>"
    conformance.assert_inert(texts[2:], "teams")


def test_huge_error_fits() -> None:
    request = conformance.huge_request(teams())
    conformance.assert_huge_error_fits(
        request, BODY_LIMIT, "bytes", texts_of(conformance.payload(request))
    )
    assert len(request.content) < 28 * 1000  # Teams' "about 28 KB", however it counts


# -- the workflow's answers ------------------------------------------------------------------


def answer(status: int, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, **kwargs)


def error(code: str, text: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": text}}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(202), Judgement(Verdict.OK)),
        (answer(200, text=""), Judgement(Verdict.OK)),
        (
            answer(
                429,
                json=error("WorkflowTriggerIsThrottled", "The workflow is throttled."),
                headers={"Retry-After": "17"},
            ),
            Judgement(
                Verdict.RETRY,
                "HTTP 429: WorkflowTriggerIsThrottled: The workflow is throttled.",
                17.0,
            ),
        ),
        (
            answer(502, json=error("BadGateway", "Upstream failed.")),
            Judgement(Verdict.RETRY, "HTTP 502: BadGateway: Upstream failed."),
        ),
        (
            answer(503, text="Service Unavailable"),
            Judgement(Verdict.RETRY, "HTTP 503: Service Unavailable"),
        ),
        (
            answer(400, json=error("TriggerInputSchemaMismatch", "The input body does not match.")),
            Judgement(
                Verdict.FAIL,
                "HTTP 400: TriggerInputSchemaMismatch: The input body does not match.",
            ),
        ),
        (
            answer(
                401,
                json=error("DirectApiAuthorizationRequired", "The request must be authenticated."),
            ),
            Judgement(
                Verdict.FAIL,
                "HTTP 401: DirectApiAuthorizationRequired: The request must be authenticated.",
            ),
        ),
        (
            answer(403, json=error("AuthorizationFailed", "The signature does not match.")),
            Judgement(Verdict.FAIL, "HTTP 403: AuthorizationFailed: The signature does not match."),
        ),
        (
            answer(404, json=error("WorkflowNotFound", "The workflow could not be found.")),
            Judgement(Verdict.FAIL, "HTTP 404: WorkflowNotFound: The workflow could not be found."),
        ),
        (
            answer(413, json=error("RequestEntityTooLarge", "Request entity too large.")),
            Judgement(
                Verdict.FAIL,
                "HTTP 413: RequestEntityTooLarge: Request entity too large.; Teams takes "
                "cards up to about 28 KB",
            ),
        ),
        (
            answer(413, text="too large"),
            Judgement(Verdict.FAIL, "HTTP 413: too large; Teams takes cards up to about 28 KB"),
        ),
    ],
)
def test_judge(response: httpx.Response, expected: Judgement) -> None:
    assert teams().judge(response) == expected

"""Microsoft Teams (Workflows): URL in -> exact request out; the workflow's answer in ->
verdict out; links as the card's buttons; error text in TextRuns exactly as written;
hostile and huge errors through the default template."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.notice import Kind, Notice, Storm, StormGroup
from erralert._render.renderer import Renderer
from erralert.channels import DIALECTS
from erralert.channels.base import ChannelOptions, Judgement, Message, Verdict
from erralert.channels.teams import BODY_LIMIT, LINKS_BUDGET, TeamsChannel
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
    "type": "RichTextBlock",
    "inlines": [
        {
            "type": "TextRun",
            "text": "KeyError: 'order 1'",
            "size": "Large",
            "weight": "Bolder",
            "color": "Attention",
        }
    ],
}
BODY_BLOCK = {
    "type": "RichTextBlock",
    "inlines": [
        {"type": "TextRun", "text": "KeyError", "weight": "Bolder"},
        {"type": "TextRun", "text": " in orders.view"},
    ],
}


def teams(*mention: str, url: str = URL) -> TeamsChannel:
    return TeamsChannel(url, ChannelOptions(mention=mention))


def message(body: str = "**KeyError** in orders.view", **fields: Any) -> Message:
    return conformance.message(body, **fields)


def card(payload: dict[str, Any]) -> dict[str, Any]:
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content: dict[str, Any] = attachment["content"]
    return content


def sent(channel: TeamsChannel, msg: Message) -> Any:
    return conformance.sent(channel, msg, None)


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
                    "body": [TITLE_BLOCK, BODY_BLOCK],
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
    assert title["inlines"][0]["color"] == colour


def test_title_is_shown_as_written() -> None:
    # a TextRun is never parsed: no escape, no mention, no markup
    title = "ValueError: **x** <at>ops</at> [a](http://e) &amp; `c` _i_"
    assert card(sent(teams(), message(title=title)))["body"][0]["inlines"] == [
        {
            "type": "TextRun",
            "text": title,
            "size": "Large",
            "weight": "Bolder",
            "color": "Attention",
        }
    ]


# -- links ----------------------------------------------------------------------------------

SOURCE = Link("source", "https://github.com/org/shop/blob/1.4.3/shop/pay.py#L42")
LOGS = Link("logs & traces", "https://grafana.example/explore?q=req-1&from=now-1h")


def test_links_are_the_cards_open_url_actions() -> None:
    content = card(sent(teams(), message(links=(SOURCE, LOGS))))
    assert content["actions"] == [
        {"type": "Action.OpenUrl", "title": "source", "url": SOURCE.url},
        {"type": "Action.OpenUrl", "title": "logs & traces", "url": LOGS.url},
    ]
    # the rest of the card is what it is without links
    without = card(sent(teams(), message()))
    assert {k: v for k, v in content.items() if k != "actions"} == without
    assert "actions" not in without


def test_links_stay_within_their_budget() -> None:
    many = tuple(Link(f"link {i}", f"https://x.example/{'p' * 900}/{i}") for i in range(10))
    actions = card(sent(teams(), message(links=many)))["actions"]
    assert [a["title"] for a in actions] == ["link 0", "link 1", "link 2", "link 3"]
    assert len(json.dumps(actions)) <= LINKS_BUDGET


def test_custom_payload_is_sent_as_is() -> None:
    custom = {"type": "message", "attachments": []}
    assert sent(teams(ADA), message(payload=custom, mentions=(ADA,))) == custom


def run_texts(content: dict[str, Any]) -> list[str]:
    """The text of each RichTextBlock of a card's body (its runs joined)."""
    return [
        "".join(run["text"] for run in block["inlines"])
        for block in content["body"]
        if block["type"] == "RichTextBlock"
    ]


def test_oversized_body_is_cut_to_fit() -> None:
    # many short lines: each becomes a RichTextBlock, so the card outgrows the body
    body = "\n".join(f"line {i:04d}" for i in range(4000))  # ~40k bytes of card
    request = teams().build_request(message(body=body, links=(SOURCE, LOGS)))
    assert len(request.content) <= BODY_LIMIT
    content = card(json.loads(request.content))
    texts = run_texts(content)
    assert texts[1] == "line 0000"
    assert texts[-1] == "line 3999"  # the tail (innermost frames) is kept
    assert any("truncated, " in t for t in texts)
    assert len(content["actions"]) == 2  # the links are kept whole


def test_body_that_fits_is_not_cut() -> None:
    body = "é" * 9000  # 18000 bytes, one line
    assert run_texts(card(sent(teams(), message(body=body))))[1] == body


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
    assert content["body"][2] == BODY_BLOCK
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
                        BODY_BLOCK,
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


def text_blocks_of(payload: dict[str, Any]) -> list[str]:
    """Every TextBlock's text: Teams parses them as markdown (and <at> tags)."""
    return [b["text"] for b in card(payload)["body"] if b["type"] == "TextBlock"]


def runs_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every TextRun of the card, the title's first."""
    return [
        run
        for block in card(payload)["body"]
        if block["type"] == "RichTextBlock"
        for run in block["inlines"]
    ]


def shown_text(payload: dict[str, Any]) -> str:
    """What the card shows, one line per block (TextRuns are shown as written)."""
    return "\n".join(run_texts(card(payload)))


def hostile_storm() -> Notice:
    group = StormGroup(title=samples.HOSTILE, culprit=samples.HOSTILE, count=7)
    storm = Storm(groups=(group,), total=7, since=samples.NOW, until=samples.NOW + 2)
    base = samples.notice("storm")
    return Notice("storm", base.event, base.occurrences, storm=storm, created_at=samples.NOW)


@pytest.mark.parametrize("kind", ["alert", "digest", "storm"])
def test_default_template_fits(kind: str) -> None:
    request = conformance.render(teams(), kind)
    assert len(request.content) <= BODY_LIMIT
    payload = conformance.payload(request)
    texts = run_texts(card(payload))
    assert len(texts) > 1
    assert all(t.strip() for t in texts)
    assert all(run["text"] for run in runs_of(payload))  # Teams refuses an empty TextRun


def test_default_alert_shows_frames_in_monospace() -> None:
    payload = conformance.payload(conformance.render(teams(), "alert"))
    mono = [
        run["text"].replace("\u00a0", " ").strip()
        for run in runs_of(payload)
        if run.get("fontType") == "Monospace"
    ]
    assert 'raise PaymentError(f"card declined for order {order.id}")' in mono


CODE_LINE = "return _client.charge(amount=int(total * 100), **kw) if a < b & `x` else __d__"


def test_a_code_line_is_byte_identical_in_its_run() -> None:
    # as a template's code block writes it, and as a code span
    for body in (DIALECTS["teams"].block(CODE_LINE, "python"), DIALECTS["teams"].span(CODE_LINE)):
        runs = runs_of(sent(teams(), message(body=body)))[1:]
        assert runs == [{"type": "TextRun", "text": CODE_LINE, "fontType": "Monospace"}]


def test_a_rendered_code_line_is_byte_identical(tmp_path: Path) -> None:
    # through the renderer: the template's |code_span and |code_block of the frame's line
    (tmp_path / "teams.j2").write_text(
        '{% extends "_base.j2" %}{% block body %}'
        "**At** {{ event.culprit_frame.context_line|code_span }}\n"
        '{{ event.culprit_frame.context_line|code_block("python") }}'
        "{% endblock %}",
        encoding="utf-8",
    )
    event = samples.event()
    exception = event.exceptions[0]
    frames = (*exception.frames[:-1], replace(exception.frames[-1], context_line=CODE_LINE))
    event = replace(event, exceptions=(replace(exception, frames=frames),))
    request = conformance.render(teams(), event=event, renderer=Renderer(tmp_path))
    mono = [
        r["text"] for r in runs_of(conformance.payload(request)) if r.get("fontType") == "Monospace"
    ]
    assert mono == [CODE_LINE, CODE_LINE]
    assert CODE_LINE in request.content.decode()  # grep -F on the raw payload finds it


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
    assert text_blocks_of(payload) == []  # nothing Teams parses: no mention, link or markup
    if notice.kind != "digest":  # (a digest may leave the message out)
        assert samples.HOSTILE in shown_text(payload)  # every character, as written


def test_hostile_text_reaches_the_runs_verbatim_wherever_the_template_puts_it(
    tmp_path: Path,
) -> None:
    # prose, next to the template's own bold and italic, a list item, a code span, a code
    # block, and the legacy |code inside the template's own backticks
    (tmp_path / "teams.j2").write_text(
        '{% extends "_base.j2" %}{% block body %}{% set m = event.exception.message %}'
        "**Message** {{ m }}\n"
        "_{{ m }}_\n"
        "- {{ m }}\n"
        "{{ m|code_span }}\n"
        "{{ m|code_block }}\n"
        "`{{ m|code }}`"
        "{% endblock %}",
        encoding="utf-8",
    )
    channel = teams()
    notice = samples.notice("alert", samples.event(message=samples.HOSTILE))
    payload = conformance.payload(channel.build_request(Renderer(tmp_path).render(notice, channel)))
    assert text_blocks_of(payload) == []
    assert "entities" not in card(payload)["msteams"]
    blocks = [b["inlines"] for b in card(payload)["body"][1:]]
    hostile = samples.HOSTILE
    assert blocks[0] == [
        {"type": "TextRun", "text": "Message", "weight": "Bolder"},
        {"type": "TextRun", "text": f" {hostile}"},
    ]
    assert blocks[1] == [{"type": "TextRun", "text": hostile, "italic": True}]
    assert blocks[2] == [{"type": "TextRun", "text": f"• {hostile}"}]
    assert blocks[3] == [{"type": "TextRun", "text": hostile, "fontType": "Monospace"}]
    assert blocks[4] == [{"type": "TextRun", "text": hostile, "fontType": "Monospace"}]
    # |code breaks out of the span around the backticks, which show as text
    assert "".join(run["text"] for run in blocks[5]) == hostile
    assert [r["text"] for r in blocks[5] if "fontType" not in r] == ["`", "`"]
    assert len(blocks) == 6
    assert not any("\\" in run["text"] for block in blocks for run in block)  # no escapes


def test_hostile_error_with_mentions_mentions_only_the_configured() -> None:
    notice = samples.notice(
        "alert", samples.event(message=f"{samples.HOSTILE}\n<at>Ada</at>"), mentions=True
    )
    channel = teams(f"Ada|{ADA}")
    payload = conformance.payload(channel.build_request(Renderer().render(notice, channel)))
    assert [e["mentioned"]["id"] for e in card(payload)["msteams"]["entities"]] == [ADA]
    assert text_blocks_of(payload) == ["<at>Ada</at>"]  # the configured mention alone
    assert "<at>Ada</at>" in shown_text(payload)  # the error's text, shown as written


def test_huge_error_fits_what_teams_accepts() -> None:
    request = conformance.huge_request(teams())
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

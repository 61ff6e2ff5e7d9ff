"""Slack's incoming webhooks: Block Kit's limits, its refusals in one word
(``invalid_blocks``, ``no_text`` …), about a message a second per webhook; its view:
Block Kit blocks (actions as link buttons) and legacy attachments, text in mrkdwn.
"""

from __future__ import annotations

import json
from typing import Any

from erralert.inbox.markup.markdown import markdown
from erralert.inbox.markup.mrkdwn import mrkdwn
from erralert.inbox.markup.safe import esc, link
from erralert.inbox.platforms.base import Answer, Incoming, Platform, retry_header
from erralert.inbox.platforms.parts import bar, button_row, dict_of, legacy_fields, list_of, str_of
from erralert.inbox.ratelimit import RateLimit

__all__ = ["Slack"]

_SLACK_BLOCK_TYPES = frozenset(
    {"header", "section", "context", "divider", "markdown", "rich_text", "image", "actions"}
)


class Slack(Platform):
    name = "slack"
    label = "Slack"
    rank = 10
    paths = (r"/services/(?P<hook>[^/]+/[^/]+/[^/]+)/?",)  # /services/{T}/{B}/{X}
    example = "/services/T000/B000/XXXX"
    # "about one message per second per webhook, short bursts allowed": a minute's worth in
    # any minute, however bunched
    rates = (RateLimit(60, 60.0),)

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return Answer.text(400, "invalid_payload", "invalid_payload: the body is not JSON")
        text = payload.get("text")
        blocks = payload.get("blocks")
        attachments = payload.get("attachments")
        if not (isinstance(text, str) and text.strip()) and not blocks and not attachments:
            return Answer.text(400, "no_text", "no_text: no text, blocks or attachments")
        problem = _blocks_problem(blocks, "blocks")
        if problem is None and attachments is not None:
            if not isinstance(attachments, list):
                problem = "attachments is not a list"
            for i, attachment in enumerate(attachments if isinstance(attachments, list) else []):
                if isinstance(attachment, dict) and problem is None:
                    problem = _blocks_problem(attachment.get("blocks"), f"attachments[{i}].blocks")
        if problem is not None:
            return Answer.text(400, "invalid_blocks", f"invalid_blocks: {problem}")
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        # payloads near 13k characters were refused with this word (not documented)
        if size > 13_000:
            return Answer.text(
                400,
                "msg_blocks_too_long",
                f"msg_blocks_too_long: the payload is {size} characters (Slack refuses ~13000)",
            )
        return None

    def throttled(self, wait: float) -> Answer:
        return Answer.text(
            429, "rate_limited", "rate_limited: over ~1 message/s", headers=retry_header(wait)
        )

    def title(self, payload: dict[str, Any]) -> str:
        # the header block's text, else the text, the first block's text, an attachment's
        blocks = payload.get("blocks") or []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "header":
                return str_of(block["text"]["text"])
        text = str_of(payload.get("text"))
        if not text:
            for block in blocks:
                if isinstance(block, dict) and isinstance(block.get("text"), dict):
                    text = str_of(block["text"].get("text"))
                    break
        if not text:
            for attachment in payload.get("attachments") or []:
                text = str_of(attachment.get("title")) or str_of(attachment.get("fallback"))
                if text:
                    break
        # mrkdwn's three escapes
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)

    def markup(self, text: str) -> str:
        return mrkdwn(text)


def _blocks_problem(blocks: Any, where: str) -> str | None:
    """What is wrong with a list of Block Kit blocks, or None."""
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return f"{where} is not a list"
    if len(blocks) > 50:
        return f"{where} has {len(blocks)} blocks (at most 50)"
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        if not isinstance(block, dict) or block.get("type") not in _SLACK_BLOCK_TYPES:
            return f"{at} is not a block Slack knows"
        kind = block["type"]
        text = block.get("text")
        text = text if isinstance(text, dict) else {}
        words = text.get("text")
        if kind == "header":
            if not isinstance(words, str) or not words or text.get("type") != "plain_text":
                return f"{at}: a header needs plain_text"
            if len(words) > 150:
                return f"{at}: header text is {len(words)} characters (at most 150)"
        elif kind == "section":
            fields = block.get("fields")
            if words is None and not fields:
                return f"{at}: a section needs text or fields"
            if words is not None and (not isinstance(words, str) or not 1 <= len(words) <= 3000):
                return f"{at}: section text must be 1 to 3000 characters"
            if fields is not None and (not isinstance(fields, list) or len(fields) > 10):
                return f"{at}: a section has at most 10 fields"
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return f"{at}: a context block has 1 to 10 elements"
        elif kind == "markdown":
            words = block.get("text")
            if not isinstance(words, str) or len(words) > 12_000:
                return f"{at}: markdown text must be at most 12000 characters"
        elif kind == "actions":
            problem = _actions_problem(block.get("elements"), at)
            if problem is not None:
                return problem
    return None


def _actions_problem(elements: Any, at: str) -> str | None:
    """What is wrong with an actions block's elements ("Actions block", "Button element":
    at most 25 elements; a button's plain_text at most 75 characters, its url at most
    3000), in the words of Slack's ``invalid_blocks`` details."""
    if not isinstance(elements, list) or not elements:
        return f"{at}.elements: must provide a non-empty array"
    if len(elements) > 25:
        return f"{at}.elements: must provide an array with no more than 25 items"
    for j, element in enumerate(elements):
        where = f"{at}.elements[{j}]"
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            return f"{where}: must provide an object with a type"
        if element["type"] != "button":
            continue
        text = element.get("text")
        text = text if isinstance(text, dict) else {}
        words = text.get("text")
        if not isinstance(words, str) or not words or text.get("type") != "plain_text":
            return f"{where}.text: must be a plain_text object with text"
        if len(words) > 75:
            return f"{where}.text: must be less than 76 characters"
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > 3000):
            return f"{where}.url: must be less than 3001 characters"
    return None


# -- the view --------------------------------------------------------------------------------


def render(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    blocks = list_of(payload.get("blocks"))
    if blocks:
        parts.append(_blocks_html(blocks))
    elif str_of(payload.get("text")):
        parts.append(f'<div class="mrkdwn">{mrkdwn(payload["text"])}</div>')
    for attachment in list_of(payload.get("attachments")):
        attachment = dict_of(attachment)
        inner = _slack_legacy(attachment)
        inner += _blocks_html(list_of(attachment.get("blocks")))
        parts.append(bar(attachment.get("color"), inner))
    return "".join(parts)


def _slack_text(obj: Any) -> str:
    obj = dict_of(obj)
    text = str_of(obj.get("text"))
    if obj.get("type") == "plain_text":
        return esc(text)
    return f'<span class="mrkdwn">{mrkdwn(text)}</span>'


def _blocks_html(blocks: list[Any]) -> str:
    out: list[str] = []
    for block in blocks:
        block = dict_of(block)
        kind = block.get("type")
        if kind == "header":
            words = str_of(dict_of(block.get("text")).get("text"))
            out.append(f'<div class="sl-header">{esc(words)}</div>')
        elif kind == "section":
            section = ""
            if block.get("text"):
                section += f"<div>{_slack_text(block['text'])}</div>"
            fields = list_of(block.get("fields"))
            if fields:
                cells = "".join(f"<div>{_slack_text(f)}</div>" for f in fields)
                section += f'<div class="fields">{cells}</div>'
            out.append(f'<div class="sl-section">{section}</div>')
        elif kind == "context":
            items = []
            for element in list_of(block.get("elements")):
                element = dict_of(element)
                if element.get("type") == "image":
                    items.append(
                        f'<span class="img">[{esc(str_of(element.get("alt_text")))}]</span>'
                    )
                else:
                    items.append(_slack_text(element))
            out.append(f'<div class="context">{" ".join(items)}</div>')
        elif kind == "divider":
            out.append("<hr>")
        elif kind == "markdown":
            out.append(f'<div class="md">{markdown(str_of(block.get("text")))}</div>')
        elif kind == "image":
            out.append(f'<div class="img">[image: {esc(str_of(block.get("alt_text")))}]</div>')
        elif kind == "actions":
            out.append(_actions_html(list_of(block.get("elements"))))
        else:
            out.append(f'<div class="note">[{esc(kind)} block]</div>')
    return "".join(out)


def _actions_html(elements: list[Any]) -> str:
    """An actions block: its buttons (a link button opens its ``url``); other elements
    (menus, date pickers) by their type."""
    buttons: list[tuple[str, Any]] = []
    others: list[str] = []
    for element in elements:
        element = dict_of(element)
        if element.get("type") == "button":
            buttons.append((str_of(dict_of(element.get("text")).get("text")), element.get("url")))
        else:
            others.append(f'<div class="note">[{esc(element.get("type"))}]</div>')
    return button_row(buttons) + "".join(others)


def _slack_legacy(attachment: dict[str, Any]) -> str:
    """A legacy attachment's pretext, title, text and fields (also Mattermost's and
    Rocket.Chat's, which copied them)."""
    out: list[str] = []
    if str_of(attachment.get("pretext")):
        out.append(f'<div class="mrkdwn">{mrkdwn(attachment["pretext"])}</div>')
    if str_of(attachment.get("title")):
        title = esc(attachment["title"])
        out.append(f'<div class="att-title">{link(attachment.get("title_link"), title)}</div>')
    if str_of(attachment.get("text")):
        out.append(f'<div class="mrkdwn">{mrkdwn(attachment["text"])}</div>')
    out.append(legacy_fields(attachment, mrkdwn))
    if str_of(attachment.get("footer")):
        out.append(f'<div class="context">{esc(attachment["footer"])}</div>')
    return "".join(out)

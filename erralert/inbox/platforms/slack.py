"""Slack's incoming webhooks: Block Kit's limits, its refusals in one word
(``invalid_blocks``, ``no_text`` …), about a message a second per webhook.
"""

from __future__ import annotations

import json
from typing import Any

from erralert.inbox.platforms.base import Answer, Incoming, Platform, retry_header
from erralert.inbox.ratelimit import RateLimit

__all__ = ["Slack"]


_SLACK_BLOCK_TYPES = frozenset(
    {"header", "section", "context", "divider", "markdown", "rich_text", "image", "actions"}
)


class Slack(Platform):
    name = "slack"
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
        problem = _slack_blocks(blocks, "blocks")
        if problem is None and attachments is not None:
            if not isinstance(attachments, list):
                problem = "attachments is not a list"
            for i, attachment in enumerate(attachments if isinstance(attachments, list) else []):
                if isinstance(attachment, dict) and problem is None:
                    problem = _slack_blocks(attachment.get("blocks"), f"attachments[{i}].blocks")
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


def _slack_blocks(blocks: Any, where: str) -> str | None:
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
            problem = _slack_actions(block.get("elements"), at)
            if problem is not None:
                return problem
    return None


def _slack_actions(elements: Any, at: str) -> str | None:
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

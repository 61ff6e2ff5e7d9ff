"""Microsoft Teams through a Workflows (Power Automate) trigger: the request's size and
schema, and the cards the flow's "post card" step cannot show after its 202.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from erralert.inbox.platforms.base import Answer, Incoming, Platform

__all__ = ["Teams"]


_ADAPTIVE = "application/vnd.microsoft.card.adaptive"


class Teams(Platform):
    name = "teams"
    # "approximately 28 KB"; held to the smaller reading
    body_limit: ClassVar[int] = 28_000

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > self.body_limit:
            message = (
                f"The request is {len(incoming.body)} bytes; Teams takes messages up to about "
                "28 KB."
            )
            # Power Automate's error envelope; the code name is (unverified)
            return Answer.json(
                413,
                {"error": {"code": "RequestEntityTooLarge", "message": message}},
                f"413 RequestEntityTooLarge: {message}",
            )
        payload = incoming.payload
        if not isinstance(payload, dict):
            message = "The request content is not valid and could not be deserialized."
            return Answer.json(
                400,
                {"error": {"code": "InvalidRequestContent", "message": message}},
                f"400 InvalidRequestContent: {message}",
            )
        problem = _teams_problem(payload)
        if problem is None:
            return None
        message = (
            "The input body for trigger 'manual' of type 'Request' did not match its schema "
            f"definition: {problem}"
        )
        return Answer.json(
            400,
            {"error": {"code": "TriggerInputSchemaMismatch", "message": message}},
            f"400 TriggerInputSchemaMismatch: {problem}",
        )

    def accepted(self, incoming: Incoming) -> Answer:
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        problem = _teams_card_problem(payload)
        if problem is not None:
            # the trigger takes the request; the flow's "post card" step fails later, and
            # nobody tells the sender (the flow runs after the 202)
            return Answer(202, error=f"accepted, but the flow cannot post the card: {problem}")
        return Answer(202)


def _teams_card_problem(payload: dict[str, Any]) -> str | None:
    """What in the cards Teams cannot show: a RichTextBlock whose ``inlines`` are not
    TextRuns (or strings) with text, an ``Action.OpenUrl`` without an absolute URL
    (Adaptive Cards schema: ``RichTextBlock.inlines``, ``TextRun.text``,
    ``Action.OpenUrl.url`` are required)."""
    for i, attachment in enumerate(_teams_list(payload.get("attachments"))):
        card = attachment.get("content")
        card = card if isinstance(card, dict) else {}
        for j, element in enumerate(_teams_list(card.get("body"))):
            at = f"attachments[{i}].content.body[{j}]"
            if element.get("type") == "RichTextBlock":
                inlines = element.get("inlines")
                if not isinstance(inlines, list):
                    return f"{at}: a RichTextBlock needs inlines"
                for k, run in enumerate(inlines):
                    if isinstance(run, str):
                        continue
                    if not isinstance(run, dict) or run.get("type") != "TextRun":
                        return f"{at}.inlines[{k}]: not a TextRun"
                    if not isinstance(run.get("text"), str) or not run["text"]:
                        return f"{at}.inlines[{k}]: a TextRun needs text"
        for j, action in enumerate(_teams_list(card.get("actions"))):
            at = f"attachments[{i}].content.actions[{j}]"
            if action.get("type") == "Action.OpenUrl" and not _absolute_url(action.get("url")):
                return f"{at}: Action.OpenUrl needs an absolute url"
    return None


def _teams_list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _absolute_url(value: Any) -> bool:
    return isinstance(value, str) and bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s]+$", value))


def _teams_problem(payload: dict[str, Any]) -> str | None:
    if payload.get("type") != "message":
        return "'type' must be 'message'"
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "'attachments' must be a non-empty list"
    for i, attachment in enumerate(attachments):
        if not isinstance(attachment, dict) or attachment.get("contentType") != _ADAPTIVE:
            return f"attachments[{i}].contentType must be '{_ADAPTIVE}'"
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            return f"attachments[{i}].content must be an AdaptiveCard"
        if not isinstance(content.get("body", []), list):
            return f"attachments[{i}].content.body must be a list"
    return None

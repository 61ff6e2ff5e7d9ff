"""DingTalk's custom robots: HTTP 200 with ``errcode`` in the body, 20 KB, the message
types' parameters, the signature in the query string, keyword security, 20 a minute. Its
view: markdown, text, link and actionCard messages, and who is @-ed.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from erralert.inbox.markup.markdown import Flavour, markdown
from erralert.inbox.markup.safe import esc
from erralert.inbox.platforms.base import Answer, Incoming, Platform, errcode, has_keyword
from erralert.inbox.platforms.parts import button_row, dict_of, list_of, pings, str_of
from erralert.inbox.ratelimit import RateLimit
from erralert.inbox.signatures import check_dingtalk

__all__ = ["DingTalk"]

# HTML underneath (<font>): references decoded; no code; mentions only through "at"
_DINGTALK = Flavour(entities=True, code="none", fences=False, font=True)


class DingTalk(Platform):
    name = "dingtalk"
    label = "DingTalk"
    rank = 80
    paths = (r"/robot/send/?(?P<hook>)",)  # /robot/send?access_token=…
    example = "/robot/send?access_token=token"
    flavour = _DINGTALK
    rates = (RateLimit(20, 60.0),)  # per robot; errcode 130101 past it
    keyword_security = True
    body_limit: ClassVar[int] = 20_000  # bytes; errcode 460101 past it

    def rate_key(self, incoming: Incoming) -> str:
        return incoming.query.get("access_token", incoming.hook)

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > self.body_limit:
            return errcode(460101, "message too long, exceed 20000 bytes")
        payload = incoming.payload
        # 40035 is DingTalk's "missing parameter" code; its wording here is (unverified)
        if not isinstance(payload, dict):
            return errcode(40035, "缺少参数 json")
        msgtype = payload.get("msgtype")
        if msgtype == "text":
            body = payload.get("text")
            if not isinstance(body, dict) or not str(body.get("content", "")).strip():
                return errcode(40035, "缺少参数 text.content")
        elif msgtype == "markdown":
            body = payload.get("markdown")
            if not isinstance(body, dict) or not str(body.get("title", "")).strip():
                return errcode(40035, "缺少参数 markdown.title")
            if not str(body.get("text", "")).strip():
                return errcode(40035, "缺少参数 markdown.text")
        elif msgtype == "actionCard":
            return _action_card_problem(payload.get("actionCard"))
        elif msgtype not in ("link", "feedCard"):
            return errcode(40035, "缺少参数 msgtype")
        return None

    def text_of(self, payload: Any) -> str:
        return json.dumps({k: v for k, v in payload.items() if k != "at"}, ensure_ascii=False)

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        # signed in the query string: timestamp (ms) and sign
        query = incoming.query
        words = check_dingtalk(
            secret, query.get("timestamp"), query.get("sign"), incoming.received_at
        )
        return None if words is None else errcode(310000, words)

    def keyword_refusal(self, keywords: tuple[str, ...], incoming: Incoming) -> Answer | None:
        if has_keyword(self.text_of(incoming.payload), keywords):
            return None
        return errcode(310000, "keywords not in content")

    def accepted(self, incoming: Incoming) -> Answer:
        return errcode(0, "ok")

    def throttled(self, wait: float) -> Answer:
        return errcode(130101, "send too fast, exceed 20 times per minute")

    def title(self, payload: dict[str, Any]) -> str:
        # markdown's title (what the notification shows), a link's or actionCard's title
        msgtype = payload.get("msgtype")
        if msgtype == "markdown":
            return str_of(payload["markdown"].get("title")) or str_of(
                payload["markdown"].get("text")
            )
        if msgtype in ("link", "actionCard"):
            return str_of(payload[msgtype].get("title"))
        return str_of(payload.get("text", {}).get("content"))

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)


def _action_card_problem(card: Any) -> Answer | None:
    """An actionCard without its parameters ("自定义机器人消息类型": ``title``, ``text``, and
    either ``singleTitle`` with ``singleURL`` or ``btns`` of ``title`` and ``actionURL``);
    the wording of the answer is (unverified)."""
    if not isinstance(card, dict):
        return errcode(40035, "缺少参数 actionCard")
    for field in ("title", "text"):
        if not str(card.get(field, "")).strip():
            return errcode(40035, f"缺少参数 actionCard.{field}")
    if card.get("singleTitle") or card.get("singleURL"):
        if not (card.get("singleTitle") and card.get("singleURL")):
            return errcode(40035, "缺少参数 actionCard.singleURL")
        return None
    buttons = card.get("btns")
    if not isinstance(buttons, list) or not buttons:
        return errcode(40035, "缺少参数 actionCard.btns")
    for button in buttons:
        if not isinstance(button, dict) or not button.get("title") or not button.get("actionURL"):
            return errcode(40035, "缺少参数 actionCard.btns.title/actionURL")
    return None


# -- the view --------------------------------------------------------------------------------


def render(payload: dict[str, Any]) -> str:
    msgtype = payload.get("msgtype")
    parts: list[str] = []
    if msgtype == "markdown":
        body = dict_of(payload.get("markdown"))
        # the title is what the notification shows; the chat shows the text
        title = esc(str_of(body.get("title")))
        parts.append(f'<div class="context">notification: {title}</div>')
        parts.append(f'<div class="md">{markdown(str_of(body.get("text")), _DINGTALK)}</div>')
    elif msgtype == "text":
        parts.append(
            f'<div class="plain">{esc(str_of(dict_of(payload.get("text")).get("content")))}</div>'
        )
    elif msgtype in ("link", "actionCard"):
        body = dict_of(payload.get(msgtype))
        parts.append(f'<div class="dt-title">{esc(str_of(body.get("title")))}</div>')
        parts.append(f'<div class="md">{markdown(str_of(body.get("text")), _DINGTALK)}</div>')
        if msgtype == "actionCard":
            parts.append(_dingtalk_buttons(body))
    else:
        parts.append(f'<pre class="plain">{esc(json.dumps(payload, ensure_ascii=False))}</pre>')
    at = dict_of(payload.get("at"))
    who = [f"@{m}" for m in list_of(at.get("atMobiles"))] + [
        f"@{u}" for u in list_of(at.get("atUserIds"))
    ]
    if at.get("isAtAll") is True:
        who.insert(0, "@all")
    parts.append(pings(who))
    return "".join(parts)


def _dingtalk_buttons(card: dict[str, Any]) -> str:
    """An actionCard's buttons: one (``singleTitle``, ``singleURL``) or many (``btns`` of
    ``title`` and ``actionURL``), side by side when ``btnOrientation`` is "1"."""
    if str_of(card.get("singleTitle")):
        return button_row([(card["singleTitle"], card.get("singleURL"))])
    buttons = [
        (str_of(dict_of(b).get("title")), dict_of(b).get("actionURL"))
        for b in list_of(card.get("btns"))
    ]
    return button_row(buttons, vertical=str(card.get("btnOrientation", "0")) != "1")

"""DingTalk's view: markdown, text, link and actionCard messages, and who is @-ed."""

from __future__ import annotations

import json
from typing import Any

from erralert.inbox.markup.markdown import FLAVOURS, markdown
from erralert.inbox.markup.safe import esc
from erralert.inbox.views.parts import button_row, dict_of, list_of, pings, str_of

__all__ = ["render"]

_DINGTALK = FLAVOURS["dingtalk"]


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

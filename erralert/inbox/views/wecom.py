"""WeCom's view: markdown or text, and the mentioned users and mobiles."""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.markdown import FLAVOURS, markdown
from erralert.inbox.markup.safe import esc
from erralert.inbox.views.parts import dict_of, list_of, pings, str_of

__all__ = ["render"]


def render(payload: dict[str, Any]) -> str:
    msgtype = str_of(payload.get("msgtype"))
    body = dict_of(payload.get(msgtype))
    content = str_of(body.get("content"))
    if msgtype.startswith("markdown"):
        rendered = f'<div class="md">{markdown(content, FLAVOURS["wecom"])}</div>'
    else:
        rendered = f'<div class="plain">{esc(content)}</div>'
    who = [
        f"@{w}" if w != "@all" else "@all" for w in map(str, list_of(body.get("mentioned_list")))
    ]
    who += [f"@{m}" for m in list_of(body.get("mentioned_mobile_list"))]
    return rendered + pings(who)

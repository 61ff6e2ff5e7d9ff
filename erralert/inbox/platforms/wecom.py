"""WeCom's group robots: HTTP 200 with ``errcode`` in the body, the content's byte limit
per message type, 20 a minute. Its view: markdown or text, and the mentioned users and
mobiles.
"""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.markdown import Flavour, markdown
from erralert.inbox.markup.safe import esc
from erralert.inbox.platforms.base import Answer, Incoming, Platform, errcode
from erralert.inbox.platforms.parts import dict_of, list_of, pings, str_of, strip_tags
from erralert.inbox.ratelimit import RateLimit

__all__ = ["WeCom"]

_WECOM = Flavour(entities=True, code="single", fences=False, tag_mentions=True, font=True)


class WeCom(Platform):
    name = "wecom"
    label = "WeCom"
    rank = 90
    paths = (r"/cgi-bin/webhook/send/?(?P<hook>)",)  # /cgi-bin/webhook/send?key=…
    example = "/cgi-bin/webhook/send?key=key"
    flavour = _WECOM
    rates = (RateLimit(20, 60.0),)  # per robot; errcode 45009 past it

    def rate_key(self, incoming: Incoming) -> str:
        return incoming.query.get("key", incoming.hook)

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return errcode(40058, "invalid Request Parameter: the body is not JSON")
        msgtype = payload.get("msgtype")
        limits = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
        if msgtype not in limits:
            return errcode(40008, "invalid message type")
        body = payload.get(msgtype)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            return errcode(44004, "empty content")
        size = len(content.encode())
        if size > limits[msgtype]:
            return errcode(
                40058, f"{msgtype}.content exceed max length {limits[msgtype]}. ({size} bytes)"
            )
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return errcode(0, "ok")

    def throttled(self, wait: float) -> Answer:
        return errcode(45009, "api freq out of limit")

    def title(self, payload: dict[str, Any]) -> str:
        # the content, without its tags (<font>, <@id>)
        msgtype = str_of(payload.get("msgtype"))
        return strip_tags(str_of(payload.get(msgtype, {}).get("content")))

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)


# -- the view --------------------------------------------------------------------------------


def render(payload: dict[str, Any]) -> str:
    msgtype = str_of(payload.get("msgtype"))
    body = dict_of(payload.get(msgtype))
    content = str_of(body.get("content"))
    if msgtype.startswith("markdown"):
        rendered = f'<div class="md">{markdown(content, _WECOM)}</div>'
    else:
        rendered = f'<div class="plain">{esc(content)}</div>'
    who = [
        f"@{w}" if w != "@all" else "@all" for w in map(str, list_of(body.get("mentioned_list")))
    ]
    who += [f"@{m}" for m in list_of(body.get("mentioned_mobile_list"))]
    return rendered + pings(who)

"""Discord's view: content and embeds in Discord's markdown, and who would be pinged."""

from __future__ import annotations

import re
from typing import Any

from erralert.inbox.markup.markdown import FLAVOURS, markdown, markdown_inline
from erralert.inbox.markup.safe import esc, link
from erralert.inbox.views.parts import bar, dict_of, list_of, pings, str_of, when

__all__ = ["render"]

_DISCORD = FLAVOURS["discord"]


def render(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    content = str_of(payload.get("content"))
    if content:
        parts.append(f'<div class="md">{markdown(content, _DISCORD)}</div>')
    for embed in list_of(payload.get("embeds")):
        embed = dict_of(embed)
        inner = ""
        author = str_of(dict_of(embed.get("author")).get("name"))
        if author:
            inner += f'<div class="context">{esc(author)}</div>'
        if str_of(embed.get("title")):
            title = markdown_inline(embed["title"], _DISCORD)
            inner += f'<div class="em-title">{link(embed.get("url"), title)}</div>'
        if str_of(embed.get("description")):
            inner += f'<div class="md">{markdown(embed["description"], _DISCORD)}</div>'
        cells = []
        for item in list_of(embed.get("fields")):
            item = dict_of(item)
            wide = "" if item.get("inline") else ' class="wide"'
            cells.append(
                f"<div{wide}><b>{markdown_inline(str_of(item.get('name')), _DISCORD)}</b>"
                f'<div class="md">{markdown(str_of(item.get("value")), _DISCORD)}</div></div>'
            )
        if cells:
            inner += f'<div class="fields three">{"".join(cells)}</div>'
        footer = str_of(dict_of(embed.get("footer")).get("text"))
        if footer or embed.get("timestamp"):
            inner += f'<div class="context">{esc(footer)} {when(embed.get("timestamp"))}</div>'
        parts.append(bar(embed.get("color"), inner))
    parts.append(_discord_pings(payload))
    return "".join(parts)


def _discord_pings(payload: dict[str, Any]) -> str:
    """Who Discord would notify: the mentions in ``content`` that ``allowed_mentions``
    lets through (without it, every mention pings)."""
    content = str_of(payload.get("content"))
    users = re.findall(r"<@!?(\d+)>", content)
    roles = re.findall(r"<@&(\d+)>", content)
    everyone = re.findall(r"@(everyone|here)\b", content)
    if not (users or roles or everyone):
        return ""
    allowed = payload.get("allowed_mentions")
    if not isinstance(allowed, dict):
        who = [f"@{u}" for u in users] + [f"@&{r}" for r in roles] + [f"@{e}" for e in everyone]
        return pings(who)
    parse = set(list_of(allowed.get("parse")))
    allowed_users = {str(u) for u in list_of(allowed.get("users"))}
    allowed_roles = {str(r) for r in list_of(allowed.get("roles"))}
    who = [f"@{u}" for u in users if "users" in parse or u in allowed_users]
    who += [f"@&{r}" for r in roles if "roles" in parse or r in allowed_roles]
    who += [f"@{e}" for e in everyone if "everyone" in parse]
    return pings(who, "" if who else "nobody (allowed_mentions)")

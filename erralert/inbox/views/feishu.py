"""Feishu's (and Lark's) view: interactive cards, rich-text posts, and text in lark_md."""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.markdown import FLAVOURS, markdown
from erralert.inbox.markup.safe import chip, esc, link
from erralert.inbox.views.parts import button_row, dict_of, list_of, str_of

__all__ = ["render"]

_FEISHU = FLAVOURS["feishu"]


_FEISHU_TEMPLATES = {
    "blue",
    "wathet",
    "turquoise",
    "green",
    "yellow",
    "orange",
    "red",
    "carmine",
    "violet",
    "purple",
    "indigo",
    "grey",
}


def render(payload: dict[str, Any]) -> str:
    card = payload.get("card")
    if isinstance(card, dict):
        return _feishu_card(card)
    content = dict_of(payload.get("content"))
    post = content.get("post")
    if isinstance(post, dict):
        return _feishu_post(post)
    return f'<div class="md">{markdown(str_of(content.get("text")), _FEISHU)}</div>'


def _feishu_card(card: dict[str, Any]) -> str:
    header = dict_of(card.get("header"))
    template = str(header.get("template", "blue")).lower()
    template = template if template in _FEISHU_TEMPLATES else "blue"
    title = str_of(dict_of(header.get("title")).get("content"))
    out = [f'<div class="fs-header fs-{template}">{esc(title)}</div>'] if header else []
    for element in list_of(card.get("elements")):
        out.append(_feishu_element(dict_of(element)))
    return f'<div class="fs-card">{"".join(out)}</div>'


def _feishu_text(obj: Any) -> str:
    obj = dict_of(obj)
    text = str_of(obj.get("content"))
    return markdown(text, _FEISHU) if obj.get("tag") == "lark_md" else f"<p>{esc(text)}</p>"


def _feishu_element(element: dict[str, Any]) -> str:
    tag = element.get("tag")
    if tag == "div":
        inner = _feishu_text(element.get("text")) if element.get("text") else ""
        cells = "".join(
            f"<div{'' if dict_of(f).get('is_short') else ' class=wide'}>"
            f"{_feishu_text(dict_of(f).get('text'))}</div>"
            for f in list_of(element.get("fields"))
        )
        if cells:
            inner += f'<div class="fields">{cells}</div>'
        return f'<div class="fs-div">{inner}</div>'
    if tag == "markdown":
        # the rich text element: inline code, code blocks, <at>, links
        return f'<div class="fs-div">{markdown(str_of(element.get("content")), _FEISHU)}</div>'
    if tag == "hr":
        return "<hr>"
    if tag == "note":
        items = " ".join(_feishu_text(e) for e in list_of(element.get("elements")))
        return f'<div class="context fs-note">{items}</div>'
    if tag == "action":
        buttons: list[tuple[str, Any]] = []
        for action in list_of(element.get("actions")):
            action = dict_of(action)
            buttons.append((str_of(dict_of(action.get("text")).get("content")), action.get("url")))
        return f'<div class="fs-div">{button_row(buttons)}</div>'
    return f'<div class="note">[{esc(tag)}]</div>'


def _feishu_post(post: dict[str, Any]) -> str:
    language = next((v for v in post.values() if isinstance(v, dict)), {})
    out = [f'<div class="dt-title">{esc(str_of(language.get("title")))}</div>']
    for line in list_of(language.get("content")):
        pieces = []
        for item in list_of(line):
            item = dict_of(item)
            if item.get("tag") == "a":
                pieces.append(link(item.get("href"), esc(str_of(item.get("text")))))
            elif item.get("tag") == "at":
                who = str_of(item.get("user_id"))
                pieces.append(
                    chip("@all" if who == "all" else f"@{str_of(item.get('user_name')) or who}")
                )
            else:
                pieces.append(esc(str_of(item.get("text"))))
        out.append(f"<p>{''.join(pieces)}</p>")
    return "".join(out)

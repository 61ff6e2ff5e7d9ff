"""Feishu's (and Lark's) custom bots: ``code`` and ``msg`` in the body, 20 KB, the
message types' content, card buttons, the signature in the body, keyword security. Their
view: interactive cards, rich-text posts, and text in lark_md.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from erralert.inbox.markup.markdown import Flavour, markdown
from erralert.inbox.markup.safe import chip, esc, link
from erralert.inbox.platforms.base import Answer, Incoming, Platform, has_keyword
from erralert.inbox.platforms.parts import button_row, dict_of, list_of, str_of
from erralert.inbox.ratelimit import RateLimit
from erralert.inbox.signatures import check_feishu

__all__ = ["Feishu", "Lark"]

# lark_md, the markdown of the cards and of the text
_FEISHU = Flavour(entities=True, code="single", at_tags=True, font=True)


def _feishu(code: int, message: str, status: int = 200) -> Answer:
    return Answer.json(
        status, {"code": code, "data": {}, "msg": message}, f"code {code}: {message}"
    )


def _feishu_action_problem(card: Any) -> str | None:
    """An ``action`` element Feishu cannot show: no ``actions`` list, a button without a
    text object, a ``url`` that is not http(s) (message card "按钮 button": ``tag``,
    ``text``, ``url``); the wording of the answer is (unverified)."""
    elements = card.get("elements") if isinstance(card, dict) else None
    for i, element in enumerate(elements if isinstance(elements, list) else []):
        if not isinstance(element, dict) or element.get("tag") != "action":
            continue
        actions = element.get("actions")
        if not isinstance(actions, list) or not actions:
            return f"card.elements[{i}].actions must be a non-empty list"
        for j, action in enumerate(actions):
            at = f"card.elements[{i}].actions[{j}]"
            if not isinstance(action, dict) or action.get("tag") != "button":
                continue
            text = action.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("content"), str):
                return f"{at}.text must be a text object"
            url = action.get("url")
            if url is not None and not (isinstance(url, str) and re.match(r"https?://\S+$", url)):
                return f"{at}.url is not a valid URL"
    return None


class Feishu(Platform):
    name = "feishu"
    label = "Feishu"
    rank = 100
    paths = (r"/open-apis/bot/v2/hook/(?P<hook>[^/]+)/?",)  # /open-apis/bot/v2/hook/{id}
    example = "/open-apis/bot/v2/hook/hook"
    flavour = _FEISHU
    rates = (RateLimit(5, 1.0), RateLimit(100, 60.0))  # per bot; code 11232 past either
    keyword_security = True
    body_limit: ClassVar[int] = 20_000  # "20 KB", held to the smaller reading

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > self.body_limit:
            return _feishu(9499, "Bad Request: the request body is over 20 KB", 400)
        payload = incoming.payload
        if not isinstance(payload, dict):
            return _feishu(9499, "Bad Request", 400)
        msg_type = payload.get("msg_type")
        content = payload.get("content")
        content = content if isinstance(content, dict) else {}
        needs = {
            "text": isinstance(content.get("text"), str) and bool(content["text"].strip()),
            "post": isinstance(content.get("post"), dict),
            "image": isinstance(content.get("image_key"), str),
            "share_chat": isinstance(content.get("share_chat_id"), str),
            "interactive": isinstance(payload.get("card"), dict),
        }
        if not needs.get(str(msg_type), False):
            return _feishu(9499, f"Bad Request: msg_type {msg_type!r} without its content", 400)
        problem = _feishu_action_problem(payload.get("card"))
        if problem is not None:
            return _feishu(9499, f"Bad Request: {problem}", 400)
        return None

    def text_of(self, payload: Any) -> str:
        return json.dumps(
            {k: v for k, v in payload.items() if k not in ("sign", "timestamp")},
            ensure_ascii=False,
        )

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        # signed in the body: timestamp (s) and sign at its top level
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        words = check_feishu(
            secret, payload.get("timestamp"), payload.get("sign"), incoming.received_at
        )
        return None if words is None else _feishu(19021, words)

    def keyword_refusal(self, keywords: tuple[str, ...], incoming: Incoming) -> Answer | None:
        if has_keyword(self.text_of(incoming.payload), keywords):
            return None
        return _feishu(19024, "Key Words Not Found")

    def accepted(self, incoming: Incoming) -> Answer:
        # the older StatusCode/StatusMessage pair still comes along with code/msg
        return Answer.json(
            200,
            {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"},
        )

    def throttled(self, wait: float) -> Answer:
        return _feishu(11232, "frequency limited")

    def title(self, payload: dict[str, Any]) -> str:
        # a card's header, else a post's title, the text
        card = payload.get("card")
        if isinstance(card, dict):
            title = card.get("header", {}).get("title", {})
            return str_of(title.get("content")).replace("<\u200b", "<")
        content = payload.get("content") or {}
        post = content.get("post")
        if isinstance(post, dict):
            for language in post.values():
                if isinstance(language, dict) and str_of(language.get("title")):
                    return str_of(language["title"])
        return str_of(content.get("text"))

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)


class Lark(Feishu):
    name = "lark"
    label = "Lark"
    rank = 110
    native = False  # Feishu's paths: only /lark/… reaches it
    example = "/lark/open-apis/bot/v2/hook/hook"


# -- the view --------------------------------------------------------------------------------

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

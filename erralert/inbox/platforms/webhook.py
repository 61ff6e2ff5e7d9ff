"""erralert's generic webhook: a JSON object, signed with an HMAC of the body in headers
when the inbox knows the secret. Its view: erralert's document summarised as a table of
facts.
"""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.safe import esc
from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.platforms.parts import dict_of, list_of, str_of
from erralert.inbox.signatures import check_webhook

__all__ = ["Webhook"]


class Webhook(Platform):
    name = "webhook"
    label = "Webhook"
    rank = 120
    # any path: only /webhook/… reaches it
    example = "/webhook/errors"

    def check(self, incoming: Incoming) -> Answer | None:
        if not isinstance(incoming.payload, dict):
            return Answer.json(400, {"error": "the body is not a JSON object"}, "400 not JSON")
        return None

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        # erralert's own: HMAC of the body, in headers
        headers = incoming.headers
        words = check_webhook(
            secret,
            headers.get("x-erralert-timestamp"),
            headers.get("x-erralert-signature"),
            incoming.body,
            incoming.received_at,
        )
        return None if words is None else Answer.json(401, {"error": words}, f"401 {words}")

    def accepted(self, incoming: Incoming) -> Answer:
        return Answer.json(200, {"ok": True})

    def title(self, payload: dict[str, Any]) -> str:
        # the document's title, else its event's
        event = payload.get("event")
        return str_of(payload.get("title")) or (
            str_of(event.get("title")) if isinstance(event, dict) else ""
        )

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)


# -- the view --------------------------------------------------------------------------------


def render(payload: dict[str, Any]) -> str:
    event = dict_of(payload.get("event"))
    occurrences = dict_of(payload.get("occurrences"))
    exception = dict_of(event.get("exception"))
    request = dict_of(event.get("request"))
    rows = [
        ("kind", payload.get("kind")),
        ("title", payload.get("title") or event.get("title")),
        ("exception", exception.get("type")),
        ("culprit", event.get("culprit")),
        ("request", " ".join(str_of(request.get(k)) for k in ("method", "path")).strip()),
        ("count", occurrences.get("count")),
        ("total", occurrences.get("total")),
        ("service", event.get("service")),
        ("environment", event.get("environment")),
    ]
    table = "".join(
        f"<tr><th>{esc(name)}</th><td>{esc(value)}</td></tr>"
        for name, value in rows
        if value not in (None, "")
    )
    out = [f'<table class="facts">{table}</table>']
    storm = payload.get("storm")
    if isinstance(storm, dict):
        groups = "".join(
            f"<li><b>\u00d7{esc(group.get('count'))}</b> {esc(str_of(group.get('title')))} "
            f"<code>{esc(str_of(group.get('culprit')))}</code></li>"
            for group in map(dict_of, list_of(storm.get("groups")))
        )
        out.append(f"<ul>{groups}</ul>")
    if str_of(payload.get("text")):
        out.append(f'<pre class="plain">{esc(payload["text"])}</pre>')
    return "".join(out)

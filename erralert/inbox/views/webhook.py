"""The generic webhook's view: erralert's document summarised as a table of facts."""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.safe import esc
from erralert.inbox.views.parts import dict_of, list_of, str_of

__all__ = ["render"]


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

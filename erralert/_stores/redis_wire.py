"""How the Redis store's values travel: the arguments its scripts take and the replies they
give, read back into ``Due``, ``Pile`` and ``Silenced`` (the layout of the keys is in
``erralert._stores.redis``'s docstring, the scripts in ``erralert/_stores/lua/``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from erralert._core.notice import Occurrences
from erralert._core.pacing import Rate
from erralert._stores.base import Due, Pile, Silenced
from erralert._stores.codec import load_sample
from erralert._stores.origins import facts_of
from erralert._stores.piles import PileState
from erralert._stores.windows import BUCKETS

__all__ = ["load_due", "load_pile", "load_silenced", "rate_args", "text_of"]


def rate_args(rates: Sequence[Rate]) -> list[str]:
    return [part for rate in rates for part in (str(rate.limit), repr(rate.period))]


def load_pile(slot: float, flat: list[bytes], followups: int) -> Pile:
    """A storm hash as HGETALL returns it (field, value, …) → the claimed ``Pile``, with
    up to ``followups`` of its new errors."""
    fields = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat) - 1, 2)}
    groups: dict[str, list[Any]] = {}
    records: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        if name.startswith("c:"):
            fp = name[2:]
            # [title, culprit, code]; an earlier version wrote no code
            title, culprit, *rest = json.loads(fields.get("m:" + fp, b'["?", ""]'))
            kind = fields.get("t:" + fp, b"").decode()
            code = str(rest[0]) if rest else ""
            groups[fp] = [title, culprit, int(value), kind, "f:" + fp in fields, code]
        elif name.startswith("f:"):
            # unreadable (written by another version): no follow-up for it, still listed
            with contextlib.suppress(ValueError):
                records[name[2:]] = json.loads(value)
    try:
        sample = json.loads(fields.get("sample", b"null"))
    except ValueError:
        sample = None
    pile = PileState(
        since=float(fields["since"]),
        not_before=float(fields["nb"]),
        window=float(fields["window"]),
        sample=sample,
        until=float(fields["until"]),
        total=int(fields["total"]),
        groups=groups,
        followups=records,
    )
    return pile.claimed(slot, followups)


def load_silenced(flat: dict[bytes, bytes]) -> dict[str, Silenced]:
    """The silenced hash as HGETALL returns it → rule id → ``Silenced``."""
    fields = {name.decode(): value for name, value in flat.items()}
    out = {}
    for name, value in fields.items():
        if name.startswith("c:"):
            rule = name[2:]
            out[rule] = Silenced(
                count=int(value),
                first_seen=float(fields.get("f:" + rule, b"0")),
                last_seen=float(fields.get("l:" + rule, b"0")),
            )
    return out


def text_of(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def load_due(payload: bytes, history: bytes | None) -> Due:
    """A digest as the Lua ``push_due`` wrote it: 17 numbers, the fingerprint's length in
    bytes, then the fingerprint and the sample JSON (possibly empty) back to back; and its
    history (JSON ``{"s": since, "f": first release, "l": last release, "o": origins}``,
    origins as ``erralert._stores.origins.record_of`` files them; None when an earlier
    version filed the digest)."""
    *head, rest = payload.split(b" ", 18)
    count, total, first, last, window, start, end = head[:7]
    histogram = tuple(int(x) for x in head[7 : 7 + BUCKETS])
    size = int(head[7 + BUCKETS])
    key, sample = rest[:size].decode(), rest[size:]
    past = {} if history is None else json.loads(history)
    occurrences = Occurrences(
        count=int(count),
        total=int(total),
        first_seen=float(first),
        last_seen=float(last),
        window=float(window),
        is_new=False,
        window_start=float(start),
        window_end=float(end),
        histogram=histogram,
        status="recurring",
        since=float(past.get("s", 0.0)),
        first_release=past.get("f"),
        last_release=past.get("l"),
        **facts_of(past.get("o")),
    )
    return Due(key=key, sample=load_sample(sample), occurrences=occurrences)

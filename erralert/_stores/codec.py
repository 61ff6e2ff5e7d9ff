"""JSON as the shared stores (SQLite, Redis) keep it: compact, holding any ``extra`` value
(as its text when JSON cannot), and events read back leniently."""

from __future__ import annotations

import json

from erralert._core.event import Event

__all__ = ["encode", "load_sample"]

# one encoder, built once (json.dumps builds a new one per call when given separators)
encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def load_sample(text: str | bytes | None) -> Event | None:
    """The event a store kept as JSON (None or empty: none kept)."""
    if not text:
        return None
    try:
        return Event.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError):
        # written by another erralert version, say: the digest still goes out, sampleless
        return None

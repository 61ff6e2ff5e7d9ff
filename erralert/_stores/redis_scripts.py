"""The Redis store's Lua scripts, kept as package data in ``erralert/_stores/lua/``.

Each ``<name>.lua`` is one script the store registers (run atomically by Redis with
EVALSHA); ``common.lua`` and ``pacing.lua`` hold helpers that some scripts share. Lua in
Redis has no import and a script is sent as one chunk, so a script's helpers are put
before its own text here."""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["script"]

# the scripts the store registers, and the helpers each one is run after (None: none)
_HELPERS: dict[str, str | None] = {
    "hit": "common",
    "fold": "common",
    "claim": "common",
    "reserve": "pacing",
    "claim_storm": "pacing",
    "add_to_storm": None,
    "put_sample": None,
    "count_silenced": None,
    "check_in": None,
    "leave": None,
    "fleet_robots": None,
    "book": None,
    "probe": None,
}


@functools.cache
def script(name: str) -> str:
    """The text Redis runs as script ``name``: its helpers, then its own."""
    helpers = _HELPERS[name]
    own = _read(name)
    return own if helpers is None else _read(helpers) + "\n" + own


def _read(name: str) -> str:
    lua = resources.files("erralert._stores") / "lua" / f"{name}.lua"
    return lua.read_text(encoding="utf-8")

"""How the Redis store calls Redis beyond one script at a time: the probe that tells when
an outage is over.

Scripts run with EVALSHA (redis-py's ``Script``: one round trip; a server that lost its
script cache answers NOSCRIPT, and the script is loaded and run again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from erralert._stores.redis_scripts import script

__all__ = ["probe"]

_PROBE_TTL_MS = "60000"  # the probe's key outlives no outage by much


def probe(client: Any, key: str) -> Callable[[], object]:
    """What ``Outage.check`` calls to learn whether Redis is usable again: one EVALSHA of a
    script that writes ``key`` (``lua/probe.lua``). A PING would not do: a primary demoted
    to a replica, or a server out of memory, answers it while refusing every script of the
    store — the outage would seem over every few seconds, and each time the counts kept in
    the process would be handed over early."""
    run = client.register_script(script("probe"))

    def call() -> object:
        return run(keys=[key], args=[_PROBE_TTL_MS])

    return call

"""How the Redis store calls Redis beyond one script at a time: a script run for many
arguments in one pipeline, and the probe that tells when an outage is over.

A script runs with EVALSHA (redis-py's ``Script``: one round trip; a server that lost its
script cache answers NOSCRIPT, and the script is loaded and run again). In a pipeline,
redis-py's ``Script`` would first ask ``SCRIPT EXISTS`` — a second round trip before every
pipeline — so ``evalsha_each`` sends the EVALSHAs alone and loads the script only when the
server answers NOSCRIPT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from erralert._stores.redis_errors import is_noscript
from erralert._stores.redis_scripts import script

__all__ = ["Call", "evalsha_each", "probe"]

Call = tuple[Sequence[str], Sequence[str]]  # one run of a script: its keys, its arguments


def evalsha_each(client: Any, run: Any, calls: Sequence[Call]) -> list[Any]:
    """Run the script ``run`` (a registered ``Script``) once per call, all in one pipeline
    (one round trip, no transaction: each script is atomic on its own, and in a cluster
    each call may live on another node). Returns each call's reply, or the error reply it
    met (an exception object, not raised). The calls a server answered NOSCRIPT did not
    run: the script is loaded and those calls alone are sent again. Raises when nothing
    came back (the connection failed): then whether any ran is unknown."""
    replies = _pipelined(client, run.sha, calls)
    missing = [i for i, reply in enumerate(replies) if _noscript(reply)]
    if missing:
        client.script_load(run.script)  # every primary, on a cluster
        again = _pipelined(client, run.sha, [calls[i] for i in missing])
        for i, reply in zip(missing, again, strict=True):
            replies[i] = reply
    return replies


def _pipelined(client: Any, sha: str, calls: Sequence[Call]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(sha, len(keys), *keys, *args)
    return list(pipe.execute(raise_on_error=False))


def _noscript(reply: object) -> bool:
    return isinstance(reply, Exception) and is_noscript(reply)


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

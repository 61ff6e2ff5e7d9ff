"""How the Redis store runs its scripts: one at a time (``Script``), many in one pipeline
(``evalsha_each``), and the probe that tells when an outage is over.

A script runs with EVALSHA: one round trip. A server that lost its script cache (a
restart, a failover to a replica that never ran it) answers NOSCRIPT — the script did not
run — and it is loaded and run again. redis-py's own ``Script`` objects do the same one at
a time, but ask ``SCRIPT EXISTS`` before every pipeline holding one: a second round trip
per fold; and they need a built client, where a cluster client is built on first use."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from erralert._stores.redis_errors import REDIS_ERRORS, is_noscript
from erralert._stores.redis_scripts import script

__all__ = ["Call", "Script", "evalsha_each", "probe"]

Call = tuple[Sequence[str], Sequence[str]]  # one run of a script: its keys, its arguments


class Script:
    """One Lua script, run through ``client`` (anything with ``evalsha`` and
    ``script_load``: a ``redis.Redis``, a ``RedisCluster``, a ``LazyClient``)."""

    def __init__(self, client: Any, text: str) -> None:
        self.client = client
        self.script = text
        self.sha = hashlib.sha1(text.encode("utf-8")).hexdigest()

    def __call__(self, keys: Sequence[str] = (), args: Sequence[str] = ()) -> Any:
        """Run it: one EVALSHA; two more round trips when the server lost it."""
        try:
            return self.client.evalsha(self.sha, len(keys), *keys, *args)
        except REDIS_ERRORS as exc:
            if not is_noscript(exc):
                raise
        self.client.script_load(self.script)  # every primary, on a cluster
        return self.client.evalsha(self.sha, len(keys), *keys, *args)


def evalsha_each(client: Any, run: Script, calls: Sequence[Call]) -> list[Any]:
    """Run the script ``run`` once per call, all in one pipeline
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
    pipe = _server_of(client, calls).pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(sha, len(keys), *keys, *args)
    return list(pipe.execute(raise_on_error=False))


def _server_of(client: Any, calls: Sequence[Call]) -> Any:
    """The client to pipeline ``calls`` through. On a cluster, the client of the node that
    serves their keys when they all live on one (the store's calls of one fold do: one
    hash tag) — an older redis-py refuses EVALSHA in a cluster pipeline. A slot that moved
    meanwhile answers MOVED: an outage for those calls, until the cluster client, told by
    the probe's MOVED, knows the new owner."""
    node_of = getattr(client, "get_node_from_key", None)  # only a cluster client has it
    if node_of is None or not calls:
        return client
    nodes = {node_of(keys[0]).name for keys, _ in calls}
    if len(nodes) != 1:
        return client  # a cluster pipeline, which a recent redis-py routes per call
    return client.get_redis_connection(node_of(calls[0][0][0]))


def _noscript(reply: object) -> bool:
    return isinstance(reply, Exception) and is_noscript(reply)


_PROBE_TTL_MS = "60000"  # the probe's key outlives no outage by much


def probe(client: Any, key: str) -> Callable[[], object]:
    """What ``Outage.check`` calls to learn whether Redis is usable again: one EVALSHA of a
    script that writes ``key`` (``lua/probe.lua``). A PING would not do: a primary demoted
    to a replica, or a server out of memory, answers it while refusing every script of the
    store — the outage would seem over every few seconds, and each time the counts kept in
    the process would be handed over early."""
    run = Script(client, script("probe"))

    def call() -> object:
        return run(keys=[key], args=[_PROBE_TTL_MS])

    return call

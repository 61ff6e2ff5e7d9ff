"""Child processes of ``test_fleet_outage_e2e.py`` (module level, for the "spawn" start
method): each captures errors in a loop, from the pool of the phase the parent names, and
counts what it captured per error title — the truth the digests are checked against."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import erralert

BASE = 8  # distinct errors each child raises all along
NEW_IN_OUTAGE = 4  # distinct errors each child first raises while Redis is down
PAUSE = 0.05  # seconds between two captures


def title(child: int, kind: str, k: int) -> str:
    return f"fleet outage {kind} c{child} k{k}"


def _pool(child: int, kind: str, count: int) -> list[Callable[[], None]]:
    # one function per error, named after it (the file of exec'd code is not on disk, so
    # its name and line do not tell errors apart): distinct culprits, distinct errors
    code = "\n".join(
        f"def c{child}_{kind}_{k}():\n    raise ValueError({title(child, kind, k)!r})"
        for k in range(count)
    )
    namespace: dict[str, Any] = {}
    exec(compile(code, f"child_{child}_{kind}.py", "exec"), namespace)
    return [namespace[f"c{child}_{kind}_{k}"] for k in range(count)]


def run(child: int, store: str, webhook: str, window: float, commands: Connection) -> None:
    """Commands: ``("phase", "before" | "outage" | "after")`` switches the pool;
    ``("quit",)`` flushes and closes, then answers ``(captured per title, flushed, closed,
    capture failures)``. Every command is answered."""
    from erralert._stores.redis import RedisStore

    url, _, namespace = store.partition("?namespace=")
    alerter = erralert.Alerter(
        [webhook],
        service="fleet-outage",
        window=window,
        store=RedisStore(url, namespace=namespace, retry_after=0.5, timeout=0.5),
        storm_followups=0,  # a follow-up would repeat an occurrence its storm line counts
        max_queue=10_000,
    )
    base = _pool(child, "base", BASE)
    new = _pool(child, "new", NEW_IN_OUTAGE)
    pools = {"before": base, "outage": base + new, "after": base}
    pool = base
    captured: collections.Counter[str] = collections.Counter()
    failures = 0
    n = 0
    commands.send(("ready", os.getpid()))
    while True:
        if commands.poll(PAUSE):
            command = commands.recv()
            if command[0] == "phase":
                pool = pools[command[1]]
                commands.send("ok")
                continue
            flushed = alerter.flush(180)
            closed = alerter.close(10)
            commands.send((dict(captured), flushed, closed, failures))
            return
        function = pool[n % len(pool)]
        n += 1
        try:
            function()
        except ValueError as exc:
            if alerter.capture_exception(exc) is None:
                failures += 1
            captured[str(exc)] += 1

"""Child processes for ``test_shared_stores_e2e.py``: module level, so that the "spawn"
start method can import them. Each child is an independent Python process with its own
Alerter, pointed at a shared store and at the test's HTTP receiver."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any
from unittest import mock

import erralert

JOIN_TIMEOUT = 60.0  # no child may wait longer than this for its siblings or the parent


class CardDeclined(Exception):
    """The storm of acceptance items 1 and 2: always raised from ``charge``."""


class StormError(Exception):
    """Item 4: the error repeated in a loop before, during and after the Redis outage."""


class OutageError(Exception):
    """Item 4: a distinct error first raised while Redis is down."""


class RecoveredError(Exception):
    """Item 4: a brand-new error raised by every child after Redis came back."""


ERRORS: dict[str, type[Exception]] = {
    "storm": StormError,
    "outage": OutageError,
    "recovered": RecoveredError,
}


def charge(order_id: int) -> None:
    raise CardDeclined(f"card declined for order {order_id}")


def fail(kind: str, n: int) -> None:
    raise ERRORS[kind](f"{kind} failure number {n}")


@dataclass(frozen=True)
class Tally:
    """What the application saw of erralert while capturing: nothing but event ids."""

    pid: int
    captures: int = 0
    returned_none: int = 0  # capture_exception answered None: an internal failure
    raised: int = 0  # capture_exception raised into the "application"

    def add(self, other: Tally) -> Tally:
        return Tally(
            self.pid,
            self.captures + other.captures,
            self.returned_none + other.returned_none,
            self.raised + other.raised,
        )


def capture(alerter: erralert.Alerter, kind: str, n: int, **context: Any) -> Tally:
    """Raise ``kind`` (always from the same code site) and capture it, as an app would."""
    try:
        if kind == "card":
            charge(n)
        else:
            fail(kind, n)
    except Exception as exc:
        try:
            event_id = alerter.capture_exception(exc, **context)
        except Exception:
            return Tally(os.getpid(), 1, 0, 1)
        return Tally(os.getpid(), 1, int(event_id is None), 0)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def hostname(name: str | None) -> Iterator[None]:
    """Pretend this process runs on host ``name`` (None: the real host name)."""
    if name is None:
        yield
        return
    from erralert._core import event_origin

    cached = getattr(event_origin.hostname, "cache_clear", None)
    if cached is not None:
        cached()
    with mock.patch.object(socket, "gethostname", return_value=name):
        yield
    if cached is not None:
        cached()


# -- items 1 and 2: one burst of identical errors ------------------------------------------


@dataclass(frozen=True)
class BurstResult:
    host: str | None
    tally: Tally
    seconds: float  # spent capturing (for the record: nothing asserts on it)
    flushed: bool
    closed: bool


def burst(
    store: str,
    webhook: str,
    service: str,
    window: float,
    captures: int,
    host: str | None,
    barrier: Barrier,
    results: Queue[BurstResult],
) -> None:
    """Capture the same error ``captures`` times once every sibling is ready, then
    flush and close (which folds whatever the process still holds into the store)."""
    with hostname(host):
        alerter = erralert.Alerter([webhook], service=service, window=window, store=store)
        barrier.wait(JOIN_TIMEOUT)
        started = time.perf_counter()
        tally = Tally(os.getpid())
        for i in range(captures):
            tally = tally.add(capture(alerter, "card", i))
        seconds = time.perf_counter() - started
        flushed = alerter.flush(10)
        closed = alerter.close(10)
    results.put(BurstResult(host, tally, seconds, flushed, closed))


# -- item 4: a long-lived child driven by commands -------------------------------------------


class _Forward(logging.Handler):
    """erralert's own log lines (outage, recovery), forwarded to the parent as they happen."""

    def __init__(self, index: int, events: Queue[tuple[str, int, str]]) -> None:
        super().__init__(logging.INFO)
        self.index = index
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.put(("log", self.index, record.getMessage()))


def outage_worker(
    index: int,
    url: str,
    namespace: str,
    webhook: str,
    service: str,
    window: float,
    retry_after: float,
    commands: Connection,
    events: Queue[tuple[str, int, str]],
    barrier: Barrier,
) -> None:
    """Commands (from ``commands``; every one is answered on it):

    * ``("storm", rate)``: from now on, capture ``StormError`` about ``rate`` times a second
      between commands; after 200 of them an event ``("progress", index, "")`` is sent;
    * ``("calm",)``: stop the storm; answers the storm's ``Tally``;
    * ``("capture", kind, n)``: capture ``kind`` ``n`` times (all children start together,
      through the barrier); answers the ``Tally``;
    * ``("quit",)``: flush and close; answers ``(flushed, closed)``.
    """
    from erralert._stores.redis import RedisStore  # here: the SQLite children need no redis

    logger = logging.getLogger("erralert")
    logger.addHandler(_Forward(index, events))
    logger.setLevel(logging.INFO)
    store = RedisStore(url, namespace=namespace, retry_after=retry_after, timeout=0.5)
    alerter = erralert.Alerter([webhook], service=service, window=window, store=store)
    tags = {"worker": str(index)}
    storm: Tally | None = None
    interval = 0.0
    n = 0
    commands.send(("ready", os.getpid()))
    while True:
        if storm is not None:
            if not commands.poll(interval):
                storm = storm.add(capture(alerter, "storm", n, tags=tags))
                n += 1
                if storm.captures == 200:
                    events.put(("progress", index, ""))
                continue
        elif not commands.poll(JOIN_TIMEOUT):
            break  # the parent is gone
        command = commands.recv()
        if command[0] == "storm":
            storm, interval = Tally(os.getpid()), 1.0 / float(command[1])
            commands.send("storming")
        elif command[0] == "calm":
            commands.send(storm)
            storm = None
        elif command[0] == "capture":
            _, kind, count = command
            barrier.wait(JOIN_TIMEOUT)
            tally = Tally(os.getpid())
            for i in range(count):
                tally = tally.add(capture(alerter, kind, i, tags=tags))
            commands.send(tally)
        elif command[0] == "quit":
            flushed = alerter.flush(10)
            commands.send((flushed, alerter.close(10)))
            break
    commands.close()

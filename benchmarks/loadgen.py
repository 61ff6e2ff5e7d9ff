"""A lean HTTP/1.1 load generator for ``benchmarks.realserver``, run in a process of its own.

``python -m benchmarks.loadgen --port 8000 --requests 20000`` keeps ``--connections`` keep-alive
connections to ``127.0.0.1`` busy with one request at a time each (a closed loop) until the
fixed number of requests is answered, after ``--warmup`` requests whose figures are dropped,
and prints one JSON document: requests/s and p50/p99 latency of all requests and of the
failing ones.

Request ``i`` asks for ``/fail/<(i // 100) % 10>`` when ``i % 100 == 99`` (1 %, cycling
through ``KINDS`` distinct errors) and ``/`` otherwise; the warm-up asks for ``/`` and once
for ``/fail/warmup``, so one-off work of the error path (a reporter's first alert starts its
worker) happens before the clock runs. Each response is checked: 200 for ``/``, 500 for
``/fail/…``.

Raw ``asyncio.Protocol`` connections, no HTTP client library and no coroutine per request:
on two cores the generator competes with the server it measures, so it does as little as it
can. The latency of a request is from writing it to reading its last byte
(``perf_counter_ns``). A server may close a connection after a failing request (uvicorn does
once the app raised); the generator reconnects, and a request whose connection closed before
its answer was complete is sent again and timed from the new send.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import math
import re
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["FAIL_EVERY", "KINDS", "fails", "main", "path_of", "percentile", "run"]

FAIL_EVERY = 100  # request i fails when i % FAIL_EVERY == FAIL_EVERY - 1: 1 %
KINDS = 10  # distinct errors among the failing requests
WARMUP_FAILURE = "warmup"

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def fails(index: int) -> bool:
    return index % FAIL_EVERY == FAIL_EVERY - 1


def path_of(index: int) -> str:
    """The path of measured request ``index``."""
    return f"/fail/{index // FAIL_EVERY % KINDS}" if fails(index) else "/"


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


class _Run:
    """One phase: ``requests[i]`` to send, and per request its latency and status."""

    def __init__(self, requests: Sequence[bytes]) -> None:
        self.requests = requests
        self.latency = array("q", bytes(8 * len(requests)))
        self.status = array("H", bytes(2 * len(requests)))
        self.next = 0
        self.retry: list[int] = []
        self.answered = 0
        self.reconnects = 0
        self.resent = 0
        self.running = False
        self.reconnecting: set[asyncio.Future[None]] = set()
        self.done = asyncio.get_running_loop().create_future()
        self.error: str | None = None

    def take(self) -> int | None:
        if self.retry:
            self.resent += 1
            return self.retry.pop()
        if self.next < len(self.requests):
            self.next += 1
            return self.next - 1
        return None

    def answer(self, index: int, status: int, latency: int) -> None:
        self.status[index] = status
        self.latency[index] = latency
        self.answered += 1
        if self.answered == len(self.requests) and not self.done.done():
            self.done.set_result(None)

    def fail(self, error: str) -> None:
        if not self.done.done():
            self.error = error
            self.done.set_result(None)


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run, connect: Callable[[], Awaitable[None]]) -> None:
        self.run = run
        self.connect = connect
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.index: int | None = None
        self.started = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.run.running:
            self.send()

    def send(self) -> None:
        assert self.transport is not None
        index = self.run.take()
        self.index = index
        if index is None:
            self.transport.close()
            return
        self.started = time.perf_counter_ns()
        self.transport.write(self.run.requests[index])

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            self.buffer = buffer
            return
        length = _CONTENT_LENGTH.search(buffer, 0, head_end + 2)
        if length is None:
            self.run.fail(f"a response without Content-Length: {buffer[:200]!r}")
            return
        end = head_end + 4 + int(length[1])
        if len(buffer) < end:
            self.buffer = buffer
            return
        finished = time.perf_counter_ns()
        self.buffer = buffer[end:]
        index = self.index
        if index is None:
            self.run.fail(f"an answer to no request: {buffer[:200]!r}")
            return
        self.index = None
        self.run.answer(index, int(buffer[9:12]), finished - self.started)
        self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        run = self.run
        if self.index is not None:  # unanswered, or cut off: send it again
            run.retry.append(self.index)
            self.index = None
            self.buffer = b""
        if run.done.done() or not (run.retry or run.next < len(run.requests)):
            return
        run.reconnects += 1
        task = asyncio.ensure_future(self.connect())
        run.reconnecting.add(task)
        task.add_done_callback(run.reconnecting.discard)


async def _phase(
    host: str, port: int, requests: Sequence[bytes], connections: int
) -> tuple[_Run, float]:
    run = _Run(requests)
    loop = asyncio.get_running_loop()
    opened: list[_Connection] = []

    async def connect() -> None:
        try:
            _, protocol = await loop.create_connection(
                lambda: _Connection(run, connect), host, port
            )
        except OSError as exc:
            run.fail(f"cannot connect to {host}:{port}: {exc}")
            return
        opened.append(protocol)

    await asyncio.gather(*(connect() for _ in range(min(connections, len(requests)))))
    started = time.perf_counter_ns()
    run.running = True
    for connection in list(opened):
        connection.send()
    await run.done
    elapsed = (time.perf_counter_ns() - started) / 1e9
    for connection in opened:
        if connection.transport is not None:
            connection.transport.close()
    if run.error is not None:
        raise RuntimeError(run.error)
    return run, elapsed


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0.99: p99) of the sorted ``ordered``."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def run(
    port: int,
    *,
    host: str = "127.0.0.1",
    requests: int = 20_000,
    connections: int = 32,
    warmup: int = 1_000,
) -> dict[str, Any]:
    """Warm up, then send ``requests`` requests; the figures of the measured ones."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the load generator only targets loopback addresses, not {host}")
    ok, failing = _request("/"), {p: _request(p) for p in {path_of(i) for i in range(requests)}}
    warm = [ok] * warmup
    warm[warmup // 2] = _request(f"/fail/{WARMUP_FAILURE}")
    warmed, _ = await _phase(host, port, warm, connections)
    if sorted(warmed.status) != sorted(500 if r != ok else 200 for r in warm):
        raise RuntimeError("the warm-up got unexpected statuses")

    plan = [failing[path_of(i)] if fails(i) else ok for i in range(requests)]
    expected = [500 if fails(i) else 200 for i in range(requests)]
    gc.disable()  # the generator allocates little; a collection would stall all connections
    try:
        measured, seconds = await _phase(host, port, plan, connections)
    finally:
        gc.enable()
    unexpected = sum(s != e for s, e in zip(measured.status, expected, strict=True))
    every = sorted(measured.latency)
    failed = sorted(measured.latency[i] for i in range(requests) if fails(i))
    statuses: dict[str, int] = {}
    for status in measured.status:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": requests,
        "connections": connections,
        "seconds": seconds,
        "rps": requests / seconds,
        "p50_ms": percentile(every, 0.50) / 1e6,
        "p99_ms": percentile(every, 0.99) / 1e6,
        "failing": len(failed),
        "failing_p50_ms": percentile(failed, 0.50) / 1e6,
        "failing_p99_ms": percentile(failed, 0.99) / 1e6,
        "failing_ms": [round(ns / 1e6, 3) for ns in failed],
        "statuses": statuses,
        "unexpected": unexpected,
        "reconnects": measured.reconnects,
        "resent": measured.resent,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after (s)")
    args = parser.parse_args(argv)
    figures = asyncio.run(
        asyncio.wait_for(
            run(
                args.port,
                host=args.host,
                requests=args.requests,
                connections=args.connections,
                warmup=args.warmup,
            ),
            args.timeout,
        )
    )
    json.dump(figures, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Store benchmarks: a storm of repeats through each store, and memory under many fingerprints.

Run: ``python -m benchmarks stores`` (both), ``python -m benchmarks storm`` or
``python -m benchmarks memory`` (one of them).

* storm: one process raises and captures repeats of 10 distinct errors (10 exception classes
  raised through one 20-frame stack: 10 fingerprints) with the public
  ``Alerter(webhooks, store=..., window=300).capture_exception(exc)``, for ``memory://``,
  ``sqlite:///<temp dir>/erralert.db`` and ``redis://127.0.0.1:<port>/0`` (a throwaway
  ``redis-server`` started for the run and stopped after it). The rounds of the stores
  alternate; each figure is captures per second, raising included, median over rounds. The
  webhook is an in-process receiver (httpx ``MockTransport``) that counts what it gets, so
  delivery costs nothing and the run can check itself: exactly one alert per error, and
  every repeat accounted for in the store's digests (the memory store's are sent at
  ``close()``; a shared store's stay in it and are claimed afterwards through the ``Store``
  interface, as another process would claim them).
* memory: the growth of the resident set of a fresh process (nothing else ran in it) over
  1 000 000 ``capture_message`` calls spread over 100 000 distinct messages (10 each) with
  the default memory store, which keeps 10 000 fingerprints (least recently seen evicted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx

import erralert
from benchmarks.run import ROUNDS, Timing, measure
from erralert.fingerprint import message_fingerprint
from erralert.stores import open_store

WEBHOOK = "webhook+http://127.0.0.1:9/discard"
WINDOW = 300.0

STORM_KINDS = 10
STORM_DEPTH = 20
STORM_N = 10_000  # captures per round and store
STORM_ROUNDS = ROUNDS
MEMORY_TARGET = 20_000.0  # captures/s of the memory store, one process
SHARED_TARGET = 0.5  # SQLite and Redis: at least this share of the memory store's rate

MEMORY_CAPTURES = 1_000_000
MEMORY_FINGERPRINTS = 100_000
MEMORY_ACTIVE = 1_000  # fingerprints occurring at the same time (round-robin among them)
MEMORY_LIMIT_MB = 100.0
MEMORY_BUDGET_S = 60.0

ROOT = Path(__file__).resolve().parent.parent


def _storm_error(i: int) -> type[RuntimeError]:
    name = f"StormError{i}"
    cls = type(name, (RuntimeError,), {"__module__": __name__, "__qualname__": name})
    return cast(type[RuntimeError], cls)


STORM_ERRORS: tuple[type[RuntimeError], ...] = tuple(_storm_error(i) for i in range(STORM_KINDS))


# -- an in-process webhook receiver ------------------------------------------------------------
class Sink:
    """Counts the messages erralert sends to the generic webhook (schema 1), by kind; sums the
    occurrences they report (an alert 1, a digest its repeats, a storm summary every
    occurrence folded into it) and the repeats of the digests; marks which of ``index``'s
    fingerprints appeared (in an alert, a digest or among a storm summary's groups, which
    name the biggest errors and count the rest as "other errors"). Called on the delivery
    worker only, or while it is idle."""

    def __init__(self, index: Mapping[str, int] | None = None) -> None:
        self.index: Mapping[str, int] = index or {}
        self.transport = httpx.MockTransport(self.handle)
        self.reset()

    def reset(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.occurrences = 0
        self.digested = 0
        self.seen = bytearray(len(self.index))

    def handle(self, request: httpx.Request) -> httpx.Response:
        document = json.loads(request.content)
        kind = document["kind"]
        self.kinds[kind] += 1
        count = document["occurrences"]["count"]
        self.occurrences += count
        if kind == "digest":
            self.digested += count
        storm = document.get("storm")
        groups = storm["groups"] if kind == "storm" and storm else [document["event"]]
        for group in groups:
            position = self.index.get(group.get("fingerprint") or "")
            if position is not None:
                self.seen[position] = 1
        return httpx.Response(200)


class LogRecorder(logging.Handler):
    """What erralert logs (warnings and errors) while a scenario runs: a store that failed
    over to memory, captures that raised inside erralert, deliveries refused."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


@contextlib.contextmanager
def recording_logs() -> Iterator[LogRecorder]:
    recorder = LogRecorder()
    logger = logging.getLogger("erralert")
    logger.addHandler(recorder)
    try:
        yield recorder
    finally:
        logger.removeHandler(recorder)


# -- storm: repeats of 10 errors, per store ------------------------------------------------------
def raise_storm_error(depth: int, error: type[RuntimeError]) -> None:
    if depth <= 1:
        raise error("order 42 failed")
    raise_storm_error(depth - 1, error)


@dataclasses.dataclass
class Tally:
    captures: int = 0
    failed: int = 0  # capture_exception returned None: an error inside erralert


def storm_runner(alerter: erralert.Alerter | None, tally: Tally) -> Callable[[int], None]:
    """``n`` captures cycling over the 10 errors; ``alerter=None``: raise and catch only."""

    def run(n: int) -> None:
        errors = STORM_ERRORS
        failed = 0
        if alerter is None:
            for i in range(n):
                with contextlib.suppress(RuntimeError):
                    raise_storm_error(STORM_DEPTH, errors[i % STORM_KINDS])
        else:
            capture = alerter.capture_exception
            for i in range(n):
                try:
                    raise_storm_error(STORM_DEPTH, errors[i % STORM_KINDS])
                except RuntimeError as exc:
                    if capture(exc) is None:
                        failed += 1
        tally.captures += n
        tally.failed += failed

    return run


@dataclasses.dataclass
class StoreCase:
    name: str
    url: str
    sink: Sink
    alerter: erralert.Alerter
    tally: Tally
    timing: Timing | None = None
    accounted: int | None = None  # repeats found in the digests after the run

    @classmethod
    def open(cls, name: str, url: str) -> StoreCase:
        sink = Sink()
        alerter = erralert.Alerter([WEBHOOK], store=url, window=WINDOW, transport=sink.transport)
        return cls(name, url, sink, alerter, Tally())

    def alert_all(self) -> None:
        """The first occurrence of each error: the alerts, delivered before the rounds."""
        storm_runner(self.alerter, self.tally)(STORM_KINDS)
        self.alerter.flush(10.0)

    def finish(self) -> None:
        """Close the alerter, then find every repeat in the digests: the memory store sends
        its counts at close; a shared store keeps them, and they are claimed here from a
        second store object, at a time after the windows' end."""
        self.alerter.close(10.0)
        if self.url.startswith("memory:"):
            self.accounted = self.sink.digested
            return
        store = open_store(self.url)
        try:
            dues = store.claim_due(time.time() + WINDOW + 60.0, limit=10_000)
            self.accounted = sum(due.occurrences.count for due in dues)
        finally:
            store.close()

    def check(self) -> str:
        alerts = self.sink.kinds["alert"]
        repeats = self.tally.captures - STORM_KINDS
        problems = []
        if alerts != STORM_KINDS:
            problems.append(f"{alerts} alerts, expected {STORM_KINDS}")
        if self.tally.failed:
            problems.append(f"{self.tally.failed} captures failed")
        if self.accounted != repeats:
            problems.append(f"{self.accounted} of {repeats} repeats in the digests")
        others = {k: v for k, v in self.sink.kinds.items() if k not in ("alert", "digest")}
        if others:
            problems.append(f"unexpected messages {others}")
        if problems:
            return "WRONG: " + "; ".join(problems)
        return f"ok: {alerts} alerts, {repeats} repeats all in digests"


def spaced(number: float) -> str:
    """``1234567`` as ``1 234 567``."""
    return f"{number:,.0f}".replace(",", " ")


class Skip(Exception):
    """A store that cannot be measured here; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence) for the block; its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise Skip("redis-server is not on PATH")
    try:
        import redis
    except ImportError:
        raise Skip("the redis package is not installed (pip install 'erralert[redis]')") from None
    port = free_port()
    log = directory / "redis.log"
    args = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(directory), "--logfile", str(log)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0)
        deadline = time.monotonic() + 10.0
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text(errors="replace")[-500:] if log.exists() else ""
                    raise Skip(f"redis-server did not start on port {port}: {text}") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)


def storm() -> bool:
    """The storm table; True when every target holds and every check passed."""
    skipped: list[str] = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="erralert-bench-") as tmp,
        contextlib.ExitStack() as stack,
        recording_logs() as logs,
    ):
        urls = {"memory": "memory://", "sqlite": f"sqlite:///{tmp}/erralert.db"}
        try:
            urls["redis"] = stack.enter_context(redis_server(Path(tmp)))
        except Skip as why:
            skipped.append(f"Redis row skipped: {why}")
        cases = [StoreCase.open(name, url) for name, url in urls.items()]
        for case in cases:
            case.alert_all()
        baseline = Tally()
        runs = [storm_runner(None, baseline)] + [storm_runner(c.alerter, c.tally) for c in cases]
        raising, *timings = measure(STORM_N, *runs, rounds=STORM_ROUNDS)
        for case, timing in zip(cases, timings, strict=True):
            case.timing = timing
            case.finish()
        redis_keys = _redis_keys(urls.get("redis"))
    elapsed = time.perf_counter() - started

    memory = cases[0].timing
    assert memory is not None

    def rate(seconds: float) -> str:
        return spaced(1 / seconds)

    print(
        f"Storm: repeats of {STORM_KINDS} errors raised through a {STORM_DEPTH}-frame stack, ",
        end="",
    )
    print(f"window {WINDOW:.0f} s, {STORM_N} captures per round, {STORM_ROUNDS} rounds")
    print()
    print("| store | median captures/s | best captures/s | all rounds captures/s | ", end="")
    print("ratio to memory (median / best) | check |")
    print("|---|---:|---:|---:|---:|---|")
    print(
        f"| raise + catch only (no capture) | {rate(raising.median)} | {rate(raising.best)} "
        f"| {rate(raising.mean)} |  |  |"
    )
    ok = True
    for case in cases:
        t = case.timing
        assert t is not None
        ratio = f"{memory.median / t.median:.3f} / {memory.best / t.best:.3f}"
        check = case.check()
        ok = ok and check.startswith("ok")
        print(
            f"| {case.name} | {rate(t.median)} | {rate(t.best)} | {rate(t.mean)} "
            f"| {ratio} | {check} |"
        )
    print()
    for line in skipped:
        print(line)
    if redis_keys is not None:
        print(f"Redis held {redis_keys} keys after the run (0 would mean it was never used)")
        ok = ok and redis_keys > 0
    for line in logs.lines:
        print(f"erralert logged {line}")
    ok = ok and not logs.lines

    memory_rate = 1 / memory.median
    holds = memory_rate >= MEMORY_TARGET
    ok = ok and holds
    print(
        f"target: memory ≥ {spaced(MEMORY_TARGET)} captures/s: {rate(memory.median)} → "
        f"{'holds' if holds else 'FAILS'}"
    )
    for case in cases[1:]:
        t = case.timing
        assert t is not None
        share = memory.median / t.median
        holds = share >= SHARED_TARGET
        ok = ok and holds
        print(
            f"target: {case.name} ≥ {SHARED_TARGET:.0%} of memory: {share:.0%} "
            f"({rate(t.median)} captures/s) → {'holds' if holds else 'FAILS'}"
        )
    print(f"storm scenario ran {elapsed:.1f} s")
    print()
    sys.stdout.flush()
    return ok


def _redis_keys(url: str | None) -> int | None:
    """How many keys the throwaway Redis holds: >0 shows the Redis store really used it
    (on an outage it fails over to memory, which would look fast for the wrong reason)."""
    if url is None:
        return None
    import redis

    client = redis.Redis.from_url(url)
    try:
        count: int = client.dbsize()
        return count
    finally:
        client.close()


# -- memory: RSS under many fingerprints, in a fresh process ----------------------------------
def letters(n: int) -> str:
    """``n`` in base 26 as lowercase letters: distinct words that fingerprinting keeps
    (it replaces numbers, hex runs and ids, not words)."""
    word = ""
    while True:
        n, digit = divmod(n, 26)
        word += chr(ord("a") + digit)
        if n == 0:
            return word


def rss_kib() -> tuple[int, int]:
    """(resident set now, its peak so far) in KiB: /proc's VmRSS and VmHWM, or getrusage's
    ru_maxrss (KiB on Linux) for both where there is no /proc."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    if len(values) == 2:
        return values["VmRSS"], values["VmHWM"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak, peak


def memory_child() -> dict[str, Any]:
    """Runs in its own process (``python -m benchmarks.stores memory-child``): everything
    it needs is built and warmed up before the first RSS reading."""
    texts = [f"payment failed for merchant {letters(k)}" for k in range(MEMORY_FINGERPRINTS)]
    index = {message_fingerprint(text): k for k, text in enumerate(texts)}
    sink = Sink(index)
    alerter = erralert.Alerter([WEBHOOK], window=WINDOW, transport=sink.transport)
    alerter.capture_message("warm-up")  # starts the worker, compiles the templates
    alerter.flush(10.0)
    sink.reset()
    per_fingerprint = MEMORY_CAPTURES // MEMORY_FINGERPRINTS
    capture = alerter.capture_message
    failed = 0
    rss_before, _ = rss_kib()
    started = time.perf_counter()
    # a rolling set of MEMORY_ACTIVE errors, each occurring per_fingerprint times
    # (round-robin among them); then the next set: every message is new once
    for first in range(0, MEMORY_FINGERPRINTS, MEMORY_ACTIVE):
        active = texts[first : first + MEMORY_ACTIVE]
        for _ in range(per_fingerprint):
            for text in active:
                if capture(text) is None:
                    failed += 1
    elapsed = time.perf_counter() - started
    rss_after, peak = rss_kib()
    started = time.perf_counter()
    delivered_all = alerter.close(120.0)
    closing = time.perf_counter() - started
    rss_closed, peak = rss_kib()
    return {
        "captures": len(texts) * per_fingerprint,
        "fingerprints": len(index),
        "failed": failed,
        "seconds": elapsed,
        "close_seconds": closing,
        "delivered_all": delivered_all,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_closed_kib": rss_closed,
        "peak_kib": peak,
        "seen": sum(sink.seen),
        "occurrences": sink.occurrences,
        "messages": dict(sink.kinds),
    }


def memory() -> bool:
    """Runs ``memory_child`` in a fresh interpreter and prints what it found; True when the
    growth stays under the limit and the captures really had distinct fingerprints."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.stores", "memory-child"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(f"memory scenario: the child process failed ({done.returncode}):")
        print(done.stderr[-2000:])
        return False
    result = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 1024.0
    growth = (result["rss_after_kib"] - result["rss_before_kib"]) / mib
    peak_growth = (result["peak_kib"] - result["rss_before_kib"]) / mib
    closed_growth = (result["rss_closed_kib"] - result["rss_before_kib"]) / mib
    captures, fingerprints = result["captures"], result["fingerprints"]
    per = captures // fingerprints
    print(
        f"Memory: {spaced(captures)} capture_message calls over {spaced(fingerprints)} "
        f"distinct messages, {per} each (sets of {spaced(MEMORY_ACTIVE)} at a time, "
        "round-robin), memory store (10 000 fingerprints kept), fresh process"
    )
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| RSS before | {result['rss_before_kib'] / mib:.1f} MB |")
    print(f"| RSS growth after the captures | {growth:+.1f} MB |")
    print(f"| peak RSS growth (VmHWM) | {peak_growth:+.1f} MB |")
    print(f"| RSS growth after close() delivered the backlog | {closed_growth:+.1f} MB |")
    print(f"| time for the captures | {result['seconds']:.1f} s |")
    print(f"| captures/s | {spaced(captures / result['seconds'])} |")
    print(f"| close() (delivering what was queued) | {result['close_seconds']:.1f} s |")
    print(f"| distinct fingerprints of the messages | {spaced(fingerprints)} |")
    print(f"| occurrences reported to the receiver | {spaced(result['occurrences'])} |")
    print(f"| fingerprints named in what it received | {spaced(result['seen'])} |")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result["messages"].items()))
    print(f"| messages received | {kinds} |")
    print()
    ok = True
    # the 100 000 fingerprints are computed with erralert's own function; every capture
    # must then come back counted in an alert, a digest or a storm summary. A storm summary
    # names its 100 biggest errors and counts the rest as "other errors", so not every
    # fingerprint is named once the outbox folds alerts into storms.
    if fingerprints != MEMORY_FINGERPRINTS:
        ok = False
        print(f"WRONG: {fingerprints} distinct fingerprints, expected {MEMORY_FINGERPRINTS}")
    if result["occurrences"] != captures:
        ok = False
        print(f"WRONG: the receiver was told of {result['occurrences']} of {captures} captures")
    logged = done.stderr.strip().splitlines()
    for line in logged[:20]:
        print(f"child process logged: {line}")
    if len(logged) > 20:
        print(f"child process logged {len(logged) - 20} more lines")
    if result["failed"]:
        ok = False
        print(f"WRONG: {result['failed']} captures returned None")
    if not result["delivered_all"]:
        print("note: close() gave up with messages undelivered (the receiver count may be short)")
    holds = max(growth, peak_growth) < MEMORY_LIMIT_MB
    ok = ok and holds
    print(
        f"target: RSS growth < {MEMORY_LIMIT_MB:.0f} MB (after the captures and at peak): "
        f"{growth:.1f} / {peak_growth:.1f} MB → {'holds' if holds else 'FAILS'}"
    )
    if result["seconds"] > MEMORY_BUDGET_S:
        print(
            f"note: the {spaced(captures)} captures took {result['seconds']:.1f} s, over the "
            f"{MEMORY_BUDGET_S:.0f} s budget (not shrunk)"
        )
    print(f"memory scenario ran {wall:.1f} s (child process, including close())")
    print()
    sys.stdout.flush()
    return ok


if __name__ == "__main__":
    if sys.argv[1:] == ["memory-child"]:
        print(json.dumps(memory_child()))
    else:
        sys.exit("usage: python -m benchmarks [stores|storm|memory] (memory-child is internal)")

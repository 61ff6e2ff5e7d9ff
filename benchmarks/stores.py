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
from benchmarks.report import Row, Section, Target
from benchmarks.run import ROUNDS, Timing, measure
from erralert._grouping.fingerprint import message_fingerprint
from erralert._stores import open_store

WEBHOOK = "webhook+http://127.0.0.1:9/discard"
WINDOW = 300.0

STORM_KINDS = 10
STORM_DEPTH = 20
STORM_N = 10_000  # captures per round and store
STORM_ROUNDS = ROUNDS
STORM_QUICK_N, STORM_QUICK_ROUNDS = 1_000, 3
MEMORY_TARGET = 20_000.0  # captures/s of the memory store, one process
SHARED_TARGET = 0.5  # SQLite and Redis: at least this share of the memory store's rate

MEMORY_CAPTURES = 1_000_000
MEMORY_FINGERPRINTS = 100_000
MEMORY_QUICK_CAPTURES, MEMORY_QUICK_FINGERPRINTS = 30_000, 3_000
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
        if kind == "storm" and storm:
            # the full alerts of the new errors folded into it follow the summary
            # (storm_followups), each counting its one occurrence a second time
            self.occurrences -= int(storm.get("followups") or 0)
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


def storm(*, quick: bool = False) -> Section:
    """Scenario 4: captures/s of each store in a storm of repeats, with the checks that
    every alert and every repeat arrived."""
    n, rounds = (STORM_QUICK_N, STORM_QUICK_ROUNDS) if quick else (STORM_N, STORM_ROUNDS)
    notes: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="erralert-bench-") as tmp,
        contextlib.ExitStack() as stack,
        recording_logs() as logs,
    ):
        urls = {"memory": "memory://", "sqlite": f"sqlite:///{tmp}/erralert.db"}
        try:
            urls["redis"] = stack.enter_context(redis_server(Path(tmp)))
        except Skip as why:
            notes.append(f"Redis row skipped: {why}")
        cases = [StoreCase.open(name, url) for name, url in urls.items()]
        for case in cases:
            case.alert_all()
        baseline = Tally()
        runs = [storm_runner(None, baseline)] + [storm_runner(c.alerter, c.tally) for c in cases]
        raising, *timings = measure(n, *runs, rounds=rounds)
        for case, timing in zip(cases, timings, strict=True):
            case.timing = timing
            case.finish()
        redis_keys = _redis_keys(urls.get("redis"))

    rows = [
        Row(
            "raise + catch only (no capture)",
            1 / raising.median,
            "captures/s",
            best=1 / raising.best,
            note="the ceiling: raising costs this much",
        )
    ]
    checks: list[str] = []
    for case in cases:
        t = case.timing
        assert t is not None
        check = case.check()
        checks.append(f"{case.name}: {check}")
        baseline_name = None if case is cases[0] else cases[0].name
        rows.append(Row(case.name, 1 / t.median, "captures/s", baseline_name, 1 / t.best, check))
    if redis_keys is not None:
        checks.append(f"Redis held {redis_keys} keys after the run (0: it was never used)")
    checks += [f"erralert logged {line}" for line in logs.lines]
    checked = (
        all(c.check().startswith("ok") for c in cases)
        and (redis_keys is None or redis_keys > 0)
        and not logs.lines
    )
    memory = cases[0].timing
    assert memory is not None
    targets = [
        Target(
            f"storm: memory store ≥ {spaced(MEMORY_TARGET)} captures/s (median)",
            1 / memory.median >= MEMORY_TARGET,
            f"{spaced(1 / memory.median)} captures/s",
        )
    ]
    for case in cases[1:]:
        t = case.timing
        assert t is not None
        share = memory.median / t.median
        targets.append(
            Target(
                f"storm: {case.name} ≥ {SHARED_TARGET:.0%} of the memory store's rate",
                share >= SHARED_TARGET,
                f"{share:.0%} ({spaced(1 / t.median)} captures/s)",
            )
        )
    targets.append(
        Target(
            "storm: one alert per error and every repeat in the digests, every store",
            checked,
            "; ".join(checks),
        )
    )
    notes[:0] = [
        f"repeats of {STORM_KINDS} errors raised through a {STORM_DEPTH}-frame stack, raising "
        f"included; window {WINDOW:.0f} s; {n} captures per round, {rounds} rounds, the "
        "stores' rounds alternating; captures/s from the median (best) round; one process"
    ]
    return Section(
        "4. Storm: captures per second, per store", tuple(rows), tuple(targets), tuple(notes)
    )


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


def memory_child(captures: int, fingerprints: int) -> dict[str, Any]:
    """Runs in its own process (``python -m benchmarks.stores memory-child CAPTURES
    FINGERPRINTS``): everything it needs is built and warmed up before the first RSS
    reading."""
    texts = [f"payment failed for merchant {letters(k)}" for k in range(fingerprints)]
    index = {message_fingerprint(text): k for k, text in enumerate(texts)}
    sink = Sink(index)
    alerter = erralert.Alerter([WEBHOOK], window=WINDOW, transport=sink.transport)
    alerter.capture_message("warm-up")  # starts the worker, compiles the templates
    alerter.flush(10.0)
    sink.reset()
    per_fingerprint = captures // fingerprints
    capture = alerter.capture_message
    failed = 0
    rss_before, _ = rss_kib()
    started = time.perf_counter()
    # a rolling set of MEMORY_ACTIVE errors, each occurring per_fingerprint times
    # (round-robin among them); then the next set: every message is new once
    for first in range(0, fingerprints, MEMORY_ACTIVE):
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
        "expected_fingerprints": fingerprints,
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


def memory(*, quick: bool = False) -> Section:
    """Scenario 6: runs ``memory_child`` in a fresh interpreter; the growth of its resident
    set, and the checks that the captures really had distinct fingerprints and were all
    reported."""
    captures, fingerprints = (
        (MEMORY_QUICK_CAPTURES, MEMORY_QUICK_FINGERPRINTS)
        if quick
        else (MEMORY_CAPTURES, MEMORY_FINGERPRINTS)
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.stores",
            "memory-child",
            str(captures),
            str(fingerprints),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"memory scenario: the child process failed ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 1024.0
    before = result["rss_before_kib"]
    growth = (result["rss_after_kib"] - before) / mib
    peak_growth = (result["peak_kib"] - before) / mib
    closed_growth = (result["rss_closed_kib"] - before) / mib
    captures, fingerprints = result["captures"], result["fingerprints"]
    rows = (
        Row("RSS before", before / mib, "MB"),
        Row("RSS growth after the captures", growth, "MB"),
        Row("peak RSS growth (VmHWM)", peak_growth, "MB"),
        Row("RSS growth after close() delivered the backlog", closed_growth, "MB"),
        Row("time for the captures", result["seconds"], "s"),
        Row("captures/s", captures / result["seconds"], "captures/s"),
        Row("close() (delivering what was queued)", result["close_seconds"], "s"),
        Row("distinct fingerprints of the messages", fingerprints, "fingerprints"),
        Row("occurrences reported to the receiver", result["occurrences"], "occurrences"),
        Row("fingerprints named in what it received", result["seen"], "fingerprints"),
    )
    # the fingerprints are computed with erralert's own function; every capture must then
    # come back counted in an alert, a digest or a storm summary. A storm summary names its
    # 100 biggest errors and counts the rest as "other errors", so not every fingerprint is
    # named once the outbox folds alerts into storms.
    problems = []
    if fingerprints != result["expected_fingerprints"]:
        problems.append(
            f"{fingerprints} distinct fingerprints, expected {result['expected_fingerprints']}"
        )
    if result["occurrences"] != captures:
        problems.append(f"the receiver was told of {result['occurrences']} of {captures} captures")
    if result["failed"]:
        problems.append(f"{result['failed']} captures returned None")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result["messages"].items()))
    notes = [
        f"{spaced(captures)} capture_message calls over {spaced(fingerprints)} distinct "
        f"messages, {captures // max(fingerprints, 1)} each (sets of {spaced(MEMORY_ACTIVE)} at "
        "a time, round-robin), default memory store (10 000 fingerprints kept), a fresh "
        "process; RSS from /proc/self/status",
        f"messages received: {kinds}",
    ]
    logged = done.stderr.strip().splitlines()
    notes += [f"child process logged: {line}" for line in logged[:20]]
    if len(logged) > 20:
        notes.append(f"child process logged {len(logged) - 20} more lines")
    if not result["delivered_all"]:
        notes.append("close() gave up with messages undelivered (the receiver count may be short)")
    if result["seconds"] > MEMORY_BUDGET_S:
        notes.append(
            f"the captures took {result['seconds']:.1f} s, over the {MEMORY_BUDGET_S:.0f} s budget"
        )
    targets = (
        Target(
            f"memory: RSS growth < {MEMORY_LIMIT_MB:.0f} MB (after the captures and at peak)",
            max(growth, peak_growth) < MEMORY_LIMIT_MB,
            f"{growth:+.1f} / {peak_growth:+.1f} MB",
        ),
        Target(
            "memory: every capture reported, every fingerprint distinct",
            not problems,
            "; ".join(problems) or f"{spaced(result['occurrences'])} occurrences reported",
        ),
    )
    return Section(
        f"6. Memory: RSS after {spaced(captures)} captures over {spaced(fingerprints)} "
        "fingerprints",
        rows,
        targets,
        tuple(notes),
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "memory-child":
        print(json.dumps(memory_child(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        sys.exit(
            "usage: python -m benchmarks [--quick] [stores|storm|memory] (memory-child is internal)"
        )

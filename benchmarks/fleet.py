"""Fleet benchmark: the load an idle fleet puts on one Redis, as processes are added.

Run: ``python -m benchmarks fleet-idle``.

For each N of 1, 10, 30 and 50: a throwaway ``redis-server`` on 127.0.0.1 (emptied between
the Ns), then N idle processes, each with the public
``erralert.Alerter([webhook], store="redis://…", service="idle")`` and its delivery worker
started (``alerter.outbox.start()``, as an app's first capture or flush would), then doing
nothing — an app whose errors are all handled. Each checks in with the fleet and one holds
the service's claim lease (``erralert._stores.fleet``). Once every process is live in
Redis and their check-ins have settled, ``CONFIG RESETSTAT``; after a measurement window
``INFO commandstats`` says how many commands Redis ran: the scripts the processes sent
(EVALSHA) and every command those scripts ran inside Redis (ZADD, HSET, TIME …, which
commandstats counts too), per second. Nothing is sent to the webhook (nothing happens).

The processes are forked from a server that imported erralert once (multiprocessing's
``forkserver``), so that 50 of them start within seconds on a small machine; each is a
process of its own with its own Redis connection, worker thread and fleet membership.
The benchmark's own commands (CONFIG, INFO) are left out of the figures.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.synchronize
import os
import queue
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import Row, Section, Target
from benchmarks.stores import Skip, redis_server
from erralert._stores.fleet import LEASE, RollCall

SERVICE = "idle"
# a port nobody listens on: an idle process sends nothing (nothing to report)
WEBHOOK = "webhook+http://127.0.0.1:9/discard"
FLEET_SIZES = (1, 10, 30, 50)
QUICK_SIZES = (1, 3)
REFERENCE, LARGEST = 10, 50  # flat: the load at LARGEST within FLAT of the load at REFERENCE
FLAT = 1.5
SCRIPTS_BOUND = 5.0  # scripts/s at LARGEST: a claim and about one check-in a second, not N
COMMANDS_BOUND = 50.0  # commands/s at LARGEST, those the scripts run included (about 15 each)
MIN_WINDOW = 60.0  # seconds measured per N (at least two check-in periods: see window())
SETTLE = 15.0  # seconds after the last process is live: changing check-ins settle in ~5
QUICK_WINDOW, QUICK_SETTLE = 3.0, 1.0
START_TIMEOUT = 120.0
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")
OWN_COMMANDS = ("info", "config|resetstat")  # what this benchmark sends during a window


# -- one idle process ---------------------------------------------------------------------------
def idle_process(
    url: str, reports: multiprocessing.Queue[tuple[int, list[str]]], stop: Any
) -> None:
    """Runs in a child: an alerter on the shared Redis with its worker running, idle until
    ``stop`` is set; reports its pid when started, then what erralert logged (warnings and
    errors), and closes its alerter (which leaves the fleet)."""
    import erralert

    logged: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(f"{record.levelname}: {record.getMessage()}")

    logger = logging.getLogger("erralert")
    logger.addHandler(Recorder(logging.WARNING))
    logger.propagate = False  # counted and reported, not printed by 50 processes
    alerter = erralert.Alerter([WEBHOOK], store=url, service=SERVICE)
    alerter.outbox.start()
    reports.put((os.getpid(), []))
    stop.wait()
    alerter.close(5.0)
    reports.put((os.getpid(), logged))


@dataclass(frozen=True)
class Fleet:
    processes: list[multiprocessing.process.BaseProcess]
    reports: multiprocessing.Queue[tuple[int, list[str]]]
    stop: multiprocessing.synchronize.Event


def context() -> multiprocessing.context.BaseContext:
    """Children forked from a server that imported erralert once: fast to start, each still
    a process of its own (``spawn`` where there is no fork server)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["erralert", "redis", "httpx", "benchmarks.fleet"])
    return ctx


@contextlib.contextmanager
def idle_fleet(
    ctx: multiprocessing.context.BaseContext, url: str, n: int, logged: list[str]
) -> Iterator[Fleet]:
    """``n`` idle processes on ``url``, all started; stopped (their alerters closed) after
    the block, what they logged appended to ``logged``."""
    reports: multiprocessing.Queue[tuple[int, list[str]]] = ctx.Queue()
    stop = ctx.Event()
    processes = [
        ctx.Process(target=idle_process, args=(url, reports, stop), daemon=True)  # type: ignore[attr-defined]
        for _ in range(n)
    ]
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + START_TIMEOUT
        started = 0
        while started < n:
            try:
                reports.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"only {started} of {n} idle processes started") from None
            started += 1
        yield Fleet(processes, reports, stop)
    finally:
        stop.set()
        finished = 0
        with contextlib.suppress(queue.Empty):
            while finished < len(processes):
                _, lines = reports.get(timeout=15.0)
                logged.extend(lines)
                finished += 1
        for process in processes:
            process.join(5.0)
            if process.is_alive():
                process.terminate()
                process.join(5.0)
        reports.close()


# -- what Redis says ----------------------------------------------------------------------------
def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5.0)


def fleet_keys(client: Any) -> tuple[int, int, bytes | None]:
    """(live processes of the service, of the robot, the lease holder) as Redis holds them."""
    members = robot = 0
    for key in client.keys("{erralert:fleet}:svc:*"):
        members += client.zcard(key)
    for key in client.keys("{erralert:fleet}:robot:*"):
        robot = max(robot, client.zcard(key))
    holders = [client.get(key) for key in client.keys("{erralert:fleet}:lease:*")]
    return members, robot, holders[0] if len(holders) == 1 else None


def wait_live(client: Any, n: int, timeout: float) -> None:
    """Until Redis holds all ``n`` processes as live (each checked in at least once)."""
    deadline = time.monotonic() + timeout
    while True:
        members, robot, _ = fleet_keys(client)
        if members == n and robot == n:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{members} (robot: {robot}) of {n} processes live in Redis")
        time.sleep(0.5)


def command_calls(client: Any) -> dict[str, int]:
    """Calls per command since the last ``CONFIG RESETSTAT``, the benchmark's own left out."""
    stats: Mapping[str, Mapping[str, Any]] = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(fields["calls"]) for name, fields in stats.items()}
    return {name: count for name, count in calls.items() if name not in OWN_COMMANDS and count}


# -- the scenario --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measured:
    n: int
    seconds: float
    calls: Mapping[str, int]
    live: int  # processes live in Redis after the window
    holder: bool  # exactly one lease holder after the window

    @property
    def commands(self) -> float:
        return sum(self.calls.values()) / self.seconds

    @property
    def scripts(self) -> float:
        return sum(self.calls.get(name, 0) for name in SCRIPT_COMMANDS) / self.seconds

    def per_command(self) -> str:
        ordered = sorted(self.calls.items(), key=lambda item: (-item[1], item[0]))
        return " · ".join(f"{name} {count / self.seconds:.2f}" for name, count in ordered)


def window(n: int) -> float:
    """Seconds to measure ``n`` processes: at least two of a process's check-in periods,
    which the processes, started together, begin in step (a shorter window catches a
    clump of their check-ins or misses it)."""
    return max(MIN_WINDOW, 2 * RollCall.period(n))


def expected_scripts(n: int) -> float:
    """Scripts a second the design aims at: the lease holder claims every second and renews
    every LEASE/3 seconds; the others check in every ``period(n)`` seconds."""
    return 1.0 + 3.0 / LEASE + (n - 1) / RollCall.period(n)


def measure_fleet(
    ctx: multiprocessing.context.BaseContext,
    url: str,
    n: int,
    *,
    settle: float,
    seconds: float,
    logged: list[str],
) -> Measured:
    client = redis_client(url)
    try:
        client.flushall()  # what an earlier N left (its members left when they closed)
        with idle_fleet(ctx, url, n, logged):
            wait_live(client, n, START_TIMEOUT)
            time.sleep(settle)
            client.config_resetstat()
            started = time.monotonic()
            time.sleep(seconds)
            calls = command_calls(client)
            elapsed = time.monotonic() - started
            live, _, holder = fleet_keys(client)
        return Measured(n, elapsed, calls, live, holder is not None)
    finally:
        client.close()


def section(*, quick: bool = False) -> Section:
    sizes = QUICK_SIZES if quick else FLEET_SIZES
    settle = QUICK_SETTLE if quick else SETTLE
    title = "7. Idle fleet: commands per second on one Redis"
    logged: list[str] = []
    measured: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="erralert-bench-") as tmp:
        try:
            with redis_server(Path(tmp)) as url:
                ctx = context()
                for n in sizes:
                    seconds = QUICK_WINDOW if quick else window(n)
                    measured.append(
                        measure_fleet(ctx, url, n, settle=settle, seconds=seconds, logged=logged)
                    )
        except Skip as why:
            return Section(title, (), (), (f"skipped: {why}",))
    return fleet_section(title, measured, logged)


def fleet_section(title: str, measured: Sequence[Measured], logged: Sequence[str]) -> Section:
    by_n = {m.n: m for m in measured}
    reference = by_n.get(REFERENCE, measured[0])
    largest = by_n.get(LARGEST, measured[-1])
    rows: list[Row] = []
    for m in measured:
        rows.append(
            Row(
                f"{m.n} processes: all commands",
                m.commands,
                "commands/s",
                None if m is reference else f"{reference.n} processes: all commands",
                note=m.per_command(),
            )
        )
        rows.append(
            Row(
                f"{m.n} processes: scripts (EVALSHA)",
                m.scripts,
                "scripts/s",
                None if m is reference else f"{reference.n} processes: scripts (EVALSHA)",
                note=f"the design aims at {expected_scripts(m.n):.2f}",
            )
        )
    ratio = largest.commands / reference.commands if reference.commands else float("inf")
    problems = [
        f"{m.n} processes: {m.live} live in Redis after the window"
        for m in measured
        if m.live != m.n
    ]
    problems += [f"{m.n} processes: no single lease holder" for m in measured if not m.holder]
    problems += [f"a process logged {line}" for line in logged[:5]]
    targets = (
        Target(
            f"fleet idle: Redis commands/s flat from {reference.n} to {largest.n} processes "
            f"(≤ {FLAT} times)",
            ratio <= FLAT,
            f"{ratio:.2f} times ({largest.commands:.1f} vs {reference.commands:.1f} commands/s)",
        ),
        Target(
            f"fleet idle: ≤ {SCRIPTS_BOUND:.0f} scripts/s and ≤ {COMMANDS_BOUND:.0f} commands/s "
            f"at {largest.n} processes",
            largest.scripts <= SCRIPTS_BOUND and largest.commands <= COMMANDS_BOUND,
            f"{largest.scripts:.2f} scripts/s, {largest.commands:.1f} commands/s",
        ),
        Target(
            "fleet idle: every process live in Redis, one lease holder, nothing logged",
            not problems,
            "; ".join(problems)
            or f"{sum(m.n for m in measured)} processes in {len(measured)} fleets",
        ),
    )
    windows = ", ".join(f"{m.n}: {m.seconds:.0f} s" for m in measured)
    notes = (
        f"N idle processes of one service, each an Alerter on the same Redis with its worker "
        f"running; INFO commandstats over a window after CONFIG RESETSTAT (windows {windows}); "
        "'all commands' counts those the scripts run inside Redis too; per command in the note",
        f"a fleet without the claim lease would run N claims a second: {largest.n} scripts/s "
        f"at {largest.n} processes",
    )
    return Section(title, tuple(rows), targets, notes)

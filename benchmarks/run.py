"""First benchmarks: the ASGI happy path bare vs wrapped, and the time per captured
exception. Run: ``python -m benchmarks``. Each figure is the median of several rounds.

The app is called in-process (no network): what is measured is erralert's own cost.

``python -m benchmarks overhead`` runs only these; ``storm``, ``memory`` and ``stores`` (both)
run the store benchmarks of ``benchmarks.stores``. No argument: everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

import erralert
from erralert.asgi import ASGIMiddleware

ROUNDS = 15


@dataclass(frozen=True)
class Timing:
    median: float  # seconds per operation
    best: float  # the fastest round: the least disturbed by the rest of the machine
    mean: float  # all rounds together: includes work done only now and then (batch folds)


def measure(n: int, *runs: Callable[[int], None], rounds: int = ROUNDS) -> list[Timing]:
    """Seconds per operation of each run over ``rounds`` rounds of ``n`` operations. The
    rounds of the runs alternate (A B A B …) so that a drift of the machine's speed
    affects a baseline and its contender alike."""
    for run in runs:
        run(max(1, n // 10))  # warm up caches and code paths
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, times in zip(runs, samples, strict=True):
            started = time.perf_counter()
            run(n)
            times.append((time.perf_counter() - started) / n)
    return [
        Timing(statistics.median(times), min(times), statistics.fmean(times)) for times in samples
    ]


async def trivial_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"bench")],
    "client": ("127.0.0.1", 1234),
    "server": ("127.0.0.1", 80),
}


def asgi_runner(app: Any) -> Callable[[int], None]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def many(n: int) -> None:
        for _ in range(n):
            await app(SCOPE, receive, send)

    loop = asyncio.new_event_loop()
    return lambda n: loop.run_until_complete(many(n))


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", hello)])


def deep(depth: int) -> None:
    if depth <= 1:
        raise ValueError("order 42 failed")
    deep(depth - 1)


def capture_runner(alerter: erralert.Alerter, depth: int = 20) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            try:
                deep(depth)
            except ValueError as exc:
                alerter.capture_exception(exc)

    return run


def raise_only(depth: int = 20) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            with contextlib.suppress(ValueError):
                deep(depth)

    return run


def overhead_scenario() -> None:
    discard = httpx.MockTransport(lambda request: httpx.Response(200))
    alerter = erralert.Alerter(
        ["webhook+http://127.0.0.1:9/discard"], window=3600, transport=discard
    )

    bare, wrapped = measure(
        20_000, asgi_runner(trivial_app), asgi_runner(ASGIMiddleware(trivial_app, alerter=alerter))
    )
    star = starlette_app()
    star_bare, star_wrapped = measure(
        5_000, asgi_runner(star), asgi_runner(ASGIMiddleware(star, alerter=alerter))
    )
    raising, repeat = measure(20_000, raise_only(), capture_runner(alerter))

    # every capture a new fingerprint: the alert path (full event, scrub, enqueue), with
    # the worker rendering and "sending" (to a discarding transport) at the same time
    counter = iter(range(10**9))
    alerting = erralert.Alerter(
        ["webhook+http://127.0.0.1:9/discard"],
        fingerprint=lambda event: str(next(counter)),
        transport=discard,
    )
    (alert,) = measure(1_000, capture_runner(alerting))
    alerting.close(0.1)
    alerter.close(0.1)

    def row(name: str, t: Timing, base: Timing | None = None, minus: Timing | None = None) -> str:
        med, best = t.median, t.best
        if minus is not None:  # the cost on top of raising and catching
            med, best = med - minus.median, best - minus.best
        ratio = f"{t.median / base.median:.3f} / {t.best / base.best:.3f}" if base else ""
        return f"| {name} | {med * 1e6:.2f} | {best * 1e6:.2f} | {ratio} |"

    print("| scenario | median µs | best µs | ratio to bare (median / best) |")
    print("|---|---:|---:|---:|")
    print(row("ASGI request, bare trivial app", bare))
    print(row("ASGI request, trivial app + ASGIMiddleware", wrapped, bare))
    print(row("Starlette route, bare", star_bare))
    print(row("Starlette route + ASGIMiddleware", star_wrapped, star_bare))
    print(row("raise + catch, 20-frame stack (baseline)", raising))
    print(
        row(
            "capture_exception, repeat inside the window (on top of raising)", repeat, None, raising
        )
    )
    print(row("capture_exception, new error: alert (on top of raising)", alert, None, raising))
    print()
    overhead = (star_wrapped.best / star_bare.best - 1) * 100
    print(f"Starlette happy-path overhead (best rounds): {overhead:+.1f} %")
    cost = (repeat.median - raising.median) * 1e6
    print(f"error path: {cost:.1f} µs per captured repeat (median; target ≤ 50 µs)")
    print()
    sys.stdout.flush()


SCENARIOS = ("overhead", "storm", "memory")
GROUPS = {"all": SCENARIOS, "stores": ("storm", "memory")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios (default: all); 1 when a store benchmark missed a target or
    failed its own checks."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join((*SCENARIOS, *GROUPS))} (default: all)",
    )
    args = parser.parse_args(argv)
    chosen: list[str] = []
    for name in args.scenarios or ["all"]:
        if name not in SCENARIOS and name not in GROUPS:
            parser.error(f"unknown scenario {name!r}")
        for scenario in GROUPS.get(name, (name,)):
            if scenario not in chosen:
                chosen.append(scenario)

    from benchmarks import stores  # imports this module: not at the top

    print(f"erralert {erralert.__version__}, Python {platform.python_version()}, ", end="")
    print(f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform(terse=True)}")
    print()
    started = time.perf_counter()
    ok = True
    for scenario in SCENARIOS:
        if scenario not in chosen:
            continue
        if scenario == "overhead":
            overhead_scenario()
        elif scenario == "storm":
            ok = stores.storm() and ok
        else:
            ok = stores.memory() and ok
    print(f"benchmarks ran {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

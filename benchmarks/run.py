"""First benchmarks: the ASGI happy path bare vs wrapped, and the time per captured
exception. Run: ``python -m benchmarks``. Each figure is the median of several rounds.

The app is called in-process (no network): what is measured is erralert's own cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

import erralert
from erralert.asgi import ASGIMiddleware

ROUNDS = 7


def median_time(run: Callable[[int], None], n: int) -> float:
    """Seconds per operation, median over ROUNDS rounds of ``n`` operations."""
    run(max(1, n // 10))  # warm up caches and code paths
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run(n)
        samples.append((time.perf_counter() - started) / n)
    return statistics.median(samples)


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


def main() -> None:
    alerter = erralert.Alerter(["webhook+http://127.0.0.1:9/discard"], window=3600)
    erralert.init(webhooks=["webhook+http://127.0.0.1:9/discard"], window=3600)

    bare = median_time(asgi_runner(trivial_app), 20_000)
    wrapped = median_time(asgi_runner(ASGIMiddleware(trivial_app, alerter=alerter)), 20_000)

    star = starlette_app()
    star_bare = median_time(asgi_runner(star), 5_000)
    star_wrapped = median_time(asgi_runner(ASGIMiddleware(star, alerter=alerter)), 5_000)

    raising = median_time(raise_only(), 20_000)
    captured = median_time(capture_runner(alerter), 20_000)
    capture_cost = captured - raising

    # every capture a new fingerprint: the alert path (full event, scrub, enqueue)
    counter = iter(range(10**9))
    alerting = erralert.Alerter(
        ["webhook+http://127.0.0.1:9/discard"],
        fingerprint=lambda event: str(next(counter)),
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
    )
    alert_cost = median_time(capture_runner(alerting), 2_000) - raising
    alerting.close(0.1)

    rows = [
        ("ASGI request, bare app", bare * 1e6, "µs", "1.00"),
        ("ASGI request, ASGIMiddleware", wrapped * 1e6, "µs", f"{wrapped / bare:.3f}"),
        ("Starlette route, bare", star_bare * 1e6, "µs", "1.00"),
        (
            "Starlette route, ASGIMiddleware",
            star_wrapped * 1e6,
            "µs",
            f"{star_wrapped / star_bare:.3f}",
        ),
        ("raise + catch, 20-frame stack (baseline)", raising * 1e6, "µs", ""),
        ("capture_exception, repeat in window", capture_cost * 1e6, "µs", "on top of raising"),
        ("capture_exception, new error (alert)", alert_cost * 1e6, "µs", "on top of raising"),
    ]
    print(f"erralert {erralert.__version__} — python {platform.python_version()}")
    print(f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform(terse=True)}")
    print(f"{'scenario':45} {'median':>10}  ratio")
    for name, value, unit, ratio in rows:
        print(f"{name:45} {value:8.2f} {unit}  {ratio}")
    overhead = (star_wrapped / star_bare - 1) * 100
    print(f"\nASGI happy-path overhead on a Starlette route: {overhead:+.1f} %")
    print(f"error path: {capture_cost * 1e6:.1f} µs per captured exception (target ≤ 50 µs)")
    alerter.close(0.1)
    erralert.close(0.1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

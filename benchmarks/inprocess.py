"""Scenarios 1-3 of issue 8, in-process (no network): erralert's own cost against the bare
app and against sentry-sdk, measured in the same run.

* ``asgi``: a trivial Starlette route (``PlainTextResponse("ok")``) called as an ASGI app
  from one event loop: bare, with ``app.add_middleware(erralert.ASGIMiddleware)`` after
  ``erralert.init(...)`` (the README's line), and with sentry-sdk's StarletteIntegration.
* ``wsgi``: a trivial Flask route called as a WSGI app (a fresh environ dict per request,
  ``start_response``, the body iterated and closed): bare, with
  ``erralert.integrations.flask.init_app(app)`` (the README's line), and with sentry-sdk's
  FlaskIntegration.
* ``errors``: ``capture_exception`` of an exception raised through a 20-frame stack, on
  top of raising and catching it: erralert's repeat of a known error (inside its window:
  the throttled path), erralert's first occurrence (the alert path: full event, scrub,
  enqueue; a new fingerprint each time), and ``sentry_sdk.capture_exception``.

sentry-sdk patches Starlette's and Flask's classes for the whole process, so it is
measured in processes of its own: every figure comes from child processes
(``python -m benchmarks.inprocess child SCENARIO SIDE ...``), the "erralert" side (bare
and erralert, rounds alternating) and the "sentry" side (sentry-sdk; for errors also the
raise-and-catch baseline) started in turn, several times. sentry-sdk is set up as its
docs say: ``sentry_sdk.init(dsn=..., traces_sample_rate=0, transport=<discards>)`` before
the app is built, default integrations (StarletteIntegration and FlaskIntegration enable
themselves; its docs say to drop a manual ``SentryAsgiMiddleware`` since they wrap the
app). erralert delivers to a webhook through an httpx ``MockTransport`` that answers 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.report import Row, Section, Target
from benchmarks.run import ROUNDS, Timing, measure, paired_overhead

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK = "webhook+http://127.0.0.1:9/discard"
SENTRY_DSN = "http://public@127.0.0.1:9/1"  # nothing listens there: the transport discards
DEPTH = 20

HAPPY_TARGET = 3.0  # % over bare, from medians
ERROR_TARGET_US = 50.0
ERROR_SHARE = 1 / 3  # of sentry-sdk's time for the same exception


@dataclass(frozen=True)
class Plan:
    """How much to run: child processes per side, rounds per process, and the length of a
    round (each child sizes its rounds to it from a timed trial of the variant)."""

    processes: int
    rounds: int
    round_seconds: float

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(processes=1, rounds=3, round_seconds=0.01)
        return cls(processes=5, rounds=ROUNDS, round_seconds=0.1)

    @classmethod
    def happy(cls, quick: bool) -> Plan:
        """The happy paths: a difference of ~1 % to resolve, so many short rounds (each
        pair of neighbouring rounds shares the machine's moment)."""
        if quick:
            return cls.of(quick)
        return cls(processes=5, rounds=100, round_seconds=0.025)


def sized(run: Callable[[int], None], seconds: float) -> int:
    """How many operations of ``run`` take about ``seconds`` (from a trial of at least
    20 ms after a first, untimed operation: imports and first-time work)."""
    run(1)
    n = 1
    while True:
        started = time.perf_counter()
        run(n)
        elapsed = time.perf_counter() - started
        if elapsed >= 0.02 or n >= 1 << 20:
            return max(10, round(seconds * n / elapsed))
        n *= 2


# -- the apps and the ways they are called -------------------------------------------------------
def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", hello)])


def flask_app() -> Any:
    from flask import Flask

    app = Flask("bench")

    @app.route("/")
    def hello() -> str:
        return "ok"

    return app


class NothingASGI:
    """The reference: an ASGI middleware that does nothing but pass the call on — what any
    layer costs, the floor under erralert's."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class NothingWSGI:
    """The reference: ``app.wsgi_app`` wrapped in a callable that only passes it on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


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
    """``n`` requests through ``app`` on one event loop; checks the first answers 200 ok."""
    answer: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def record(message: dict[str, Any]) -> None:
        answer.append(message.get("status", message.get("body")))

    async def many(n: int) -> None:
        for _ in range(n):
            await app(dict(SCOPE), receive, send)  # a server gives every request its scope

    loop = asyncio.new_event_loop()
    loop.run_until_complete(app(dict(SCOPE), receive, record))
    if answer != [200, b"ok"]:
        raise RuntimeError(f"the ASGI app answered {answer!r}")
    return lambda n: loop.run_until_complete(many(n))


ENVIRON = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "bench",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "bench",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def wsgi_runner(app: Any) -> Callable[[int], None]:
    """``n`` requests through ``app`` as a WSGI server makes them (fresh environ, the body
    iterated and closed); checks the first answers 200 ok."""

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
        return io.BytesIO().write

    def call(start: Callable[..., Any]) -> bytes:
        environ = dict(ENVIRON)
        environ["wsgi.input"] = io.BytesIO()
        body: Iterable[bytes] = app(environ, start)
        try:
            return b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    statuses: list[str] = []
    content = call(lambda status, headers, exc_info=None: statuses.append(status))
    if statuses != ["200 OK"] or content != b"ok":
        raise RuntimeError(f"the WSGI app answered {statuses!r} {content!r}")

    def run(n: int) -> None:
        for _ in range(n):
            call(start_response)

    return run


def deep(depth: int) -> None:
    if depth <= 1:
        raise ValueError("order 42 failed")
    deep(depth - 1)


def capture_runner(
    capture: Callable[[BaseException], Any], done: list[int] | None = None
) -> Callable[[int], None]:
    """``n`` exceptions raised through ``DEPTH`` frames and captured; ``done[0]`` counts
    the captures."""
    tally = done if done is not None else [0]

    def run(n: int) -> None:
        for _ in range(n):
            try:
                deep(DEPTH)
            except ValueError as exc:
                capture(exc)
        tally[0] += n

    return run


def raise_only() -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            with contextlib.suppress(ValueError):
                deep(DEPTH)

    return run


# -- the child processes ---------------------------------------------------------------------------
class Counting:
    """An httpx transport for erralert's webhook: answers 200 and counts the requests."""

    def __init__(self) -> None:
        self.count = 0
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return httpx.Response(200)


def init_sentry() -> Any:
    """sentry-sdk as its docs set it up for errors only; its transport (an instance of a
    ``Transport`` subclass) counts the envelopes it is handed and discards them."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class Discard(Transport):
        count = 0

        def capture_envelope(self, envelope: Any) -> None:
            type(self).count += 1

    transport = Discard()
    sentry_sdk.init(dsn=SENTRY_DSN, traces_sample_rate=0, transport=transport)
    return transport


def require_integration(name: str) -> None:
    import sentry_sdk

    if sentry_sdk.get_client().get_integration(name) is None:
        raise RuntimeError(f"sentry-sdk's {name} integration is not active")


def child(scenario: str, side: str, plan: Plan) -> dict[str, Any]:
    """One process's rounds; seconds per operation of every round, by variant, and the
    operations per round (``n_<variant>``)."""
    import erralert

    results: dict[str, Any] = {}
    rounds, seconds = plan.rounds, plan.round_seconds

    def timed(names: tuple[str, ...], *runs: Callable[[int], None], gc: bool = True) -> None:
        # the slowest run's rounds ≈ seconds (the sizing trials also warm every run up)
        n = min(sized(run, seconds) for run in runs)
        timings = measure(n, *runs, rounds=rounds, pause_gc=gc)
        for name, timing in zip(names, timings, strict=True):
            results[name] = timing.samples
            results[f"n_{name}"] = [n]

    if side == "erralert":
        hook = Counting()
        erralert.init(webhooks=[WEBHOOK], window=3600, transport=hook.transport)
        if scenario == "asgi":
            bare, nothing, wrapped = starlette_app(), starlette_app(), starlette_app()
            nothing.add_middleware(NothingASGI)
            wrapped.add_middleware(erralert.ASGIMiddleware)
            runs = (asgi_runner(bare), asgi_runner(nothing), asgi_runner(wrapped))
            timed(("bare", "nothing", "erralert"), *runs)
        elif scenario == "wsgi":
            import erralert.integrations.flask

            bare, nothing, wrapped = flask_app(), flask_app(), flask_app()
            nothing.wsgi_app = NothingWSGI(nothing.wsgi_app)
            erralert.integrations.flask.init_app(wrapped)
            runs = (wsgi_runner(bare), wsgi_runner(nothing), wsgi_runner(wrapped))
            timed(("bare", "nothing", "erralert"), *runs)
        else:
            alerter = erralert.get_alerter()
            repeat = capture_runner(alerter.capture_exception)
            timed(("raise_erralert", "repeat"), raise_only(), repeat)
            # every capture a new fingerprint: the alert path, with the worker rendering
            # and "sending" (to the counting transport) on its thread at the same time
            counter = iter(range(10**9))
            alerting_hook = Counting()
            alerting = erralert.Alerter(
                [WEBHOOK],
                fingerprint=lambda event: str(next(counter)),
                transport=alerting_hook.transport,
            )
            timed(("alert",), capture_runner(alerting.capture_exception), gc=False)
            alerting.close(10.0)
            alerter.flush(10.0)
            results["alerts_delivered"] = alerting_hook.count
        erralert.close(10.0)
        results["webhook_requests"] = hook.count
        return results

    import sentry_sdk

    transport = init_sentry()  # before the app is built, as sentry-sdk's docs say
    if scenario == "asgi":
        app = starlette_app()
        require_integration("starlette")
        timed(("sentry",), asgi_runner(app))
    elif scenario == "wsgi":
        app = flask_app()
        require_integration("flask")
        timed(("sentry",), wsgi_runner(app))
    else:
        before, captures = transport.count, [0]
        timed(
            ("raise_sentry", "sentry"),
            raise_only(),
            capture_runner(sentry_sdk.capture_exception, captures),
        )
        results["sentry_envelopes"] = transport.count - before
        results["sentry_captures"] = captures[0]
    results["sentry_integrations"] = ", ".join(sorted(sentry_sdk.get_client().integrations))
    sentry_sdk.flush(5.0)
    return results


def run_children(scenario: str, plan: Plan) -> dict[str, Any]:
    """The two sides' processes, started in turn (the first side alternating); their round
    samples pooled by variant, their counts summed."""
    pooled: dict[str, Any] = {}
    for k in range(plan.processes):
        sides = ("erralert", "sentry") if k % 2 == 0 else ("sentry", "erralert")
        for side in sides:
            args = [sys.executable, "-m", "benchmarks.inprocess", "child", scenario, side]
            args += [str(plan.rounds), str(plan.round_seconds)]
            done = subprocess.run(
                args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"{scenario} child ({side}) failed ({done.returncode}):\n{done.stderr[-3000:]}"
                )
            for key, value in json.loads(done.stdout.strip().splitlines()[-1]).items():
                if isinstance(value, list):
                    pooled.setdefault(key, []).extend(value)
                elif isinstance(value, str):
                    pooled[key] = value
                else:
                    pooled[key] = pooled.get(key, 0) + value
    return pooled


def how(plan: Plan, samples: dict[str, Any], names: dict[str, str], unit: str) -> str:
    """What was run, for a section's notes: the rounds and their sizes by variant."""
    sizes = ", ".join(
        f"{label} {min(samples[f'n_{key}'])}-{max(samples[f'n_{key}'])}"
        for key, label in names.items()
    )
    return (
        f"{plan.processes} process(es) per side, each {plan.rounds} rounds of about "
        f"{plan.round_seconds * 1000:.0f} ms ({unit} per round: {sizes}); median "
        "and best of all those rounds; the garbage collector runs before each round and is "
        "disabled during it"
    )


def _happy(
    scenario: str, title: str, erralert_name: str, layer_name: str, sentry_name: str, quick: bool
) -> Section:
    plan = Plan.happy(quick)
    samples = run_children(scenario, plan)
    bare, nothing, wrapped, sentry = (
        Timing.of(samples[k]) for k in ("bare", "nothing", "erralert", "sentry")
    )
    names = (
        "bare",
        f"+ a layer that does nothing ({layer_name}; reference)",
        f"+ erralert ({erralert_name})",
        f"+ sentry-sdk ({sentry_name})",
    )
    rows = tuple(
        Row(name, t.median * 1e6, "µs", None if i == 0 else names[0], t.best * 1e6)
        for i, (name, t) in enumerate(zip(names, (bare, nothing, wrapped, sentry), strict=True))
    )
    ours = paired_overhead(samples["erralert"], samples["bare"])
    floor = paired_overhead(samples["nothing"], samples["bare"])
    of_medians = (wrapped.median / bare.median - 1) * 100
    theirs = (sentry.median / bare.median - 1) * 100
    label = scenario.upper()
    targets = (
        Target(
            f"{label} happy path: erralert ≤ {HAPPY_TARGET:.0f} % over bare "
            "(median of paired rounds)",
            ours <= HAPPY_TARGET,
            f"{ours:+.1f} % (a layer that does nothing: {floor:+.1f} %; "
            f"ratio of the medians: {of_medians:+.1f} %)",
        ),
        Target(
            f"{label} happy path: erralert's overhead below sentry-sdk's (medians)",
            of_medians < theirs,
            f"{of_medians:+.1f} % vs {theirs:+.1f} %",
        ),
    )
    notes = (
        how(
            plan,
            samples,
            {"bare": "bare, the reference layer and erralert", "sentry": "sentry-sdk"},
            "requests",
        ),
        "bare, the reference layer and erralert: the same processes, taking turns in every "
        "round (the order reversed every other round); erralert's overhead is the median of "
        "its rounds' ratios to the bare round of the same turn, which a machine whose speed "
        "wanders by a few % between rounds disturbs least; sentry-sdk: processes of its own "
        "(it patches the framework's classes), started in turn with them, so its overhead is "
        "from the medians",
        f"sentry-sdk: sentry_sdk.init(dsn={SENTRY_DSN!r}, traces_sample_rate=0, "
        "transport=<discards>) before the app is built, default integrations; active: "
        f"{samples['sentry_integrations']}",
    )
    return Section(title, rows, targets, notes)


def asgi_section(*, quick: bool = False) -> Section:
    return _happy(
        "asgi",
        "1. ASGI happy path: a trivial Starlette route, in-process",
        "app.add_middleware(erralert.ASGIMiddleware)",
        "add_middleware",
        "StarletteIntegration",
        quick,
    )


def wsgi_section(*, quick: bool = False) -> Section:
    return _happy(
        "wsgi",
        "2. WSGI happy path: a trivial Flask route, in-process",
        "erralert.integrations.flask.init_app(app)",
        "app.wsgi_app wrapped",
        "FlaskIntegration",
        quick,
    )


def errors_section(*, quick: bool = False) -> Section:
    plan = Plan.of(quick)
    s = run_children("errors", plan)
    ours_raise, theirs_raise = Timing.of(s["raise_erralert"]), Timing.of(s["raise_sentry"])
    repeat, alert, sentry = Timing.of(s["repeat"]), Timing.of(s["alert"]), Timing.of(s["sentry"])

    def on_top(t: Timing, base: Timing) -> tuple[float, float]:
        return (t.median - base.median) * 1e6, (t.best - base.best) * 1e6

    repeat_us, repeat_best = on_top(repeat, ours_raise)
    alert_us, alert_best = on_top(alert, ours_raise)
    sentry_us, sentry_best = on_top(sentry, theirs_raise)
    sentry_row = "sentry_sdk.capture_exception (discarding transport)"
    minus = "minus the raise + catch of its processes"
    rows = (
        Row(
            "raise + catch, 20-frame stack (erralert's processes)",
            ours_raise.median * 1e6,
            "µs",
            best=ours_raise.best * 1e6,
            note="the baseline subtracted below",
        ),
        Row(
            "raise + catch, 20-frame stack (sentry-sdk's processes)",
            theirs_raise.median * 1e6,
            "µs",
            best=theirs_raise.best * 1e6,
            note="the baseline subtracted below",
        ),
        Row(sentry_row, sentry_us, "µs", best=sentry_best, note=minus),
        Row(
            "erralert capture_exception, repeat inside the window (throttled)",
            repeat_us,
            "µs",
            sentry_row,
            repeat_best,
            minus,
        ),
        Row(
            "erralert capture_exception, first occurrence (alert path)",
            alert_us,
            "µs",
            sentry_row,
            alert_best,
            f"{minus}; gc left on",
        ),
    )
    share = repeat_us / sentry_us if sentry_us > 0 else float("inf")
    envelopes, captures = s["sentry_envelopes"], s["sentry_captures"]
    targets = (
        Target(
            f"error path: erralert ≤ {ERROR_TARGET_US:.0f} µs per captured repeat (median)",
            repeat_us <= ERROR_TARGET_US,
            f"{repeat_us:.1f} µs",
        ),
        Target(
            "error path: erralert ≤ 1/3 of sentry-sdk's time for the same exception (medians)",
            share <= ERROR_SHARE,
            f"{repeat_us:.1f} µs vs {sentry_us:.1f} µs ({share:.2f})",
        ),
        Target(
            "error path: sentry-sdk handed an envelope to its transport for every capture",
            envelopes >= captures,
            f"{envelopes} envelopes for {captures} captures",
        ),
    )
    notes = (
        how(
            plan,
            s,
            {"repeat": "erralert repeats", "alert": "erralert alerts", "sentry": "sentry-sdk"},
            "captures",
        ),
        "every capture figure is the median (best) round's time per capture minus the "
        "median (best) round's raise + catch of the same processes: the cost on top of "
        "raising and catching; ratios are to sentry-sdk's",
        "alert path: every capture a new fingerprint (full event, scrub, enqueue) while the "
        "delivery worker renders and posts to a discarding transport in the same interpreter "
        f"(gc left on); webhook requests received: {s['alerts_delivered']}",
        "sentry-sdk: capture_exception builds and serialises the event on the caller's "
        "thread and hands the envelope to a transport that discards it; integrations active: "
        f"{s['sentry_integrations']}",
    )
    return Section("3. Error path: capture_exception, 20-frame stack", rows, targets, notes)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "child":
        scenario, side = sys.argv[2], sys.argv[3]
        plan = Plan(1, int(sys.argv[4]), float(sys.argv[5]))
        print(json.dumps(child(scenario, side, plan)))
    else:
        sys.exit("usage: python -m benchmarks [--quick] [asgi|wsgi|errors] (child is internal)")

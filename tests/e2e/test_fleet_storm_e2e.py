"""Issue 19, acceptance 1: two services (different ``service=``), four processes each, one
shared store (a SQLite file, then a Redis server) and ONE DingTalk robot; a storm of 100
distinct errors. The robot's budget belongs to the robot, not to a service: it never gets
more than its limit in any rolling period, and every error is named in chat.

Time is scaled: the robot's limit is written ``?rate=20/20s`` (DingTalk's own is 20 per
60 s), so that the storm, its summary and the full alerts of all 100 errors take about two
minutes instead of six; the rolling-window rules are the same for any period.
``ERRALERT_FLEET_STORM_PERIOD=60`` runs it in DingTalk's own time."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import erralert
from tests.receiver import Answer, Receiver
from tests.servers import redis_server
from tests.test_storm_pacing import max_in_any

SERVICES = ("checkout", "billing")
PROCESSES = 4  # per service
ERRORS = 100  # distinct errors, spread over the 8 processes
LIMIT, PERIOD = 20, float(os.environ.get("ERRALERT_FLEET_STORM_PERIOD", "20"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420 * max(1.0, PERIOD / 20))]


def _title(n: int) -> str:
    return f"fleet storm error {n:03d}"


def _storm(url: str, store: str, service: str, process: int, barrier: Any, period: float) -> None:
    alerter = erralert.Alerter(
        [url],
        store=store,
        service=service,
        # every new error folded into a storm summary gets its full alert after it
        storm_followups=ERRORS,
        shutdown_timeout=5.0,
    )
    mine = [n for n in range(ERRORS) if n % (len(SERVICES) * PROCESSES) == process]
    # one function per error: distinct culprits, so 100 distinct errors (and storm lines)
    code = "\n".join(f"def e{n}():\n    raise ValueError({_title(n)!r})" for n in mine)
    namespace: dict[str, Any] = {}
    exec(compile(code, f"{service}_worker_{process}.py", "exec"), namespace)
    barrier.wait()  # the eight processes storm together
    for n in mine:
        try:
            namespace[f"e{n}"]()
        except ValueError as exc:
            alerter.capture_exception(exc)
    # the period from the parent: a child does not see the test's ERRALERT_* variables
    assert alerter.flush(12 * period), "not everything was delivered"
    alerter.close(5.0)


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fleet.db'}"
    else:
        with redis_server() as url:
            yield url


def test_two_services_share_one_robot_budget_and_every_error_is_named(
    receiver: Receiver, store_url: str
) -> None:
    receiver.default = Answer(body={"errcode": 0, "errmsg": "ok"})
    url = f"dingtalk+{receiver.base}/robot/send?access_token=fleet&rate={LIMIT}/{PERIOD:g}"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(SERVICES) * PROCESSES)
    procs = [
        ctx.Process(
            target=_storm,
            args=(url, store_url, SERVICES[i % len(SERVICES)], i, barrier, PERIOD),
        )
        for i in range(len(SERVICES) * PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=15 * PERIOD)
        assert proc.exitcode == 0
    requests = receiver.requests
    # one budget for the robot, whichever service: at most 20 in any rolling period
    # (arrival times, measured on a loaded machine: a request can take 0.1-0.2 s to be
    # read, so the window is shortened by that noise)
    start = requests[0].at if requests else 0.0
    timeline = "\n".join(
        f"{r.at - start:7.2f} {r.headers['x-erralert-kind']:6} {r.body.decode()[:60]!r}"
        for r in requests
    )
    assert max_in_any([r.at for r in requests], PERIOD - 0.3) <= LIMIT, timeline
    everything = "\n".join(r.body.decode() for r in requests)
    missing = [n for n in range(ERRORS) if _title(n) not in everything]
    assert missing == [], f"{len(missing)} errors never named in chat"
    kinds = [r.headers["x-erralert-kind"] for r in requests]
    # nothing sent twice: 100 errors, each once as an alert or a follow-up, plus summaries
    alerts = [r for r, kind in zip(requests, kinds, strict=True) if kind == "alert"]
    assert len(alerts) == ERRORS
    assert 1 <= kinds.count("storm") <= 3
    services = {s for s in SERVICES if f"service: {s}" in everything or s in everything}
    assert services == set(SERVICES)

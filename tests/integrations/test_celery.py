"""erralert.integrations.celery: failed tasks alerted once, control flow and expected errors
not at all; a real prefork worker (redis broker) delivering from its children and losing
nothing at warm shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from billiard.einfo import ExceptionWithTraceback
from celery import Celery, signals
from celery.exceptions import Ignore, Reject, WorkerLostError

import erralert
import erralert.integrations.celery as celery_integration
from erralert.integrations.celery import CeleryIntegration, task_context
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Receiver
from tests.servers import redis_server

ROOT = Path(__file__).resolve().parents[2]
HOOK = "webhook+http://127.0.0.1:9/hook"


# what the tests registered; only this module calls init_celery in the test process
_installed: list[CeleryIntegration] = []


def init_celery(
    app: Any = None, alerter: erralert.Alerter | None = None, **options: Any
) -> CeleryIntegration:
    """``erralert.integrations.celery.init_celery``, remembered for the fixture below."""
    integration = celery_integration.init_celery(app, alerter, **options)
    _installed.append(integration)
    return integration


@pytest.fixture(autouse=True)
def _isolated_integrations() -> Iterator[None]:
    """Each test leaves no integration registered (so the next starts with none): all it
    installed are uninstalled — the one still registered for its app goes, the ones it
    replaced are no-ops."""
    yield
    while _installed:
        _installed.pop().uninstall()


@pytest.fixture
def app() -> Celery:
    app = Celery("test_shop", set_as_current=False)
    app.conf.task_always_eager = True
    return app


@pytest.fixture
def alerter() -> Iterator[erralert.Alerter]:
    alerter = erralert.Alerter([HOOK], window=300)
    yield alerter
    alerter.close(0.1)


class OutOfStock(Exception):
    pass


class Unpicklable(Exception):
    def __init__(self, lock: Any) -> None:
        super().__init__("holds a lock")
        self.lock = lock


def checkout(order_id: int) -> None:
    raise ValueError(f"card declined for order {order_id}")


def alerts_of(alerts: list[CapturedAlert], kind: str = "alert") -> list[CapturedAlert]:
    return [a for a in alerts if a.kind == kind]


# -- in process (eager tasks: the same tracer and signals as in a worker) ------------------------
def test_failed_task_alerts_once_with_task_context(app: Celery, alerter: erralert.Alerter) -> None:
    @app.task(name="shop.pay")
    def pay(order_id: int) -> None:
        checkout(order_id)

    init_celery(app, alerter=alerter)
    with capture_alerts() as alerts:
        results = [pay.apply((order,)) for order in range(5)]
    assert all(isinstance(r.result, ValueError) for r in results)  # Celery's handling as is
    assert len(alerts) == 1
    event = alerts[0].notice.event
    assert event.title == "ValueError: card declined for order 0"
    assert event.tags["celery_task"] == "shop.pay"
    assert event.request is None
    assert event.extra["task_id"] == results[0].id
    assert event.extra["retries"] == 0
    assert event.extra["args"] == [0]
    assert event.extra["kwargs"] == {}
    assert "checkout" in event.culprit


def test_expected_errors_and_control_flow_are_not_alerted(
    app: Celery, alerter: erralert.Alerter
) -> None:
    @app.task(name="shop.reserve", throws=(OutOfStock,))
    def reserve(sku: str) -> None:
        raise OutOfStock(sku)

    @app.task(name="shop.skip")
    def skip() -> None:
        raise Ignore()

    @app.task(name="shop.refuse")
    def refuse() -> None:
        raise Reject("malformed", requeue=False)

    @app.task(name="shop.sync", bind=True, max_retries=3)
    def sync(self: Any, failures: int) -> str:
        if self.request.retries < failures:
            raise self.retry(countdown=0)
        return "synced"

    init_celery(app, alerter=alerter)
    with capture_alerts() as alerts:
        reserve.apply(("ghost",))
        skip.apply()
        refuse.apply()
        assert sync.apply((2,)).get() == "synced"
        # the main process reports a rejected message itself (Request.on_failure)
        signals.task_failure.send(
            sender=refuse, task_id="r-1", exception=Reject("gone"), args=[], kwargs={}
        )
    assert alerts == []


def test_a_task_that_gives_up_after_its_retries_is_alerted(
    app: Celery, alerter: erralert.Alerter
) -> None:
    @app.task(name="shop.flaky", autoretry_for=(ConnectionError,), max_retries=2)
    def flaky() -> None:
        raise ConnectionError("supplier down")

    init_celery(app, alerter=alerter)
    with capture_alerts() as alerts:
        flaky.apply()
    assert [a.notice.event.exception.type for a in alerts] == ["ConnectionError"]  # type: ignore[union-attr]
    assert alerts[0].notice.event.extra["retries"] == 2


def test_arguments_are_scrubbed_and_capped(app: Celery, alerter: erralert.Alerter) -> None:
    @app.task(name="shop.login")
    def login(user_id: int, password: str, *rest: Any, **options: Any) -> None:
        raise PermissionError("locked out")

    init_celery(app, alerter=alerter)
    huge = "x" * 100_000
    with capture_alerts() as alerts:
        login.apply(
            (7, "hunter2", huge, "postgres://app:s3cr3t@db/shop", *range(30)),
            {"api_key": "k-123", "note": "token=abc123", "blob": list(range(100_000))},
        )
    extra = alerts[0].notice.event.extra
    args, kwargs = extra["args"], extra["kwargs"]
    assert args[:2] == [7, "[Filtered]"]  # positional, filtered by its parameter's name
    assert len(args[2]) < 1000
    assert args[2].startswith("xxx")
    assert args[3] == "postgres://app:[Filtered]@db/shop"
    assert len(args) == celery_integration.MAX_ARGS + 1
    assert args[-1] == "... 14 more"
    assert kwargs["api_key"] == "[Filtered]"
    assert kwargs["note"] == "token=[Filtered]"
    assert len(kwargs["blob"]) <= celery_integration.MAX_ARG_LENGTH
    body = alerts[0].request.content.decode()  # type: ignore[union-attr]
    for secret in ("hunter2", "s3cr3t", "k-123", "abc123"):
        assert secret not in body
    assert len(body) < 50_000


def test_callers_argsrepr_is_honoured() -> None:
    """``apply_async(argsrepr=...)`` is how Celery users hide arguments from logs."""
    task = SimpleNamespace(name="shop.pay", run=lambda card: None, app=Celery(set_as_current=False))
    request = SimpleNamespace(id="t-1", retries=1, argsrepr="(<card>,)", kwargsrepr="{}")
    _, extra = task_context(task, "t-1", ["sku-4242"], {})
    assert extra["args"] == ["sku-4242"]  # no request context: the values
    # ... scrubbed: a card number is recognised by its format (issue 17)
    _, extra = task_context(task, "t-1", ["4111 1111 1111 1111"], {})
    assert extra["args"] == ["[Filtered]"]
    task.request = request  # type: ignore[attr-defined]
    _, extra = task_context(task, "t-1", ["sku-4242"], {})
    assert extra["args"] == "(<card>,)"
    assert extra["kwargs"] == {}  # Celery's default repr: the values themselves
    assert extra["retries"] == 1
    # Celery's own default repr (a JSON list arrives for the sender's tuple): the values
    request.argsrepr = "('sku-4242',)"
    assert task_context(task, "t-1", ["sku-4242"], {})[1]["args"] == ["sku-4242"]


def test_unpicklable_exception_is_reported_as_raised(
    app: Celery, alerter: erralert.Alerter
) -> None:
    @app.task(name="shop.lock")
    def lock() -> None:
        raise Unpicklable(threading.Lock())

    init_celery(app, alerter=alerter)
    with capture_alerts() as alerts:
        lock.apply()
    exc = alerts[0].notice.event.exception
    assert exc is not None
    assert exc.type == "Unpicklable"
    assert exc.frames[-1].function.endswith("lock")


def test_failures_reported_by_the_main_process(app: Celery, alerter: erralert.Alerter) -> None:
    """A lost child or a hard time limit is reported by the main process, wrapped."""

    @app.task(name="shop.big")
    def big() -> None:
        pass

    init_celery(app, alerter=alerter)
    lost = WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)")
    with capture_alerts() as alerts:
        signals.task_failure.send(
            sender=big, task_id="b-1", exception=ExceptionWithTraceback(lost, "tb"), args=[1]
        )
    assert [a.notice.event.exception.type for a in alerts] == ["WorkerLostError"]  # type: ignore[union-attr]
    assert alerts[0].notice.event.extra["args"] == [1]


def test_app_scoping_options_and_replacement(app: Celery) -> None:
    other = Celery("other", set_as_current=False)
    other.conf.task_always_eager = True

    @app.task(name="a.fail")
    def fail_a() -> None:
        raise KeyError("a")

    @other.task(name="b.fail")
    def fail_b() -> None:
        raise KeyError("b")

    first = init_celery(app, webhooks=[HOOK], service="billing")  # an alerter from options
    assert first.alerter is not None
    assert first.alerter.service == "billing"
    with capture_alerts() as alerts:
        fail_a.apply()
        fail_b.apply()  # another app: not this integration's business
    assert [a.notice.event.tags["celery_task"] for a in alerts] == ["a.fail"]
    assert alerts[0].notice.event.service == "billing"

    second = init_celery(app, webhooks=[HOOK], service="billing-v2")  # replaces the first
    everyone = init_celery(webhooks=[HOOK], service="all")  # every app's tasks
    with capture_alerts() as alerts:
        fail_b.apply()
    assert [a.notice.event.service for a in alerts] == ["all"]
    second.uninstall()
    everyone.uninstall()
    first.uninstall()  # already replaced: a no-op
    with capture_alerts() as alerts:
        fail_a.apply()
    assert alerts == []
    for integration in (first, second, everyone):
        assert integration.alerter is not None
        integration.alerter.close(0.1)


def test_default_alerter_from_the_environment(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", HOOK)
    monkeypatch.setenv("ERRALERT_SERVICE", "from-env")

    @app.task(name="shop.env")
    def env_task() -> None:
        raise RuntimeError("boom")

    init_celery(app)
    with capture_alerts() as alerts:
        env_task.apply()
    assert [a.notice.event.service for a in alerts] == ["from-env"]


def test_shutdown_signals_close_the_child_and_flush_the_main_process(app: Celery) -> None:
    @app.task(name="shop.repeat")
    def repeat() -> None:
        raise ValueError("again")

    explicit = erralert.Alerter([HOOK], window=300)
    init_celery(app, alerter=explicit)
    with capture_alerts() as alerts:
        for _ in range(3):
            repeat.apply()
        signals.worker_shutdown.send(sender=None)  # main process: flush, keep counting
        assert [a.kind for a in alerts] == ["alert"]
        repeat.apply()
        # a prefork child about to os._exit(): pending counts go out as a digest now
        signals.worker_process_shutdown.send(sender="celery@host", pid=1, exitcode=0)
    assert [a.kind for a in alerts] == ["alert", "digest"]
    assert alerts[1].notice.occurrences.count == 3
    assert explicit.capture_exception(ValueError("after close")) is None  # closed


@pytest.mark.e2e
def test_import_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['celery'] = None\n"
        "try:\n    import erralert.integrations.celery\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=30
    )
    assert out.stdout.strip() == (
        "erralert.integrations.celery needs Celery: pip install 'erralert[celery]'"
    )


# -- end to end: a real prefork worker, a real broker, a real receiver -----------------------------
@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    """One redis for the module, and the reference app's client side pointed at it (its
    connections are cached: one broker URL per process keeps them right)."""
    from integrations.celery_app import app

    with redis_server() as url:
        app.conf.broker_url = app.conf.result_backend = url
        yield url
        app.close()


def occurrences_received(receiver: Receiver) -> int:
    return sum(r.json["occurrences"]["count"] for r in receiver.requests)


def wait_until_worker_idle(app: Celery, worker: str, timeout: float = 10) -> None:
    """Return once the worker's main process has taken in the result of every task it ran.

    A task's result reaches the caller through the result backend before the pool child's
    ack and ready messages reach the worker's main process. A SIGTERM in that gap makes
    Celery's warm shutdown take 30 s: the main process drops the job it has not seen
    accepted (to be redelivered: "Restoring 1 unacknowledged message(s)") and stops reading
    the child's pipe, while billiard's child waits up to 300 x 0.1 s for the main process
    to count its last result. It happens without erralert too: with a task that sends its
    worker SIGTERM as it returns, 5 workers in 26 took 31.7 s to stop, the others 1.7 s.
    A deployment cannot time its SIGTERM, but this test can, so it measures erralert's
    shutdown, not that race: the worker answers `inspect` from the same loop that reads the
    pool's results, and a task leaves `active`/`reserved` only once its ready message
    was handled."""
    inspect = app.control.inspect(destination=[worker], timeout=1, limit=1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = [inspect.active(), inspect.reserved(), inspect.scheduled()]
        if all(reply and not reply.get(worker) for reply in replies):
            return
        time.sleep(0.05)
    raise AssertionError(f"{worker} still has tasks after {timeout} s: {replies}")


@pytest.mark.parametrize(
    ("concurrency", "shared"), [(1, False), (2, False), (2, True)], ids=["1", "2", "2-shared"]
)
@pytest.mark.e2e
def test_prefork_worker_end_to_end(
    receiver: Receiver, broker: str, concurrency: int, shared: bool, tmp_path: Path
) -> None:
    from integrations.celery_app import app as shop
    from integrations.celery_app import charge, ping, reserve, sync_stock

    failures = 6
    with tempfile.TemporaryFile() as log:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": broker,
            "ERRALERT_WEBHOOKS": f"webhook+{receiver.base}/hook",
            # a shared store keeps the counts of open windows for the other processes at
            # exit: with one, a short window lets the digest go out while the worker runs
            "ERRALERT_WINDOW": "2" if shared else "300",
            **({"ERRALERT_STORE": f"sqlite:///{tmp_path}/erralert.db"} if shared else {}),
        }
        argv = [sys.executable, "-m", "celery", "-A", "integrations.celery_app", "worker"]
        name = f"erralert-test-{os.getpid()}@127.0.0.1"
        argv += ["--pool=prefork", f"--concurrency={concurrency}", "--loglevel=warning"]
        argv += ["--hostname", name]
        worker = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert ping.delay().get(timeout=30) == "pong"  # the worker is consuming
            for order in range(failures):
                result = charge.delay(order)
                result.get(timeout=10, propagate=False)
                assert result.state == "FAILURE"
            expected = reserve.delay("ghost")
            expected.get(timeout=10, propagate=False)
            assert expected.state == "FAILURE"
            assert sync_stock.delay(2).get(timeout=10) == "synced after 2 retries"
            # delivered from the pool child that ran the task, while the worker runs
            received = receiver.wait_for(1, timeout=10)
            assert received
            assert received[0].json["kind"] == "alert"
            assert received[0].json["event"]["pid"] != worker.pid
            if shared:
                deadline = time.monotonic() + 15
                while occurrences_received(receiver) < failures and time.monotonic() < deadline:
                    receiver.wait_for(len(receiver.requests) + 1, timeout=0.5)
            wait_until_worker_idle(shop, name)
        finally:
            worker.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
            log.seek(0)
            output = log.read()
        assert worker.returncode == 0, output.decode(errors="replace")[-3000:]
        assert b"erralert:" not in output  # no internal error, no undelivered warning
    # everything was delivered before the worker exited: no waiting here
    messages = [r.json for r in receiver.requests]
    assert {m["event"]["tags"]["celery_task"] for m in messages} == {"shop.charge"}
    alerts = [m for m in messages if m["kind"] == "alert"]
    if concurrency == 1 or shared:
        assert len(alerts) == 1  # one store for all the pool's children: one alert
    else:
        # each pool child has its own in-memory throttle: one alert per child that ran
        # the failing task (exactly one per host needs a store shared by the processes)
        pids = [m["event"]["pid"] for m in alerts]
        assert 1 <= len(alerts) <= concurrency
        assert len(set(pids)) == len(pids)
    for alert in alerts:
        event = alert["event"]
        assert event["exceptions"][-1]["type"] == "ValueError"
        assert event["request"] is None
        assert event["extra"]["retries"] == 0
        assert len(event["extra"]["task_id"]) == 36
        assert event["culprit"].startswith("integrations.celery_app.charge_card")
    # nothing lost: the repeats each child counted went out as a digest when it exited
    assert sum(m["occurrences"]["count"] for m in messages) == failures
    assert sorted(m["kind"] for m in messages) == ["alert"] * len(alerts) + ["digest"] * (
        len(messages) - len(alerts)
    )

"""erralert.integrations.excepthook: uncaught exceptions of the main thread, of other
threads and of asyncio reach chat before the process ends; the previous hooks still run;
requested stops are not errors."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

import erralert
from erralert.integrations import excepthook
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Answer, Receiver

ROOT = Path(__file__).resolve().parents[2]
HOOK = "webhook+http://127.0.0.1:9/hook"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class Recorder:
    """Stands in for the hooks erralert chains to."""

    def __init__(self) -> None:
        self.sys_calls: list[ExcInfo] = []
        self.thread_calls: list[threading.ExceptHookArgs] = []

    def excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        self.sys_calls.append((exc_type, exc, tb))

    def threading_hook(self, args: threading.ExceptHookArgs) -> None:
        self.thread_calls.append(args)


@pytest.fixture
def previous(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """Recording hooks in place of Python's (and pytest's), erralert uninstalled after."""
    recorder = Recorder()
    monkeypatch.setattr(sys, "excepthook", recorder.excepthook)
    monkeypatch.setattr(threading, "excepthook", recorder.threading_hook)
    yield recorder
    excepthook.uninstall()


@pytest.fixture
def alerter() -> Iterator[erralert.Alerter]:
    alerter = erralert.Alerter([HOOK], window=300)
    yield alerter
    alerter.close(0.1)


def raised(exc: BaseException) -> ExcInfo:
    try:
        raise exc
    except BaseException as caught:
        return type(caught), caught, caught.__traceback__


def fail_in_thread(exc: BaseException, name: str = "exporter") -> None:
    def run() -> None:
        raise exc

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join(5)


def types_of(alerts: list[CapturedAlert]) -> list[str]:
    return [a.notice.event.exception.type for a in alerts if a.notice.event.exception]


# -- sys.excepthook ----------------------------------------------------------------------------
def test_uncaught_exception_alerted_then_previous_hook_runs(
    previous: Recorder, alerter: erralert.Alerter
) -> None:
    excepthook.install(alerter)
    info = raised(KeyError("CHF"))
    with capture_alerts() as alerts:
        sys.excepthook(*info)
    assert previous.sys_calls == [info]  # chained: the traceback is still printed
    assert types_of(alerts) == ["KeyError"]
    assert alerts[0].notice.event.level == "fatal"


@pytest.mark.parametrize(
    "exc",
    [
        KeyboardInterrupt(),
        SystemExit(3),
        BaseExceptionGroup("stops", [KeyboardInterrupt(), SystemExit(1)]),
    ],
    ids=["KeyboardInterrupt", "SystemExit", "group-of-stops"],
)
def test_requested_stops_are_not_alerted(
    previous: Recorder, alerter: erralert.Alerter, exc: BaseException
) -> None:
    excepthook.install(alerter)
    info = raised(exc)
    with capture_alerts() as alerts:
        sys.excepthook(*info)
        fail_in_thread(SystemExit(0))
    assert alerts == []
    assert previous.sys_calls == [info]
    assert len(previous.thread_calls) == 1


def test_exception_group_with_an_error_is_alerted(
    previous: Recorder, alerter: erralert.Alerter
) -> None:
    excepthook.install(alerter)
    with capture_alerts() as alerts:
        sys.excepthook(*raised(BaseExceptionGroup("mixed", [KeyboardInterrupt(), OSError()])))
    assert types_of(alerts) == ["BaseExceptionGroup"]
    members = [e.type for e in alerts[0].notice.event.exceptions]
    assert "OSError" in members


def test_interactive_prompt_errors_are_not_crashes(
    previous: Recorder, alerter: erralert.Alerter, monkeypatch: pytest.MonkeyPatch
) -> None:
    excepthook.install(alerter)
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    with capture_alerts() as alerts:
        sys.excepthook(*raised(NameError("pritn")))
    assert alerts == []
    assert len(previous.sys_calls) == 1


# -- threading.excepthook ----------------------------------------------------------------------
def test_thread_crash_alerted_with_thread_name(
    previous: Recorder, alerter: erralert.Alerter
) -> None:
    excepthook.install(alerter)
    with capture_alerts() as alerts:
        fail_in_thread(ConnectionError("ftp upload failed"), name="uploader")
    assert types_of(alerts) == ["ConnectionError"]
    assert alerts[0].notice.event.tags == {"thread": "uploader"}
    assert alerts[0].notice.event.level == "error"
    assert [a.exc_type for a in previous.thread_calls] == [ConnectionError]


# -- asyncio -----------------------------------------------------------------------------------
async def fails() -> None:
    raise LookupError("rate missing")


def broken_callback() -> None:
    raise ZeroDivisionError("in a callback")


def test_asyncio_unretrieved_task_and_callback_errors(
    previous: Recorder, alerter: erralert.Alerter, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        task = asyncio.create_task(fails(), name="rates")
        asyncio.get_running_loop().call_soon(broken_callback)
        await asyncio.sleep(0.01)
        assert task.done()
        del task  # nobody awaits it: asyncio reports it when the task is collected
        gc.collect()

    excepthook.install(alerter)
    with capture_alerts() as alerts, caplog.at_level(logging.ERROR, "asyncio"):
        asyncio.run(main())
    assert sorted(types_of(alerts)) == ["LookupError", "ZeroDivisionError"]
    task_alert = next(a for a in alerts if types_of([a]) == ["LookupError"])
    assert task_alert.notice.event.tags == {"asyncio_task": "rates"}
    assert task_alert.notice.event.extra == {"asyncio": "Task exception was never retrieved"}
    # the loop's own handler still ran: asyncio logged both, as without erralert
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Task exception was never retrieved" in logged
    assert "Exception in callback" in logged


def test_asyncio_custom_handler_still_runs_and_cancelled_is_no_error(
    previous: Recorder, alerter: erralert.Alerter
) -> None:
    seen: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
        loop.call_soon(broken_callback)
        loop.call_exception_handler({"message": "cancelled", "exception": asyncio.CancelledError()})
        loop.call_exception_handler({"message": "Task was destroyed but it is pending!"})
        await asyncio.sleep(0.01)

    excepthook.install(alerter)
    with capture_alerts() as alerts:
        asyncio.run(main())
    assert types_of(alerts) == ["ZeroDivisionError"]
    assert len(seen) == 3


def test_asyncio_handler_for_loops_install_does_not_patch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``loop.set_exception_handler(asyncio_handler)``, without install(): the default
    alerter, then the loop's default handler."""
    monkeypatch.setenv("ERRALERT_WEBHOOKS", HOOK)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(excepthook.asyncio_handler)
        loop.call_soon(broken_callback)
        await asyncio.sleep(0.01)

    with capture_alerts() as alerts, caplog.at_level(logging.ERROR, "asyncio"):
        asyncio.run(main())
    assert types_of(alerts) == ["ZeroDivisionError"]
    assert "Exception in callback" in caplog.text


# -- install / uninstall -----------------------------------------------------------------------
def test_uninstall_restores_every_hook(previous: Recorder, alerter: erralert.Alerter) -> None:
    loop_handler = asyncio.BaseEventLoop.call_exception_handler
    excepthook.install(alerter)
    assert sys.excepthook is not previous.excepthook
    assert asyncio.BaseEventLoop.call_exception_handler is not loop_handler
    excepthook.install(alerter)  # again: not chained twice
    excepthook.uninstall()
    assert sys.excepthook == previous.excepthook
    assert threading.excepthook == previous.threading_hook
    assert asyncio.BaseEventLoop.call_exception_handler is loop_handler
    excepthook.uninstall()  # idempotent
    with capture_alerts() as alerts:
        sys.excepthook(*raised(ValueError("after uninstall")))
    assert alerts == []


def test_installing_again_changes_the_alerter(previous: Recorder) -> None:
    first = erralert.Alerter([HOOK], service="first")
    second = erralert.Alerter([HOOK], service="second")
    excepthook.install(first)
    hook = sys.excepthook
    excepthook.install(second)
    assert sys.excepthook is hook
    with capture_alerts() as alerts:
        sys.excepthook(*raised(ValueError("x")))
    assert [a.notice.event.service for a in alerts] == ["second"]
    assert len(previous.sys_calls) == 1  # once: not chained to itself
    first.close(0.1)
    second.close(0.1)


def test_uninstall_under_a_later_hook_passes_through(
    previous: Recorder, alerter: erralert.Alerter
) -> None:
    excepthook.install(alerter)
    ours = sys.excepthook
    later_calls: list[BaseException] = []

    def later(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        later_calls.append(exc)
        ours(exc_type, exc, tb)

    sys.excepthook = later  # another library chains over erralert
    excepthook.uninstall()
    assert sys.excepthook is later  # not torn out of its chain
    with capture_alerts() as alerts:
        sys.excepthook(*raised(ValueError("still printed")))
    assert alerts == []
    assert len(later_calls) == 1
    assert len(previous.sys_calls) == 1


def test_init_excepthooks_installs_with_the_new_alerter(
    previous: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerter = erralert.init(webhooks=[HOOK], service="nightly", excepthooks=True)
    with capture_alerts() as alerts:
        sys.excepthook(*raised(RuntimeError("export failed")))
    assert [a.notice.event.service for a in alerts] == ["nightly"]
    assert alerter is erralert.get_alerter()


def test_default_alerter_resolved_when_the_error_happens(
    previous: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    excepthook.install()
    monkeypatch.setenv("ERRALERT_WEBHOOKS", HOOK)  # configured after install()
    monkeypatch.setenv("ERRALERT_SERVICE", "late")
    with capture_alerts() as alerts:
        fail_in_thread(ValueError("late"))
    assert [a.notice.event.service for a in alerts] == ["late"]


# -- real processes ----------------------------------------------------------------------------
def run_script(
    argv: list[str], receiver: Receiver, timeout: float = 20.0
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ERRALERT_WEBHOOKS": f"webhook+{receiver.base}/hook",
    }
    return subprocess.run(
        [sys.executable, *argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.e2e
def test_cron_script_alerts_once_before_it_exits(receiver: Receiver) -> None:
    done = run_script(["integrations/cron_script.py"], receiver)
    # the script fails exactly as it would without erralert
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith("KeyError: 'CHF'")
    assert done.stdout == ""
    # and the alert was delivered before the process ended: no waiting here
    messages = [r.json for r in receiver.requests]
    assert [m["kind"] for m in messages] == ["alert"]
    event = messages[0]["event"]
    assert event["title"] == "KeyError: 'CHF'"
    assert event["level"] == "fatal"
    assert event["culprit"].startswith("__main__.to_eur")


@pytest.mark.e2e
def test_thread_crash_in_a_script_alerts_and_the_script_carries_on(receiver: Receiver) -> None:
    script = textwrap.dedent(
        """
        import threading
        import erralert
        erralert.init(excepthooks=True)

        def upload():
            raise ConnectionError("ftp upload failed")

        t = threading.Thread(target=upload, name="uploader")
        t.start()
        t.join()
        print("main thread done")
        """
    )
    done = run_script(["-c", script], receiver)
    assert done.returncode == 0
    assert done.stdout == "main thread done\n"
    assert "Exception in thread uploader" in done.stderr
    assert "ConnectionError: ftp upload failed" in done.stderr
    messages = [r.json for r in receiver.requests]
    assert [m["kind"] for m in messages] == ["alert"]
    assert messages[0]["event"]["tags"] == {"thread": "uploader"}


@pytest.mark.e2e
def test_exit_waits_for_a_slow_webhook_only_so_long(receiver: Receiver) -> None:
    receiver.default = Answer(delay=30.0)  # a webhook that hangs
    started = time.monotonic()
    done = run_script(["integrations/cron_script.py"], receiver)
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert len(receiver.requests) == 1  # it was sent ...
    assert elapsed < 8.0  # ... and the exit waited at most shutdown_timeout (2 s) for it

"""The pytest plugin the peer suites run under (``-p benchmarks.peers.plugin``).

``--peers-outcomes=FILE`` writes every test's outcome to FILE at the end of the session
(see :mod:`benchmarks.peers.outcomes`). ``--peers-wrap=starlette,flask`` also wraps every
app of those frameworks that the suite builds in erralert
(:func:`benchmarks.peers.wrapping.install`) for the whole session;
``--peers-webhook=down`` makes the mock webhook refuse every connection, so that alerts
stay undeliverable (retries, shutdown flushes that wait).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchmarks.peers.outcomes import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    XFAILED,
    XPASSED,
    Outcome,
    SuiteRun,
    shorten,
    write_run,
)

if TYPE_CHECKING:
    from benchmarks.peers.wrapping import Wrapping

__all__ = ["Recorder", "pytest_addoption", "pytest_configure"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("erralert-peers", "erralert's peer suites")
    group.addoption("--peers-outcomes", metavar="FILE", help="write every test's outcome here")
    group.addoption(
        "--peers-wrap",
        metavar="FRAMEWORKS",
        help="wrap in erralert every app of these frameworks the suite builds (starlette,flask)",
    )
    group.addoption(
        "--peers-webhook",
        choices=("up", "down"),
        default="up",
        help="the mock webhook answers 200 (up) or refuses connections (down)",
    )


def pytest_configure(config: pytest.Config) -> None:
    wrapping = None
    frameworks = config.getoption("peers_wrap")
    if frameworks:
        # imported only here: the unwrapped run loads neither erralert nor the frameworks
        from benchmarks.peers.wrapping import install

        # at configure time, before the suite's modules import TestClient and Flask: the
        # classes themselves are patched, so every later reference sees the wrapping
        wrapping = install(
            frameworks.split(","), reachable=config.getoption("peers_webhook") == "up"
        )
    path = config.getoption("peers_outcomes")
    if path is not None or wrapping is not None:
        config.pluginmanager.register(Recorder(path, wrapping), "erralert-peers-recorder")


class Recorder:
    """Collects each test's outcome from its phases and writes them at the session's end."""

    def __init__(self, path: str | None, wrapping: Wrapping | None) -> None:
        self.path = path
        self.wrapping = wrapping
        self.outcomes: dict[str, Outcome] = {}

    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if self.wrapping is not None:
            self.wrapping.log.running = nodeid

    @pytest.hookimpl
    def pytest_runtest_logfinish(self) -> None:
        if self.wrapping is not None:
            self.wrapping.log.running = ""

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            # a module that does not import: its tests run in neither form of the run, so
            # the module itself stands for them (a difference if only one run failed)
            self.outcomes[report.nodeid] = Outcome(ERROR, _why(report))

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        seen = self.outcomes.get(report.nodeid)
        if seen is not None and seen.outcome in (FAILED, ERROR):
            return  # the first failed phase says why; a teardown after it adds nothing
        xfail = hasattr(report, "wasxfail")
        if report.failed:
            outcome = Outcome(FAILED if report.when == "call" else ERROR, _why(report))
        elif report.skipped:
            outcome = Outcome(XFAILED if xfail else SKIPPED)
        elif report.when == "call":
            outcome = Outcome(XPASSED if xfail else PASSED)
        else:
            return  # a passing setup or teardown: the call (or a skip) decides
        self.outcomes[report.nodeid] = outcome

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        run = SuiteRun(self.outcomes)
        if self.wrapping is not None:
            seen = self.wrapping.finish()
            run = SuiteRun(self.outcomes, seen.posts, seen.warnings, seen.errors)
        if self.path is not None:
            write_run(Path(self.path), run)


def _why(report: pytest.CollectReport | pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    return shorten(message if isinstance(message, str) else report.longreprtext)

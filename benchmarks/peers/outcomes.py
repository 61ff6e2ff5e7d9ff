"""What one run of a peer's suite did to each test, and what wrapping the apps changed.

A run is written by :mod:`benchmarks.peers.plugin` as JSON (:func:`write_run`) and read
back by the script (:func:`read_run`). :func:`compare` is the verdict: a test that passed
unwrapped and did not pass wrapped is a difference; it is a *regression* when it did not
pass in any of the wrapped runs given (the script runs the wrapped suite a second time
when the first shows differences), *unsteady* when it passed in some of them. erralert
failing on its own (an ERROR on its logger) in every wrapped run is a difference too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ERROR",
    "FAILED",
    "NOT_RUN",
    "PASSED",
    "SKIPPED",
    "XFAILED",
    "XPASSED",
    "Difference",
    "Outcome",
    "SuiteRun",
    "Verdict",
    "compare",
    "read_run",
    "shorten",
    "write_run",
]

PASSED = "passed"
FAILED = "failed"  # the test itself failed
ERROR = "error"  # its setup or teardown failed, or its module did not collect
SKIPPED = "skipped"
XFAILED = "xfailed"
XPASSED = "xpassed"
NOT_RUN = "not run"  # in the other run, not in this one (a crash, a hang, a collection error)

_WHY_LENGTH = 300  # characters of a failure kept for the report


@dataclass(frozen=True)
class Outcome:
    """How one test ended, and for a failure the first line that says why."""

    outcome: str
    why: str = ""


@dataclass(frozen=True)
class SuiteRun:
    """One run of a suite: every test's outcome, and for a wrapped run what erralert did."""

    tests: Mapping[str, Outcome]
    alerts_posted: int | None = None  # posts the mock webhook received (wrapped runs)
    erralert_warnings: tuple[str, ...] = ()  # what erralert logged at WARNING
    erralert_errors: tuple[str, ...] = ()  # … and at ERROR: its own failures (alerts lost)
    exit_code: int | None = None  # pytest's, filled in by the script
    seconds: float | None = None  # wall time, filled in by the script

    def counts(self) -> dict[str, int]:
        """Tests per outcome, in a stable order."""
        return dict(sorted(Counter(o.outcome for o in self.tests.values()).items()))


@dataclass(frozen=True)
class Difference:
    """A test that passed unwrapped and not in (some of) the wrapped runs."""

    test: str
    wrapped: tuple[Outcome, ...]  # its outcome in each wrapped run, in order

    @property
    def why(self) -> str:
        """The first failure's reason (a test missing from a run has none)."""
        return next((o.why for o in self.wrapped if o.why), "")


@dataclass(frozen=True)
class Verdict:
    regressions: tuple[Difference, ...] = ()  # passed unwrapped, passed in no wrapped run
    unsteady: tuple[Difference, ...] = ()  # passed unwrapped, failed in some wrapped runs
    only_wrapped: tuple[str, ...] = ()  # ran wrapped but not unwrapped
    # erralert's own failures, when every wrapped run had some: the app saw nothing, but
    # alerts were lost (a flush on the event loop that a blocking-call detector stopped)
    erralert_errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.erralert_errors


def compare(unwrapped: SuiteRun, *wrapped: SuiteRun) -> Verdict:
    """The differences wrapping made: every test that passed unwrapped must pass wrapped."""
    if not wrapped:
        raise ValueError("compare needs at least one wrapped run")
    regressions: list[Difference] = []
    unsteady: list[Difference] = []
    for test, outcome in sorted(unwrapped.tests.items()):
        if outcome.outcome != PASSED:
            continue  # failing or skipped without erralert: nothing wrapping can change
        seen = tuple(run.tests.get(test, Outcome(NOT_RUN)) for run in wrapped)
        failed = [o for o in seen if o.outcome != PASSED]
        if len(failed) == len(seen):
            regressions.append(Difference(test, seen))
        elif failed:
            unsteady.append(Difference(test, seen))
    extra = sorted(set().union(*(run.tests for run in wrapped)) - set(unwrapped.tests))
    errors: tuple[str, ...] = ()
    if all(run.erralert_errors for run in wrapped):
        errors = tuple(message for run in wrapped for message in run.erralert_errors)
    return Verdict(tuple(regressions), tuple(unsteady), tuple(extra), errors)


def write_run(path: Path, run: SuiteRun) -> None:
    document = {
        "tests": {test: [o.outcome, o.why] for test, o in sorted(run.tests.items())},
        "alerts_posted": run.alerts_posted,
        "erralert_warnings": list(run.erralert_warnings),
        "erralert_errors": list(run.erralert_errors),
    }
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")


def read_run(path: Path, *, exit_code: int | None = None, seconds: float | None = None) -> SuiteRun:
    """The run :func:`write_run` wrote; a run that wrote nothing (pytest died before the
    end of the session) has no tests, so that every test it should have run counts as not
    run."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return SuiteRun({}, exit_code=exit_code, seconds=seconds)
    return SuiteRun(
        {test: Outcome(outcome, why) for test, (outcome, why) in document["tests"].items()},
        alerts_posted=document.get("alerts_posted"),
        erralert_warnings=tuple(document.get("erralert_warnings", ())),
        erralert_errors=tuple(document.get("erralert_errors", ())),
        exit_code=exit_code,
        seconds=seconds,
    )


def shorten(text: str) -> str:
    """A failure's reason, one line, bounded."""
    line = " ".join(text.split())
    return line if len(line) <= _WHY_LENGTH else line[: _WHY_LENGTH - 1] + "…"

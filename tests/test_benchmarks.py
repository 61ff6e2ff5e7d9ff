"""``python -m benchmarks --quick`` runs every scenario and prints one report with every
section and every target. Only the report's shape is checked: the speed targets are the
benchmark's own verdicts (✓/✗), never timing asserts here. The quick run takes half a
minute: its tests are marked ``slow`` (the whole suite runs them, the fast tier does not)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SECTIONS = [
    "### 1. ASGI happy path",
    "### 2. WSGI happy path",
    "### 3. Error path",
    "### 3b. Scrubbing a new error",
    "### 4. Storm",
    "### 6. Memory",
]
TARGETS = [
    "ASGI happy path: erralert ≤ 3 % over bare",
    "ASGI happy path: erralert's overhead below sentry-sdk's",
    "WSGI happy path: erralert ≤ 3 % over bare",
    "WSGI happy path: erralert's overhead below sentry-sdk's",
    "error path: erralert ≤ 50 µs per captured repeat",
    "error path: erralert ≤ 1/3 of sentry-sdk's time",
    "error path: sentry-sdk handed an envelope to its transport for every capture",
    "storm: memory store ≥ 20 000 captures/s",
    "storm: sqlite ≥ 50% of the memory store's rate",
    "storm: one alert per error and every repeat in the digests",
    "memory: RSS growth < 100 MB",
    "memory: every capture reported",
]
if shutil.which("redis-server") is not None:
    SECTIONS.append("### 7. Idle fleet")
    TARGETS += [
        "fleet idle: Redis commands/s flat",
        "fleet idle: ≤ 5 scripts/s",
        "fleet idle: every process live in Redis, one lease holder, nothing logged",
    ]
if importlib.util.find_spec("benchmarks.realserver") is not None:
    SECTIONS.append("### 5. Real server")
    TARGETS += [
        "Real server: throughput with erralert ≥ 97 % of bare",
        "Real server: p99 of failing",
    ]


# session scope: made once per worker that runs one of these tests (they are adjacent, so
# under xdist usually one), however the tests of other modules are interleaved with them
@pytest.fixture(scope="session")
def quick_run() -> subprocess.CompletedProcess[str]:
    pytest.importorskip("sentry_sdk")
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_quick_run_exits_0_or_1(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode in (0, 1), quick_run.stdout[-3000:] + quick_run.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_report_has_the_machine_line_and_every_section(
    quick_run: subprocess.CompletedProcess[str],
) -> None:
    report = quick_run.stdout
    assert re.search(r"^erralert \S+, Python \S+, .+, \d+ cores, ", report, re.M), report
    assert re.search(r"^\d{4}-\d\d-\d\d, the run took \d+ s$", report, re.M), report
    for title in SECTIONS:
        assert title in report, f"{title!r} missing from\n{report}"


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_report_has_every_target_with_a_verdict(
    quick_run: subprocess.CompletedProcess[str],
) -> None:
    report = quick_run.stdout
    verdicts = re.findall(r"^- ([✓✗]) (.+)$", report.split("### Targets", 1)[-1], re.M)
    for target in TARGETS:
        assert any(line.startswith(target) for _, line in verdicts), f"{target!r} missing"
    # a figure that came out as a number, not nan or a crash's leftovers
    assert all("nan" not in line for _, line in verdicts)
    failed = [line for mark, line in verdicts if mark == "✗"]
    assert (quick_run.returncode == 1) == bool(failed), failed


def test_paired_overhead_is_the_median_of_the_rounds_ratios() -> None:
    from benchmarks.run import paired_overhead

    # the machine slows down by half in the last rounds: every pair still says +10 %,
    # while the ratio of the two medians would say something else
    baseline = [1.0, 1.0, 1.0, 1.5, 1.5]
    contender = [1.1, 1.1, 1.1, 1.65, 1.65]
    assert paired_overhead(contender, baseline) == pytest.approx(10.0)
    assert paired_overhead([2.0, 0.5, 1.2], [1.0, 1.0, 1.0]) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="as many"):
        paired_overhead([1.0], [1.0, 1.0])


def test_measure_reverses_the_turns_every_other_round() -> None:
    from benchmarks.run import measure

    order: list[str] = []

    def run(name: str) -> Callable[[int], None]:
        return lambda n: order.append(name)

    timings = measure(1, run("a"), run("b"), run("c"), rounds=3)
    assert order[:3] == ["a", "b", "c"]  # the warm-up calls
    assert order[3:] == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert [len(t.samples) for t in timings] == [3, 3, 3]

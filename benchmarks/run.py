"""The benchmarks of issue 8 in one run: ``python -m benchmarks [--quick] [SCENARIO ...]``.

Scenarios (default: all, in this order): ``asgi`` and ``wsgi`` (happy path, in-process:
bare vs erralert vs sentry-sdk), ``errors`` (time per captured exception), ``scrub`` (what
recognising credentials by their format costs a new error), ``storm``
(captures/s per store), ``server`` (uvicorn under load, from ``benchmarks.realserver``),
``memory`` (RSS after many captures), ``fleet-idle`` (Redis commands per second of 1 to
50 idle processes, from ``benchmarks.fleet``). Groups: ``inprocess`` (the first four),
``stores`` (storm and memory).

Every scenario returns a :class:`benchmarks.report.Section`; the run prints one report
(headed by the machine and the date) and every target with ✓ or ✗, and exits 1 when a
target fails. ``--quick`` shrinks every count (a smoke test of the whole run, not figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import erralert
from benchmarks.report import Section, render

ROUNDS = 15


@dataclass(frozen=True)
class Timing:
    median: float  # seconds per operation
    best: float  # the fastest round: the least disturbed by the rest of the machine
    mean: float  # all rounds together: includes work done only now and then (batch folds)
    samples: tuple[float, ...] = ()  # every round's seconds per operation

    @classmethod
    def of(cls, samples: Sequence[float]) -> Timing:
        return cls(statistics.median(samples), min(samples), statistics.fmean(samples), (*samples,))


def measure(
    n: int, *runs: Callable[[int], None], rounds: int = ROUNDS, pause_gc: bool = False
) -> list[Timing]:
    """Seconds per operation of each run over ``rounds`` rounds of ``n`` operations. The
    runs take turns within every round, in an order reversed every other round (A B, B A,
    A B …), so that a drift of the machine's speed, and whatever the run before leaves in
    the caches, affects a baseline and its contender alike; the i-th samples of the runs
    are neighbours in time (see :func:`paired_overhead`). ``pause_gc``: the cyclic garbage
    collector is run before each round and disabled during it (a collection then lands in
    no round)."""
    for run in runs:
        run(max(1, n // 10))  # warm up caches and code paths
    samples: list[list[float]] = [[] for _ in runs]
    was_enabled = gc.isenabled()
    try:
        for round_number in range(rounds):
            turns = list(zip(runs, samples, strict=True))
            for run, times in turns if round_number % 2 == 0 else reversed(turns):
                if pause_gc:
                    gc.collect()
                    gc.disable()
                started = time.perf_counter_ns()
                run(n)
                elapsed = time.perf_counter_ns() - started
                if pause_gc and was_enabled:
                    gc.enable()
                times.append(elapsed / 1e9 / n)
    finally:
        if was_enabled:
            gc.enable()
    return [Timing.of(times) for times in samples]


def paired_overhead(contender: Sequence[float], baseline: Sequence[float]) -> float:
    """Percent by which ``contender`` is slower than ``baseline``: the median, over rounds,
    of each round's ratio to the baseline's round of the same turn (measured next to it in
    time). On a shared machine whose speed wanders by more than the difference measured,
    this is steadier than the ratio of the two medians: each pair shares its moment."""
    if len(contender) != len(baseline) or not contender:
        raise ValueError("paired samples must be as many, and at least one")
    return (statistics.median(c / b for c, b in zip(contender, baseline, strict=True)) - 1) * 100


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the machine's architecture elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.machine() or "unknown CPU"


def machine_line() -> str:
    return (
        f"erralert {erralert.__version__}, Python {platform.python_version()}, {cpu_model()}, "
        f"{os.cpu_count()} cores, {platform.platform(terse=True)}"
    )


SCENARIOS = ("asgi", "wsgi", "errors", "scrub", "storm", "server", "memory", "fleet-idle")
GROUPS = {
    "all": SCENARIOS,
    "inprocess": ("asgi", "wsgi", "errors", "scrub"),
    "stores": ("storm", "memory"),
}


def server_section(quick: bool) -> Section | None:
    """Scenario 5 from ``benchmarks.realserver`` when that module is there; None (with a
    printed note) until it is."""
    if importlib.util.find_spec("benchmarks.realserver") is None:
        print("(benchmarks/realserver.py is not there yet: scenario skipped)", end=" ")
        return None
    from benchmarks import realserver

    section = realserver.section(quick=quick)
    if section.title[:1].isdigit():
        return section
    return dataclasses.replace(section, title=f"5. {section.title}")  # numbered as in issue 8


def run_scenario(name: str, quick: bool) -> Section | None:
    # imported here: they import this module (measure, Timing)
    from benchmarks import fleet, inprocess, scrubbing, stores

    if name == "asgi":
        return inprocess.asgi_section(quick=quick)
    if name == "wsgi":
        return inprocess.wsgi_section(quick=quick)
    if name == "errors":
        return inprocess.errors_section(quick=quick)
    if name == "scrub":
        return scrubbing.section(quick=quick)
    if name == "storm":
        return stores.storm(quick=quick)
    if name == "memory":
        return stores.memory(quick=quick)
    if name == "fleet-idle":
        return fleet.section(quick=quick)
    return server_section(quick)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios (default: all) and print one report; 1 when a target
    fails."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke test")
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join((*SCENARIOS, *GROUPS))} (default: all)",
    )
    args = parser.parse_args(argv)
    chosen: set[str] = set()
    for name in args.scenarios or ["all"]:
        if name not in SCENARIOS and name not in GROUPS:
            parser.error(f"unknown scenario {name!r}")
        chosen.update(GROUPS.get(name, (name,)))

    started = time.perf_counter()
    sections: list[Section] = []
    for scenario in SCENARIOS:
        if scenario in chosen:
            print(f"running {scenario}{' (quick)' if args.quick else ''} …", end=" ", flush=True)
            begun = time.perf_counter()
            section = run_scenario(scenario, args.quick)
            print(f"{time.perf_counter() - begun:.0f} s", flush=True)
            if section is not None:
                sections.append(section)
    elapsed = time.perf_counter() - started

    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    print()
    print(f"## erralert benchmarks{' (--quick: counts too small for figures)' * args.quick}")
    print()
    print(machine_line())
    print(f"{today}, the run took {elapsed:.0f} s")
    print()
    print(render(sections))
    sys.stdout.flush()
    targets = [t for s in sections for t in s.targets]
    return 0 if all(t.holds for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())

"""``python -m benchmarks.peers [--webhook up|down] [--scratch DIR] [PEER ...] [-- PYTEST ARGS]``

For each peer (default: all of :data:`benchmarks.peers.suites.PEERS`): fetch and set up
its suite, run it unwrapped, then wrapped; when the wrapped run fails tests that passed
unwrapped (or erralert logged failures of its own), run it wrapped once more, so that a
test failing only now and then is told apart (it is printed as unsteady and not counted).
Exit status: 0 no difference, 1 a test that passed unwrapped failed in every wrapped run,
or erralert failed on its own in every wrapped run; 2 a suite could not be set up or its
unwrapped run did not finish (no verdict). PYTEST ARGS go to every run alike (``-k``,
``--deselect``), so that both runs always select the same tests. Logs and results are in
``DIR/results`` (default ``build/peers``, ignored by git).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.peers.outcomes import SuiteRun, compare
from benchmarks.peers.report import describe, summary
from benchmarks.peers.suites import (
    PEERS,
    ROOT,
    Peer,
    PeerError,
    Scratch,
    prepare,
    run_suite,
    usable_baseline,
)

__all__ = ["check_peer", "main"]

OK, DIFFERENT, NO_VERDICT = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, pytest_args = args[:cut], args[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description="Run Starlette's and Flask's own test suites with and without erralert.",
    )
    names = [peer.name for peer in PEERS]
    parser.add_argument("peers", nargs="*", metavar="PEER", help=f"one of {', '.join(names)}")
    parser.add_argument(
        "--webhook",
        choices=("up", "down"),
        default="up",
        help="the wrapped apps' mock webhook answers 200 (up) or refuses connections (down)",
    )
    parser.add_argument("--scratch", type=Path, default=ROOT / "build" / "peers")
    options = parser.parse_args(args)
    unknown = sorted(set(options.peers) - set(names))
    if unknown:
        parser.error(f"unknown peer(s): {', '.join(unknown)} (known: {', '.join(names)})")
    chosen = [peer for peer in PEERS if not options.peers or peer.name in options.peers]
    scratch = Scratch(options.scratch.resolve())
    scratch.results().mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    status = OK
    for peer in chosen:
        try:
            different = check_peer(peer, scratch, webhook=options.webhook, args=pytest_args)
        except PeerError as exc:
            print(f"{peer.name}: no verdict: {exc}", flush=True)
            status = NO_VERDICT
            continue
        if different and status == OK:
            status = DIFFERENT
    verdicts = {OK: "no difference", DIFFERENT: "DIFFERENCES FOUND", NO_VERDICT: "NO VERDICT"}
    print(f"peer suites: {verdicts[status]} ({time.monotonic() - started:.0f} s)", flush=True)
    return status


def check_peer(peer: Peer, scratch: Scratch, *, webhook: str, args: Sequence[str]) -> bool:
    """Run one peer's suite unwrapped and wrapped and print the verdict; True when a test
    that passed unwrapped failed wrapped."""
    results = scratch.results()
    print(f"{peer.name}: fetching the sdist and setting up its suite …", flush=True)
    prepared = prepare(peer, scratch, results / f"{peer.name}-setup.log")
    title = f"{peer.name} {prepared.version} ({prepared.tree})"

    def run(label: str, *, wrap: bool) -> SuiteRun:
        print(f"{peer.name}: running its suite {label} …", flush=True)
        return run_suite(
            prepared,
            results / f"{peer.name}-{label}.json",
            results / f"{peer.name}-{label}.log",
            wrap=wrap,
            webhook=webhook,
            args=args,
        )

    unwrapped = run("unwrapped", wrap=False)
    if not usable_baseline(unwrapped):
        raise PeerError(
            f"the unwrapped run is no baseline ({summary(unwrapped)}); "
            f"see {results / f'{peer.name}-unwrapped.log'}"
        )
    wrapped = [run("wrapped", wrap=True)]
    verdict = compare(unwrapped, *wrapped)
    if not verdict.ok:
        # a second wrapped run tells a steady difference from a test that fails now and
        # then (the machine is shared; timing tests exist in both suites)
        wrapped.append(run("wrapped-again", wrap=True))
        verdict = compare(unwrapped, *wrapped)
    print("\n".join(describe(title, unwrapped, wrapped, verdict)), flush=True)
    if not verdict.ok:
        print(f"  logs: {results}/{peer.name}-*.log", flush=True)
    return not verdict.ok

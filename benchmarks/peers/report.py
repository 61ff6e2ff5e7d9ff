"""The peer check's printout: per peer, both runs in one line each and every difference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from benchmarks.peers.outcomes import Difference, SuiteRun, Verdict

__all__ = ["describe", "summary"]

_MESSAGES_SHOWN = 5


def summary(run: SuiteRun) -> str:
    """``failed 2, passed 812, skipped 11 (17.9 s)`` and, wrapped, what erralert did.

    Outcome first, count second: a line that reads like pytest's closing line
    (``812 passed, 2 failed``) would be taken for the test run's own verdict in CI's log."""
    counts = ", ".join(f"{outcome} {n}" for outcome, n in run.counts().items()) or "no tests"
    text = counts
    if run.seconds is not None:
        text += f" ({run.seconds:.1f} s)"
    if run.exit_code is None:
        text += " (killed: the run took too long)"
    elif run.exit_code not in (0, 1):
        text += f" (pytest exited {run.exit_code})"
    if run.alerts_posted is not None:
        text += f"; {run.alerts_posted} alert posts to the mock webhook"
    return text


def describe(
    title: str, unwrapped: SuiteRun, wrapped: Sequence[SuiteRun], verdict: Verdict
) -> list[str]:
    """The lines printed for one peer."""
    lines = [title, f"  unwrapped: {summary(unwrapped)}"]
    for number, run in enumerate(wrapped, 1):
        label = "wrapped" if len(wrapped) == 1 else f"wrapped #{number}"
        lines.append(f"  {label}: {summary(run)}")
    warnings = Counter(message for run in wrapped for message in run.erralert_warnings)
    if warnings:
        lines.append(f"  erralert logged {warnings.total()} warning(s):")
        lines += _counted(warnings)
    errors = Counter(message for run in wrapped for message in run.erralert_errors)
    if verdict.erralert_errors:
        lines.append(
            f"  DIFFERENCE: erralert failed on its own in every wrapped run ({errors.total()} "
            "ERROR record(s) on its logger: the app saw nothing, the alerts were lost):"
        )
        lines += _counted(errors)
    elif errors:
        lines.append("  unsteady: erralert failed on its own in only some wrapped runs:")
        lines += _counted(errors)
    if verdict.regressions:
        runs = "the wrapped run" if len(wrapped) == 1 else "every wrapped run"
        lines.append(
            f"  DIFFERENCE: {len(verdict.regressions)} test(s) passed unwrapped and failed "
            f"in {runs}:"
        )
        lines += _differences(verdict.regressions)
    if verdict.unsteady:
        lines.append(
            f"  unsteady: {len(verdict.unsteady)} test(s) passed unwrapped and failed in only "
            "some wrapped runs (not counted as a difference):"
        )
        lines += _differences(verdict.unsteady)
    if verdict.only_wrapped:
        lines.append(f"  {len(verdict.only_wrapped)} test(s) ran only wrapped (collected there):")
        lines += [f"    {test}" for test in verdict.only_wrapped]
    if verdict.ok:
        lines.append("  no difference")
    return lines


def _counted(messages: Counter[str]) -> list[str]:
    lines = [
        f"    {count}x {message.splitlines()[0][:300]}"
        for message, count in messages.most_common(_MESSAGES_SHOWN)
    ]
    if len(messages) > _MESSAGES_SHOWN:
        lines.append(f"    … and {len(messages) - _MESSAGES_SHOWN} other message(s)")
    return lines


def _differences(differences: Sequence[Difference]) -> list[str]:
    lines: list[str] = []
    for difference in differences:
        outcomes = ", ".join(o.outcome for o in difference.wrapped)
        lines.append(f"    {difference.test} [{outcomes}]")
        if difference.why:
            lines.append(f"      {difference.why}")
    return lines

"""What every benchmark scenario reports: rows of figures with their ratio to a baseline
measured in the same run, and the targets of issue 8 with whether each holds.

A scenario returns a ``Section``; ``benchmarks.run`` prints them all as one report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Row", "Section", "Target", "render"]


@dataclass(frozen=True)
class Row:
    """One measured figure. ``value`` in ``unit`` (``µs``, ``req/s``, ``captures/s``,
    ``MB``, ``ms``); ``baseline`` names the row of the same section it is compared with
    (its ratio is printed next to it); ``note`` says what was measured when the name does
    not."""

    name: str
    value: float
    unit: str
    baseline: str | None = None
    best: float | None = None  # the least disturbed round, when rounds were repeated
    note: str = ""


@dataclass(frozen=True)
class Target:
    """A target of the issue, e.g. "ASGI overhead ≤ 3 % over bare", and what was measured."""

    name: str
    holds: bool
    measured: str  # "+1.2 %", "28.1 µs", "31 856 captures/s"


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def ratio(self, row: Row) -> float | None:
        """``row``'s value over its baseline's (None without a baseline)."""
        if row.baseline is None:
            return None
        base = self.row(row.baseline).value
        return row.value / base if base else None


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}".replace(",", " ")
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}"


def render(sections: Sequence[Section]) -> str:
    """The report: one markdown table per section (a note column when a row has a note),
    then every target with ✓ or ✗."""
    lines: list[str] = []
    for section in sections:
        noted = any(row.note for row in section.rows)  # a note column only where one is said
        lines += [f"### {section.title}", ""]
        if section.rows:  # a skipped scenario has only its notes
            lines.append(f"| scenario | median | best | ratio to baseline |{' note |' * noted}")
            lines.append(f"|---|---:|---:|---:|{'---|' * noted}")
        for row in section.rows:
            ratio = section.ratio(row)
            best = "" if row.best is None else f"{_number(row.best)} {row.unit}"
            note = f" {row.note.replace('|', '/')} |" if noted else ""
            lines.append(
                f"| {row.name} | {_number(row.value)} {row.unit} | {best} | "
                f"{'' if ratio is None else f'{ratio:.3f}'} |{note}"
            )
        lines += [f"- {note}" for note in section.notes]
        lines.append("")
    targets = [t for s in sections for t in s.targets]
    if targets:
        lines += ["### Targets", ""]
        lines += [f"- {'✓' if t.holds else '✗'} {t.name}: {t.measured}" for t in targets]
        lines.append("")
    return "\n".join(lines)

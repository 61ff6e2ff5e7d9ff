"""Plain-text tables for the ``erralert`` command's output."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["table"]


def table(rows: Sequence[Sequence[str]], *, numeric: bool = False, total: bool = False) -> str:
    """``rows`` (the first one the header) as aligned columns under a rule; ``numeric``
    right-aligns every column but the first, ``total`` rules off the last row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if numeric and i else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("─" * width for width in widths)
    lines = [line(row) for row in rows]
    lines.insert(1, rule)
    if total:
        lines.insert(len(lines) - 1, rule)
    return "\n".join(lines)

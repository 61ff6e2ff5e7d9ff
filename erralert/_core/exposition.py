"""The Prometheus text exposition format, version 0.0.4: what a scraper reads at
``/metrics``.

One family per metric: a ``# HELP`` line, a ``# TYPE`` line, then one sample per label
set. Label values escape ``\\``, ``"`` and line feeds; help texts escape ``\\`` and line
feeds. Both the library's counters (``erralert.prometheus_text``) and the local inbox's
``/metrics`` are written with it — the inbox may import this module, and nothing else of
the library but the safe logger (tests/layers.py).

>>> jobs = Family("jobs_total", "counter", "Jobs done.", samples=(((("queue", "a"),), 3),))
>>> print(exposition([jobs]), end="")
# HELP jobs_total Jobs done.
# TYPE jobs_total counter
jobs_total{queue="a"} 3
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["CONTENT_TYPE", "Family", "Labels", "exposition"]

# the Content-Type a scraper expects with this format
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]  # (name, value) pairs, written in this order

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: its name, type, help text and samples (each a label set and a value)."""

    name: str
    type: Literal["counter", "gauge"]
    help: str
    samples: tuple[tuple[Labels, float], ...] = ()

    def __post_init__(self) -> None:
        # names are the program's own, never data: a bad one is a bug, caught at once
        if not _METRIC_NAME.fullmatch(self.name):
            raise ValueError(f"not a Prometheus metric name: {self.name!r}")
        for labels, _ in self.samples:
            for name, _value in labels:
                if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
                    raise ValueError(f"not a Prometheus label name: {name!r}")


def exposition(families: Iterable[Family]) -> str:
    """The families as one exposition text, every line ended by a line feed."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for labels, value in family.samples:
            lines.append(f"{family.name}{_label_set(labels)} {_value(value)}")
    return "".join(line + "\n" for line in lines)


def _label_set(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape_label(value)}"' for name, value in labels) + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)

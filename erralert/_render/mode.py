"""The mode of the render in progress: the dialect its outputs are escaped for, whether it
makes JSON, its time, language and time zone, and what is left of its allowance.

A context variable, not a Jinja context variable: macros of an imported template run in
the importing render but with the context of their (cached) module, and filters have no
context at all. A ContextVar is right in all of them, and per thread.
"""

from __future__ import annotations

import contextvars
import dataclasses
from datetime import UTC, tzinfo

from erralert._render.allowance import Budget
from erralert.channels import DIALECTS, Dialect

__all__ = ["MODE", "Mode", "checkpoint", "current", "spend", "step"]


@dataclasses.dataclass(frozen=True, slots=True)
class Mode:
    dialect: Dialect
    json: bool = False  # inside a payload template: outputs are JSON string contents too
    now: float = 0.0
    locale: str = "en"  # the language of |duration and |ago
    zone: tzinfo = UTC  # where |datetime shows times
    # shared by the title, body and payload of one render; None outside a render
    budget: Budget | None = None


MODE: contextvars.ContextVar[Mode | None] = contextvars.ContextVar(
    "erralert_render_mode", default=None
)
_PLAIN = Mode(DIALECTS["plain"])  # outside a render (a filter called by hand)


def current() -> Mode:
    """The mode of the render in progress; plain text outside a render."""
    return MODE.get() or _PLAIN


def step(count: int) -> None:
    """Count ``count`` loop iterations or ``range()`` items of the render in progress."""
    budget = current().budget
    if budget is not None:
        budget.step(count)


def checkpoint() -> None:
    """A point where a render may be stopped for its time (calls, filters)."""
    budget = current().budget
    if budget is not None:
        budget.check_time()


def spend(size: int) -> None:
    """Count ``size`` characters or items about to be built by the render in progress;
    refuse past its allowance (checked before building, so a refused string is never
    allocated)."""
    budget = current().budget
    if budget is not None:
        budget.spend(size)

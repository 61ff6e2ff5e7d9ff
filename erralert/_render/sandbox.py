"""The Jinja environment erralert renders in: Jinja's immutable sandbox, every output
escaped for the dialect of the render in progress, erralert's filters, and bounds on what
a template can make the process compute.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Iterable
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.compiler import Frame as CompilerFrame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from erralert._core.event import Event, ExceptionInfo, Frame, Request
from erralert._core.links import Link
from erralert._core.notice import Notice, Occurrences, Storm, StormGroup, StormLine
from erralert._render.allowance import counted, size
from erralert._render.channel_info import ChannelInfo
from erralert._render.escaping import as_markup, as_text, finalize
from erralert._render.estimates import (
    GROWING_METHODS,
    bounded_filters,
    bounded_format,
    bounded_method,
    percent_size,
)
from erralert._render.filters import FILTERS
from erralert._render.mode import checkpoint, current, spend, step
from erralert._render.stack import StackLine

__all__ = ["MAX_DIGITS", "MAX_RANGE", "MAX_SEQUENCE", "Sandbox", "new_sandbox"]

MAX_RANGE = 10_000  # items of one range() in a template
MAX_SEQUENCE = 100_000  # items (characters) of a sequence made by `*` in a template
MAX_DIGITS = 10_000  # decimal digits of an integer made by `**` in a template


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` escaping for the dialect.

    Jinja joins ``a ~ b`` with markupsafe's HTML escaping when either side is Markup; in
    a markdown message that would both show ``&lt;`` and leave ``[x](http://…)`` active.
    """

    def visit_Concat(self, node: nodes.Concat, frame: CompilerFrame) -> None:
        self.write("environment.erralert_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (templates cannot reach Python internals nor change the
    event they render), with bounds on what a template can make the process compute:
    every ``{% for %}`` item and ``range()`` item is a step of the render's ``MAX_STEPS``,
    and everything that builds text or sequences (outputs, ``*``, ``+``, ``~``, ``%``,
    ``format``, padding and joining methods and filters) is estimated *before* it is built
    and counted against ``MAX_BUILT``."""

    code_generator_class = _CodeGenerator
    # intercepted operators are also never folded at compile time: `10 ** 10 ** 10` in a
    # template cannot hang erralert's start-up either
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # every loop iterates through erralert_loop, which counts its items: a loop inside
        # a loop multiplies what each range() alone is allowed
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("erralert_loop", lineno=loop.iter.lineno),
                [loop.iter],
                [],
                None,
                None,
                lineno=loop.iter.lineno,
            )
        return tree

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # Jinja returns an undefined value that only fails when used, and prints as
        # nothing: the template would silently show less. Fail now, with the reason.
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        # the data of erralert's own frozen dataclasses is what templates read all the
        # time: skip the sandbox's general checks for it (about half of a render's time);
        # methods and underscore names still take the checked way
        if type(obj) in _DATA_TYPES and not attribute.startswith("_"):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                pass
            else:
                if not callable(value):
                    return value
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja's hook for the methods it wraps when a template reads them (by attribute
        # or by item): str.format is sandboxed there, and the methods that can make a
        # string far larger than their inputs are bounded here
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            return bounded_format(wrapped, value.__self__)
        if (
            isinstance(value, types.BuiltinMethodType)
            and isinstance(value.__self__, str | bytes | bytearray)
            and value.__name__ in GROWING_METHODS
        ):
            return bounded_method(value)
        return None

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            if isinstance(left, str) and isinstance(right, str):
                spend(len(left) + len(right))
                if isinstance(left, Markup) != isinstance(right, Markup):
                    # markupsafe would HTML-escape the plain side: escape it for the dialect
                    return Markup(as_markup(left) + as_markup(right))
            elif isinstance(left, bytes | bytearray) and isinstance(right, bytes | bytearray):
                spend(len(left) + len(right))
            elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
                spend(size(left) + size(right))
        elif operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            spend(percent_size(left, right))
        elif operator == "%" and isinstance(left, bytes | bytearray):
            spend(percent_size(bytes(left).decode("latin-1"), right))
        return super().call_binop(context, operator, left, right)

    # (Jinja's own signature: the double underscores keep a call's keyword arguments free)
    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        checkpoint()
        return super().call(__context, __obj, *args, **kwargs)

    def erralert_concat(self, values: Iterable[Any]) -> str:
        """``a ~ b ~ c``."""
        items = tuple(values)
        spend(sum(map(size, items)))
        if any(isinstance(item, Markup) for item in items):
            return Markup("".join(as_markup(item) for item in items))
        return "".join(map(as_text, items))

    def erralert_loop(self, iterable: Any) -> Any:
        """What ``{% for %}`` iterates: ``iterable``, each item a step of the render."""
        budget = current().budget
        return iterable if budget is None else counted(iterable, budget)


_DATA_TYPES = frozenset(
    {
        Event,
        ExceptionInfo,
        Frame,
        Request,
        Notice,
        Occurrences,
        Storm,
        StormGroup,
        StormLine,
        ChannelInfo,
        StackLine,
        Link,
    }
)


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | bytes | bytearray | list | tuple) and isinstance(times, int):
        if len(sequence) * times > MAX_SEQUENCE:
            raise SecurityError(f"a sequence of more than {MAX_SEQUENCE} items is refused")
        spend(size(sequence) * max(0, times))
    elif (
        isinstance(sequence, int)
        and isinstance(times, int)
        # a product has as many digits as its factors together: repeated, they double
        and (sequence.bit_length() + times.bit_length()) * math.log10(2) > MAX_DIGITS
    ):
        raise SecurityError(f"a number of more than {MAX_DIGITS} digits is refused")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log10(abs(base)) > MAX_DIGITS
    ):
        raise SecurityError(f"a number of more than {MAX_DIGITS} digits is refused")


def _range(*args: int) -> range:
    """``range()`` in a template: at most ``MAX_RANGE`` items, each a step of the render."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() of more than {MAX_RANGE} items is refused")
    step(len(numbers))
    return numbers


def new_sandbox(loader: jinja2.BaseLoader, bytecode_cache: jinja2.BytecodeCache) -> Sandbox:
    """A sandbox that loads templates with ``loader``, with erralert's filters (each
    bounded) and ``range()``, every output escaped for the dialect of the render in
    progress."""
    env = Sandbox(
        loader=loader,
        bytecode_cache=bytecode_cache,
        autoescape=True,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # compiled once: no stat() of the file on every render
    )
    env.filters.update(FILTERS)
    # every filter is a point where a render may be stopped for its time; those that can
    # build far more than their input are estimated first
    env.filters.update(bounded_filters(env.filters))
    env.globals["range"] = _range
    env.globals.pop("lipsum", None)  # lipsum(n=10**6): text nobody needs in an alert
    return env

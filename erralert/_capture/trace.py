"""The trace and span id of the active OpenTelemetry span, when ``opentelemetry-api`` is
installed (``pip install erralert[otel]``; erralert never requires it).

An alert that carries the trace id leads straight to the request's trace and logs. The
span is read on the application's thread at capture time, where it is the one active
while the error happened; reading it never raises.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

__all__ = ["active_span_ids", "opentelemetry_trace"]


@functools.cache
def opentelemetry_trace() -> ModuleType | None:
    """The ``opentelemetry.trace`` module, or None when it cannot be imported.

    Tried once per process: without the package, a capture does not pay for a failed
    import each time. ``opentelemetry_trace.cache_clear()`` makes the next call try again
    (tests use it, with ``sys.modules["opentelemetry"] = None``, to simulate its absence).
    """
    try:
        return importlib.import_module("opentelemetry.trace")
    except Exception:  # ImportError, or an installation broken in any other way
        return None


def active_span_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the span active in the current context as lower-case hex
    (32 and 16 digits), or None: no OpenTelemetry, no active span, or an invalid one."""
    trace = opentelemetry_trace()
    if trace is None:
        return None
    try:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        trace_id, span_id = context.trace_id, context.span_id
        if not isinstance(trace_id, int) or not isinstance(span_id, int):
            return None
        return f"{trace_id:032x}", f"{span_id:016x}"
    except Exception:  # an SDK or a context in a state we did not expect: no ids
        return None

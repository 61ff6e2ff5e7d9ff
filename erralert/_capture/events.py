"""Building events from exceptions and messages (no I/O beyond reading source lines).

Every function here, and in the modules it builds with (``budget``, ``safe_text``,
``chain``, ``live_frames``, ``traceback_text``, ``tags_and_extra``), runs while the
application is already failing, on whatever it threw: exceptions whose ``__str__`` raises,
dynamic classes, cyclic chains, 10 000-frame recursion. Nothing here may raise, and the
work is bounded (frames, exceptions, locals, string lengths), the application's own
``__str__`` and ``__repr__`` code included: it runs under a time budget (see
``budget.run_budgeted``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from types import FrameType, TracebackType
from typing import Any

from erralert._capture.budget import event_budget
from erralert._capture.chain import collect_chain
from erralert._capture.live_frames import (
    MAX_PATH,
    capture_frames,
    frames_culprit,
    stack_culprit,
)
from erralert._capture.safe_text import clean_name, cut, safe_str
from erralert._capture.tags_and_extra import clean_extra, clean_tags
from erralert._capture.traceback_text import format_traceback
from erralert._core.event import Event, ExceptionInfo, Request
from erralert._core.event_origin import hostname, new_event_id
from erralert._core.frames import type_names, walk_traceback

__all__ = ["MAX_TITLE", "build_exception_event", "build_message_event"]

MAX_TITLE = 200


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _title(text: str) -> str:
    return cut(_first_line(text), MAX_TITLE)


# -- exceptions --------------------------------------------------------------------------------
def _type_names(exc: BaseException) -> tuple[str, str]:
    """(qualname, module) of the exception's class; dynamic classes may have anything
    (a ``__module__`` of None, a ``__qualname__`` with lone surrogates, 10 kB long)."""
    qualname, module = type_names(type(exc))
    return clean_name(qualname), clean_name(module)


def _exception_info(
    exc: BaseException,
    message: str,
    relation: str | None,
    parent: int | None,
    members_omitted: int,
    include_locals: bool,
) -> ExceptionInfo:
    type_name, module = _type_names(exc)
    try:
        tb = exc.__traceback__
        stack = walk_traceback(tb if isinstance(tb, TracebackType) else None)
        frames, omitted = capture_frames(stack, include_locals)
    except Exception:  # never lose the exception itself over its frames
        frames, omitted = (), 0
    return ExceptionInfo(
        type=type_name,
        module=module,
        message=message,
        frames=frames,
        relation=relation,
        parent=parent,
        frames_omitted=omitted,
        members_omitted=members_omitted,
    )


# -- events ------------------------------------------------------------------------------------
def _trace_id(active: str | None, request: Request | None) -> str | None:
    """The active span's trace id, else the one the request's traceparent header names."""
    return active or (request.trace_id if request is not None else None)


def build_exception_event(
    exc: BaseException,
    *,
    level: str = "error",
    message: str | None = None,
    request: Request | None = None,
    tags: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    logger: str | None = None,
    service: str | None = None,
    environment: str | None = None,
    release: str | None = None,
    include_locals: bool = False,
    fingerprint: str = "",
    now: float | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> Event:
    """The event of ``exc``: its chain (root cause first, ``exc`` last, exception group
    members included), frames, culprit and formatted traceback. Not scrubbed yet.
    ``trace_id``/``span_id``: the active span's; without them, the request's trace id."""
    with event_budget():
        try:
            chain = collect_chain(exc)
        except Exception:  # never lose the exception itself over its chain
            chain = [(exc, None, None, 0)]
        # the messages first: they are what the alert says, and the locals' reprs must not
        # spend the budget of the application code they run before them
        messages = [safe_str(e, say_cut=True) for e, _, _, _ in chain]
        exceptions = tuple(
            _exception_info(e, message, relation, parent, omitted, include_locals)
            for (e, relation, parent, omitted), message in zip(chain, messages, strict=True)
        )
        raised = exceptions[-1]
        title = _title(raised.message)
        title = cut(f"{raised.type}: {title}" if title else raised.type, MAX_TITLE)
        return Event(
            event_id=new_event_id(),
            timestamp=time.time() if now is None else now,
            level=level,
            title=title,
            message=None if message is None else safe_str(message, say_cut=True),
            exceptions=exceptions,
            culprit=frames_culprit(raised.frames),
            traceback=format_traceback(exceptions),
            request=request,
            service=service,
            environment=environment,
            release=release,
            host=hostname(),
            pid=os.getpid(),
            logger=None if logger is None else clean_name(logger),
            tags=clean_tags(tags),
            extra=clean_extra(extra),
            fingerprint=fingerprint,
            trace_id=_trace_id(trace_id, request),
            span_id=span_id if trace_id else None,
        )


def build_message_event(
    text: str,
    *,
    level: str = "error",
    request: Request | None = None,
    tags: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    logger: str | None = None,
    service: str | None = None,
    environment: str | None = None,
    release: str | None = None,
    stack: Sequence[tuple[FrameType, int]] | None = None,
    culprit: str | None = None,
    fingerprint: str = "",
    now: float | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> Event:
    """The event of a message (``capture_message``, a log record without exception).
    The culprit is ``culprit``, else the innermost in-app frame of ``stack`` (the caller's
    stack, outermost first), else empty. Trace ids as for ``build_exception_event``."""
    with event_budget():
        message = safe_str(text, say_cut=True)
        if culprit:
            culprit = clean_name(culprit, MAX_PATH)
        else:
            try:
                culprit = stack_culprit(stack) if stack else ""
            except Exception:
                culprit = ""
        return Event(
            event_id=new_event_id(),
            timestamp=time.time() if now is None else now,
            level=level,
            title=_title(message),
            message=message,
            exceptions=(),
            culprit=culprit,
            traceback="",
            request=request,
            service=service,
            environment=environment,
            release=release,
            host=hostname(),
            pid=os.getpid(),
            logger=None if logger is None else clean_name(logger),
            tags=clean_tags(tags),
            extra=clean_extra(extra),
            fingerprint=fingerprint,
            trace_id=_trace_id(trace_id, request),
            span_id=span_id if trace_id else None,
        )

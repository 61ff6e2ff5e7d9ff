"""What a capture knows besides the error itself: the request it happened in, given in
whatever form the caller has it, where a message was logged from, and whether an alerter
has seen this very exception already."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from erralert._capture.live_frames import innermost_in_app
from erralert._capture.request import request_from_asgi, request_from_wsgi
from erralert._core.event import Request
from erralert._core.frames import walk_stack
from erralert._core.safelog import safe_logger

__all__ = [
    "RequestLike",
    "already_captured",
    "as_request",
    "culprit_site",
    "mark_captured",
    "was_captured",
]

logger = safe_logger()

# a Request, an ASGI scope, a WSGI environ, or a function that builds the Request: it is
# called only when the event is built (the first occurrence of a window), not for repeats
RequestLike = Request | Mapping[str, Any] | Callable[[], Request | None]

_MARK = "__erralert_captured__"


def as_request(request: RequestLike | None) -> Request | None:
    if request is None or isinstance(request, Request):
        return request
    if callable(request):
        try:
            return request()
        except Exception:  # a half-built request must not cost the alert
            logger.debug("erralert: building the request context failed", exc_info=True)
            return None
    if "REQUEST_METHOD" in request or "wsgi.version" in request:
        return request_from_wsgi(request)
    if "type" in request:
        return request_from_asgi(request)
    return None


def culprit_site(caller: FrameType) -> tuple[str, str] | None:
    """(module, file) of the culprit frame of a message's caller stack (the frame its
    event's culprit names)."""
    found = innermost_in_app(walk_stack(caller))
    if found is None:
        return None
    module = found[0].f_globals.get("__name__")
    return (module if isinstance(module, str) else "", found[0].f_code.co_filename)


def already_captured(exc: BaseException) -> bool:
    """The same exception object seen by two hooks (middleware + logging + framework signal)
    is alerted once. Exceptions don't support weak references, so mark the object."""
    if was_captured(exc):
        return True
    mark_captured(exc)
    return False


def was_captured(exc: BaseException) -> bool:
    """Whether an alerter has already seen this very exception object."""
    try:
        return bool(getattr(exc, _MARK, False))
    except Exception:  # a class whose __getattr__ raises something else: not seen
        return False


def mark_captured(exc: BaseException) -> None:
    """Count ``exc`` as seen, e.g. a framework's wrapper around an exception already
    reported, so that a logging hook that sees only the wrapper stays quiet."""
    # __slots__ or a read-only exception: accept a possible duplicate
    with contextlib.suppress(Exception):
        setattr(exc, _MARK, True)

"""The event: an immutable record of one error, built from an exception (no I/O).

Everything a template, a channel or a store needs is in these frozen dataclasses;
``Event.to_dict()`` is the JSON form (the generic webhook's ``event`` object and the
form shared stores keep), ``Event.from_dict()`` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Event", "ExceptionInfo", "Frame", "Request", "clean_text"]


def clean_text(s: str) -> str:
    """``s`` without NUL characters and lone surrogates, which break JSON encoders (a lone
    surrogate cannot be encoded as UTF-8 at all), chat APIs and terminals; both are kept
    visible as backslash escapes. Every string of an event goes through it."""
    if s.isascii():
        return s.replace("\x00", "\\x00") if "\x00" in s else s
    if "\x00" in s:
        s = s.replace("\x00", "\\x00")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s


@dataclass(frozen=True, slots=True)
class Frame:
    # for display: project-relative for the app (from the sys.path entry it was imported
    # through), package-relative for installed packages, stdlib-relative for the stdlib
    filename: str
    abs_path: str  # absolute, as Python's own tracebacks show it
    lineno: int
    function: str  # co_qualname
    module: str  # f_globals["__name__"]
    context_line: str | None  # the source line, stripped, or None when unavailable
    in_app: bool
    locals: dict[str, str] | None = None  # repr() of each local, only with include_locals


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    type: str  # class __qualname__, e.g. "ValueError"
    module: str  # class __module__, e.g. "builtins"
    message: str  # str(exc), scrubbed
    frames: tuple[Frame, ...]  # outermost first, innermost (where it was raised) last
    # how this exception relates to the next one in Event.exceptions (the one Python prints
    # after it): "cause" (raise ... from), "context" (raised while handling), "group"
    # (a member of the ExceptionGroup at index `parent`), or None for the last one.
    relation: str | None = None
    parent: int | None = None
    frames_omitted: int = 0  # frames dropped from the middle of a very deep stack
    # an exception group's members not in Event.exceptions (the event keeps at most 25
    # exceptions): the traceback says "and N more exceptions", as Python's does
    members_omitted: int = 0

    @property
    def qualified_type(self) -> str:
        if self.module in ("builtins", "__builtin__", ""):
            return self.type
        return f"{self.module}.{self.type}"


@dataclass(frozen=True, slots=True)
class Request:
    method: str | None = None
    url: str | None = None  # scrubbed (credentials and secret query values filtered)
    path: str | None = None
    route: str | None = None  # route template, e.g. "/items/{id}", when the framework tells
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    trace_id: str | None = None  # from a W3C traceparent header
    user: str | None = None  # an id, never personal data

    @property
    def line(self) -> str:
        """``"GET /items/42"`` — the request line templates show."""
        return " ".join(p for p in (self.method, self.path or self.url) if p)


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str  # uuid4 hex
    timestamp: float  # UNIX seconds, UTC
    level: str  # "error", "warning", "critical", ...
    title: str  # one line: "ValueError: bad input" or the message's first line
    message: str | None  # capture_message text or the log message, scrubbed
    exceptions: tuple[ExceptionInfo, ...]  # root cause first, the raised one last
    culprit: str  # "module.function (path/to/file.py:42)" of the innermost in-app frame
    traceback: str  # formatted like Python does, from the scrubbed data
    request: Request | None
    service: str | None
    environment: str | None
    release: str | None
    host: str
    pid: int
    logger: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    # of the OpenTelemetry span active at capture time (32 and 16 hex digits); without one,
    # trace_id is the request's W3C traceparent trace id and span_id None
    trace_id: str | None = None
    span_id: str | None = None

    @property
    def exception(self) -> ExceptionInfo | None:
        """The exception that was raised (the last of the chain), if any."""
        return self.exceptions[-1] if self.exceptions else None

    @property
    def frames(self) -> tuple[Frame, ...]:
        exc = self.exception
        return exc.frames if exc else ()

    @property
    def culprit_frame(self) -> Frame | None:
        """The frame ``culprit`` names: the innermost in-app frame of the raised exception,
        else its innermost frame; None without frames (a message)."""
        frames = self.frames
        if not frames:
            return None
        return next((f for f in reversed(frames) if f.in_app), frames[-1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (schema version 1 of the generic webhook's ``event``)."""
        return {
            "event_id": self.event_id,
            "timestamp": self.timestamp,
            "level": self.level,
            "title": self.title,
            "message": self.message,
            "culprit": self.culprit,
            "fingerprint": self.fingerprint,
            "exceptions": [_exception_to_dict(e) for e in self.exceptions],
            "traceback": self.traceback,
            "request": _request_to_dict(self.request) if self.request else None,
            "service": self.service,
            "environment": self.environment,
            "release": self.release,
            "host": self.host,
            "pid": self.pid,
            "logger": self.logger,
            "tags": dict(self.tags),
            "extra": dict(self.extra),
            "trace_id": self.trace_id,
            "span_id": self.span_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        request = data.get("request")
        return cls(
            event_id=data["event_id"],
            timestamp=data["timestamp"],
            level=data["level"],
            title=data["title"],
            message=data.get("message"),
            exceptions=tuple(_exception_from_dict(e) for e in data.get("exceptions", ())),
            culprit=data.get("culprit", ""),
            traceback=data.get("traceback", ""),
            request=Request(**_known(Request, request)) if request else None,
            service=data.get("service"),
            environment=data.get("environment"),
            release=data.get("release"),
            host=data.get("host", ""),
            pid=data.get("pid", 0),
            logger=data.get("logger"),
            tags=dict(data.get("tags") or {}),
            extra=dict(data.get("extra") or {}),
            fingerprint=data.get("fingerprint", ""),
            trace_id=data.get("trace_id"),  # absent from documents of older versions
            span_id=data.get("span_id"),
        )


def _frame_to_dict(frame: Frame) -> dict[str, Any]:
    return {
        "filename": frame.filename,
        "abs_path": frame.abs_path,
        "lineno": frame.lineno,
        "function": frame.function,
        "module": frame.module,
        "context_line": frame.context_line,
        "in_app": frame.in_app,
        "locals": frame.locals,
    }


def _exception_to_dict(exc: ExceptionInfo) -> dict[str, Any]:
    data = {
        "type": exc.type,
        "module": exc.module,
        "message": exc.message,
        "frames": [_frame_to_dict(f) for f in exc.frames],
        "relation": exc.relation,
        "parent": exc.parent,
        "frames_omitted": exc.frames_omitted,
    }
    if exc.members_omitted:  # only on a cut exception group: the usual document is unchanged
        data["members_omitted"] = exc.members_omitted
    return data


def _exception_from_dict(data: dict[str, Any]) -> ExceptionInfo:
    return ExceptionInfo(
        type=data["type"],
        module=data["module"],
        message=data["message"],
        frames=tuple(Frame(**_known(Frame, f)) for f in data.get("frames", ())),
        relation=data.get("relation"),
        parent=data.get("parent"),
        frames_omitted=data.get("frames_omitted", 0),
        members_omitted=data.get("members_omitted", 0),
    )


_FIELDS: dict[type, frozenset[str]] = {
    cls: frozenset(f.name for f in fields(cls)) for cls in (Frame, Request)
}


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the keys ``cls`` does not have: a shared store may hold events
    written by a newer erralert (a rolling deploy), whose extra fields must not make this
    process fail to read them."""
    names = _FIELDS[cls]
    if data.keys() <= names:
        return data
    return {k: v for k, v in data.items() if k in names}


def _request_to_dict(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.url,
        "path": request.path,
        "route": request.route,
        "query": dict(request.query),
        "headers": dict(request.headers),
        "client_ip": request.client_ip,
        "user_agent": request.user_agent,
        "request_id": request.request_id,
        "trace_id": request.trace_id,
        "user": request.user,
    }

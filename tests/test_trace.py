"""The identity of a request in an alert (issue 15): the trace and span id of the active
OpenTelemetry span (a real SDK tracer here), the W3C traceparent's trace id without one,
the request id headers, and nothing broken when OpenTelemetry is not installed."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import erralert
from erralert._capture.request import request_from_asgi, request_from_wsgi
from erralert._capture.trace import active_span_ids, opentelemetry_trace
from erralert._core.event import Event, Request
from erralert.testing import CapturedAlert, capture_alerts

WEBHOOK = "webhook+https://alerts.example.com/erralert"
HEADER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{HEADER_TRACE}-00f067aa0ba902b7-01"

tracer = TracerProvider().get_tracer("tests.test_trace")  # a real SDK tracer, not global


@pytest.fixture(autouse=True)
def _fresh_import_attempt() -> Iterator[None]:
    opentelemetry_trace.cache_clear()
    yield
    opentelemetry_trace.cache_clear()


@pytest.fixture
def without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if opentelemetry-api were not installed: ``import`` raises ImportError."""
    for name in [n for n in sys.modules if n == "opentelemetry" or n.startswith("opentelemetry.")]:
        monkeypatch.setitem(sys.modules, name, None)
    opentelemetry_trace.cache_clear()


@contextlib.contextmanager
def recording(**options: Any) -> Iterator[Recorder]:
    """An alerter whose messages are recorded, never sent (closed while recording, so
    that the digests its close sends early are recorded too)."""
    alerter = erralert.Alerter([WEBHOOK], **options)
    with capture_alerts(alerter) as alerts:
        try:
            yield Recorder(alerter, alerts)
        finally:
            alerter.close(0.1)


@dataclasses.dataclass
class Recorder:
    alerter: erralert.Alerter
    alerts: list[CapturedAlert]

    def capture(self, request: Any = None, *, message: bool = False) -> CapturedAlert:
        """The alert of one new error (an exception, or a message) with ``request``."""
        before = len(self.alerts)
        if message:
            self.alerter.capture_message("payment provider slow", request=request)
        else:
            try:
                raise RuntimeError("card declined")
            except RuntimeError as exc:
                self.alerter.capture_exception(exc, request=request)
        assert len(self.alerts) == before + 1
        return self.alerts[-1]


def ids(span: trace.Span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


# -- the active span ----------------------------------------------------------------------------


@pytest.mark.parametrize("message", [False, True], ids=["exception", "message"])
def test_the_event_carries_the_active_spans_ids(message: bool) -> None:
    with recording() as rec, tracer.start_as_current_span("POST /pay") as span:
        alert = rec.capture(message=message)
    trace_id, span_id = ids(span)
    assert len(trace_id) == 32
    assert len(span_id) == 16
    event = alert.notice.event
    assert (event.trace_id, event.span_id) == (trace_id, span_id)
    # and the generic webhook's JSON has them
    assert alert.payload["event"]["trace_id"] == trace_id
    assert alert.payload["event"]["span_id"] == span_id


def test_the_innermost_active_span_is_the_one() -> None:
    outer = tracer.start_as_current_span("request")
    with recording() as rec, outer, tracer.start_as_current_span("charge") as inner:
        event = rec.capture().notice.event
    assert (event.trace_id, event.span_id) == ids(inner)


def test_the_active_span_wins_over_the_traceparent_header() -> None:
    with recording() as rec, tracer.start_as_current_span("POST /pay") as span:
        event = rec.capture(Request(trace_id=HEADER_TRACE)).notice.event
    assert (event.trace_id, event.span_id) == ids(span)


def test_without_a_span_the_traceparent_trace_id_and_no_span_id() -> None:
    headers = [(b"traceparent", TRACEPARENT.encode())]
    with recording() as rec:
        event = rec.capture({"type": "http", "method": "GET", "path": "/", "headers": headers})
        assert (event.notice.event.trace_id, event.notice.event.span_id) == (HEADER_TRACE, None)
        event = rec.capture(message=True)  # neither a span nor a request
        assert (event.notice.event.trace_id, event.notice.event.span_id) == (None, None)


def test_an_invalid_span_context_gives_no_ids() -> None:
    assert active_span_ids() is None  # nothing active
    invalid = NonRecordingSpan(SpanContext(0, 0, is_remote=False))
    with trace.use_span(invalid):
        assert active_span_ids() is None
    valid = NonRecordingSpan(
        SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    )
    with trace.use_span(valid):  # a span propagated from upstream counts
        assert active_span_ids() == (f"{0xABC:032x}", f"{0xDEF:016x}")


def test_a_trace_link_uses_the_spans_trace_id() -> None:
    links = {"trace": "https://tempo.example/t/{trace_id}"}
    with recording(links=links) as rec, tracer.start_as_current_span("POST /pay") as span:
        alert = rec.capture()
    assert alert.payload["links"] == [
        {"name": "trace", "url": f"https://tempo.example/t/{ids(span)[0]}"}
    ]


# -- OpenTelemetry absent or broken -------------------------------------------------------------


@pytest.mark.usefixtures("without_opentelemetry")
def test_without_opentelemetry_alerts_go_out_without_span_ids() -> None:
    with pytest.raises(ImportError):
        importlib.import_module("opentelemetry.trace")  # the simulation holds
    assert opentelemetry_trace() is None
    assert active_span_ids() is None
    with recording() as rec:
        event = rec.capture(Request(trace_id=HEADER_TRACE)).notice.event
        assert (event.trace_id, event.span_id) == (HEADER_TRACE, None)
        assert rec.capture(message=True).notice.event.trace_id is None


def test_the_import_is_attempted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []
    real = importlib.import_module

    def counting(name: str, package: str | None = None) -> Any:
        attempts.append(name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", counting)
    for _ in range(3):
        active_span_ids()
    assert attempts == ["opentelemetry.trace"]


def test_a_failing_opentelemetry_never_costs_the_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> trace.Span:
        raise RuntimeError("context storage broken")

    monkeypatch.setattr(trace, "get_current_span", broken)
    assert active_span_ids() is None
    with recording() as rec:
        alert = rec.capture()
    assert alert.kind == "alert"
    assert alert.notice.event.trace_id is None


# -- the event's form ---------------------------------------------------------------------------


def test_the_ids_survive_the_json_form_and_old_documents_load() -> None:
    with recording() as rec, tracer.start_as_current_span("POST /pay"):
        event = rec.capture().notice.event
    data = event.to_dict()
    assert (data["trace_id"], data["span_id"]) == (event.trace_id, event.span_id)
    assert Event.from_dict(data) == event
    old = {k: v for k, v in data.items() if k not in ("trace_id", "span_id")}
    loaded = Event.from_dict(old)
    assert (loaded.trace_id, loaded.span_id) == (None, None)
    assert loaded == dataclasses.replace(event, trace_id=None, span_id=None)


# -- request ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Request-ID": "req-1"}, "req-1"),
        ({"X-Correlation-ID": "corr-2"}, "corr-2"),
        ({"X-Correlation-ID": "corr-2", "X-Request-ID": "req-1"}, "req-1"),  # X-Request-ID wins
        ({"X-Request-ID": "", "X-Correlation-ID": "corr-2"}, "corr-2"),  # an empty one: the other
        ({}, None),
    ],
)
@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_request_id_headers_reach_the_event_and_links(
    server: str, headers: dict[str, str], expected: str | None
) -> None:
    request: dict[str, Any]
    if server == "asgi":
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        request = {"type": "http", "method": "GET", "path": "/pay", "headers": raw}
        assert request_from_asgi(request).request_id == expected
    else:
        request = {"REQUEST_METHOD": "GET", "PATH_INFO": "/pay", "wsgi.url_scheme": "http"}
        request.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
        assert request_from_wsgi(request).request_id == expected
    with recording(links={"logs": "https://logs.example/?q={request_id}"}) as rec:
        alert = rec.capture(request)
    assert alert.notice.event.request is not None
    assert alert.notice.event.request.request_id == expected
    logs = [{"name": "logs", "url": f"https://logs.example/?q={expected}"}]
    assert alert.payload["links"] == (logs if expected else [])

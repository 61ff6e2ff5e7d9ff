"""The Alerter: capture -> event -> scrub -> fingerprint -> throttle -> (render -> outbox).

Capture is the hot path and runs on the application's threads: it fingerprints the
exception straight from its code objects, asks the throttle, and only for the first
occurrence of a window builds the full event and hands a notice to its sink: the outbox,
or a recording's (``erralert._delivery.sink``). Rendering and network I/O happen on the
outbox's worker thread. Around it: ``_options`` checks the options and builds the parts,
``_decisions`` keeps the routing decisions, ``_digests`` turns ended windows into digests.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import tzinfo
from types import TracebackType
from typing import Any, ClassVar

import httpx

from erralert._alerter.context import RequestLike, already_captured, as_request, culprit_site
from erralert._alerter.decisions import Decisions, Detail, SilencedCounts
from erralert._alerter.digests import Digests
from erralert._alerter.internal_errors import InternalErrors
from erralert._alerter.membership import open_throttle
from erralert._alerter.options import (
    BeforeSend,
    FingerprintHook,
    IgnoreList,
    IgnoreSpec,
    build_renderer,
    check_options,
    route_channels,
    scrubber,
)
from erralert._alerter.recording import Destination, Recording
from erralert._capture.events import build_exception_event, build_message_event
from erralert._capture.release import detect_release
from erralert._capture.safe_text import safe_str
from erralert._capture.trace import active_span_ids
from erralert._core.event import Event
from erralert._core.event_origin import new_event_id
from erralert._core.frames import walk_stack
from erralert._core.notice import Notice
from erralert._core.safelog import safe_logger
from erralert._delivery.outbox import Outbox
from erralert._delivery.sink import Sink
from erralert._delivery.spool import Spool
from erralert._delivery.stats import Stats
from erralert._grouping.fingerprint import exception_fingerprint, message_fingerprint
from erralert._routing import Decision, Facts, OwnersSpec, Router
from erralert._stores import Store, StoreSpec
from erralert._stores.base import Silenced
from erralert.channels.base import Channel, Message

__all__ = ["Alerter"]

logger = safe_logger()

_MAX_AGE = 600.0  # seconds a message is retried without a spool
_SPOOLED_MAX_AGE = 24 * 3600.0  # … and with one
_STARVED_TICK = 2.0  # seconds without a tick after which a capture claims due digests


class _Guard(threading.local):
    active = False


_guard = _Guard()


class Alerter:
    """Catches errors and sends them to chat, grouped per fingerprint and window.

    >>> alerter = Alerter(["slack://T000/B000/XXXX"], service="checkout", window=300)
    >>> try:
    ...     1 / 0
    ... except ZeroDivisionError:
    ...     alerter.capture_exception()

    Configuration mistakes raise :class:`erralert.ConfigError` here; nothing at capture
    time ever raises into the application.
    """

    # Alerter.recording() (erralert.testing.capture_alerts) registers recordings here: an
    # alerter one covers counts in the recording's fresh throttle and hands its notices to
    # the recording's sink
    _recordings: ClassVar[list[Recording[Alerter]]] = []

    def __init__(
        self,
        webhooks: Iterable[str | Channel] | str = (),
        *,
        service: str | None = None,
        environment: str | None = None,
        release: str | None = None,
        window: float = 300.0,
        store: StoreSpec = "memory://",
        template_dir: str | os.PathLike[str] | None = None,
        spool: str | os.PathLike[str] | None = None,
        include_locals: bool = False,
        scrub_keys: Iterable[str] = (),
        scrub_patterns: Iterable[str | re.Pattern[str]] = (),
        ignore: Iterable[IgnoreSpec] = (),
        before_send: BeforeSend | None = None,
        fingerprint: FingerprintHook | None = None,
        max_queue: int = 1000,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        enabled: bool = True,
        max_delay: float = 60.0,
        storm_followups: int = 5,
        shutdown_timeout: float = 2.0,
        locale: str = "en",
        timezone: str | tzinfo = "UTC",
        routes: Sequence[Mapping[str, Any]] = (),
        owners: OwnersSpec = None,
        links: Mapping[str, str] | None = None,
        tags_to_show: Iterable[str] | str = (),
    ) -> None:
        check_options(
            window=window,
            timeout=timeout,
            max_delay=max_delay,
            max_queue=max_queue,
            storm_followups=storm_followups,
            before_send=before_send,
            fingerprint=fingerprint,
        )
        self.enabled = bool(enabled)
        self.service = service
        self.environment = environment
        self.release = release if release is not None else detect_release()
        self.window = float(window)
        self.include_locals = include_locals
        self.shutdown_timeout = shutdown_timeout
        self._before_send = before_send
        self._fingerprint = fingerprint
        self._ignore = IgnoreList(ignore)
        self._scrubber = scrubber(scrub_keys, scrub_patterns)
        self.channels, self._router = route_channels(webhooks, routes, owners)
        self._decisions = Decisions(self._router) if self._router is not None else None
        self._silenced = SilencedCounts()
        self._renderer = build_renderer(
            self.channels,
            template_dir,
            locale=locale,
            timezone=timezone,
            links=links,
            tags_to_show=tags_to_show,
        )
        # as the renderer understood them: "zh" for "zh-CN", a zone's IANA name
        self.locale = self._renderer.locale
        self.timezone = self._renderer.timezone
        self._throttle = open_throttle(
            store,
            service=service,
            release=self.release,
            window=self.window,
            channels=self.channels,
        )
        # the durable outbox: with it, a message is worth retrying for a day, not minutes
        self._spool = Spool(spool) if spool is not None else None
        self._outbox = Outbox(
            self.channels,
            self._renderer.render,
            transport=transport,
            proxy=proxy,
            ca_bundle=ca_bundle,
            timeout=timeout,
            max_queue=max_queue,
            max_delay=max_delay,
            # new errors folded into a storm summary that get their full alert after it
            storm_followups=storm_followups,
            tick=self._emit_due,
            # pacing and storm summaries are shared like the counts: one budget per channel
            ledger=self._throttle.store,
            spool=self._spool,
            max_age=_SPOOLED_MAX_AGE if self._spool is not None else _MAX_AGE,
        )
        self._own = Destination(self._throttle, self._outbox)
        self._digests = Digests(self._router, lambda: self._context(None, None, None, None))
        # what a previous run left in the spool: outstanding now (a flush waits for it)
        if self._spool is not None and self._outbox.adopt():
            self._outbox.start()
        self._closed = False
        self._internal_errors = InternalErrors()
        self._ticked = time.time()  # when digests were last claimed
        _live_alerters.add(self)

    # -- public API ---------------------------------------------------------------------------
    def capture_exception(
        self,
        exc: BaseException | None = None,
        *,
        request: RequestLike | None = None,
        tags: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        level: str = "error",
        logger_name: str | None = None,
        message: str | None = None,
    ) -> str | None:
        """Report ``exc`` (default: the exception being handled). Returns the event id, or
        None when the exception was ignored, dropped by ``before_send``, already captured
        or erralert is disabled."""
        if not self.enabled or self._closed or _guard.active:
            return None
        _guard.active = True
        try:
            if exc is None:
                exc = sys.exc_info()[1]
                if exc is None:
                    return None
            return self._capture_exception(exc, request, tags, extra, level, logger_name, message)
        except Exception as error:
            self._internal_error("capture", error)
            return None
        finally:
            _guard.active = False

    def capture_message(
        self,
        text: str,
        level: str = "error",
        *,
        request: RequestLike | None = None,
        tags: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        logger_name: str | None = None,
        template: str | None = None,
        culprit: str | None = None,
    ) -> str | None:
        """Report a message. Messages that differ only in numbers, ids or hex group together
        (``template``, e.g. a log record's unformatted ``msg``, groups exactly)."""
        if not self.enabled or self._closed or _guard.active:
            return None
        _guard.active = True
        try:
            return self._capture_message(
                text, level, request, tags, extra, logger_name, template, culprit
            )
        except Exception as error:
            self._internal_error("capture", error)
            return None
        finally:
            _guard.active = False

    def flush(self, timeout: float = 10.0, *, final: bool = False) -> bool:
        """Send every digest whose window has ended, then wait (at most ``timeout`` seconds)
        until everything queued is delivered. True when nothing is left.

        ``final=True`` (the process is about to end, e.g. an ASGI lifespan shutdown under
        a server that skips atexit) also sends the counts of windows still open, early, as
        ``close()`` does, while the alerter stays usable."""
        try:
            now = time.time()
            self._emit_due(now)
            if final:
                self._drain(now)
            return self._outbox.flush(timeout, final=final)
        except Exception as error:
            self._internal_error("flush", error)
            return False

    def close(self, timeout: float | None = None) -> bool:
        """Emit pending counts early (in-memory store), flush, stop the worker."""
        if self._closed:
            return True
        timeout = self.shutdown_timeout if timeout is None else timeout
        try:
            now = time.time()
            self._emit_due(now)
            self._drain(now)
            with contextlib.suppress(Exception):
                self._silenced.fold(self._throttle.store, now)
            self._closed = True
            done = self._outbox.close(timeout)
            self._throttle.close()
            if self._spool is not None:
                self._spool.close()  # what is left in it waits for the next run
            return done
        except Exception as error:
            self._closed = True
            self._internal_error("close", error)
            return False
        finally:
            _live_alerters.discard(self)

    def render(self, notice: Notice) -> list[tuple[Channel, Message]]:
        """What ``notice`` becomes on each channel it goes to, rendered as delivery renders
        it (``erralert.testing.capture_alerts`` records these)."""
        indices = range(len(self.channels)) if notice.channels is None else notice.channels
        return [
            (self.channels[i], self._renderer.render(notice, self.channels[i]))
            for i in indices
            if 0 <= i < len(self.channels)
        ]

    @classmethod
    @contextlib.contextmanager
    def recording(
        cls,
        sink_for: Callable[[Alerter], Sink],
        *,
        only: Alerter | None = None,
        store: str | Store | None = None,
    ) -> Iterator[None]:
        """While inside, every alerter (or ``only``) counts its errors in fresh throttle
        state of this block's own — one new in-memory store for the block — and hands each
        notice to its sink, ``sink_for(alerter)`` (asked once per alerter), instead of
        sending it. What the block counted is dropped when it ends: none of it reaches the
        alerter's store, so no digest of it is ever sent. ``store`` (a URL or a Store):
        count there instead, and leave the counts in it (tests of a store's behaviour).
        ``erralert.testing.capture_alerts()`` is built on it."""
        recording: Recording[Alerter] = Recording(sink_for, only, store)
        cls._recordings.append(recording)
        try:
            yield
        finally:
            cls._recordings.remove(recording)
            recording.close(time.time())

    def __enter__(self) -> Alerter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and isinstance(exc, Exception):
            self.capture_exception(exc)
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self.channels)
        return f"<Alerter service={self.service!r} channels=[{names}]>"

    # -- the pipeline ---------------------------------------------------------------------------
    def _capture_exception(
        self,
        exc: BaseException,
        request: RequestLike | None,
        tags: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None,
        level: str,
        logger_name: str | None,
        message: str | None,
    ) -> str | None:
        if already_captured(exc) or self._ignore.matches(type(exc)):
            return None
        now = time.time()

        def build(fingerprint: str) -> Event:
            # a build runs inside the capture, on the app's thread: the span active there
            trace_id, span_id = active_span_ids() or (None, None)
            event = build_exception_event(
                exc,
                level=level,
                message=message,
                include_locals=self.include_locals,
                fingerprint=fingerprint,
                now=now,
                **self._context(request, tags, extra, logger_name),
                trace_id=trace_id,
                span_id=span_id,
            )
            return self._scrubber.event(event)

        return self._decide(
            build,
            lambda: exception_fingerprint(exc),
            now,
            lambda event: Facts.of(event, exc),
            (level, logger_name, tags),
        )

    def _capture_message(
        self,
        text: str,
        level: str,
        request: RequestLike | None,
        tags: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None,
        logger_name: str | None,
        template: str | None,
        culprit: str | None,
    ) -> str | None:
        now = time.time()
        caller = sys._getframe(1)  # the culprit is the innermost in-app frame above it
        # cut before scrubbing: scrubbing a 10 MB message would take seconds on this thread
        text = self._scrubber.text(safe_str(text, say_cut=True))
        grouping = self._scrubber.text(safe_str(template)) if template is not None else text

        def build(fingerprint: str) -> Event:
            trace_id, span_id = active_span_ids() or (None, None)
            event = build_message_event(
                text,
                level=level,
                stack=None if culprit else walk_stack(caller),
                culprit=culprit,
                fingerprint=fingerprint,
                now=now,
                **self._context(request, tags, extra, logger_name),
                trace_id=trace_id,
                span_id=span_id,
            )
            return self._scrubber.event(event)

        def facts(event: Event) -> Facts:
            return Facts.of(event, site=None if culprit else culprit_site(caller))

        return self._decide(
            build,
            lambda: message_fingerprint(grouping, logger_name, level),
            now,
            facts,
            (level, logger_name, tags),
        )

    def _context(
        self,
        request: RequestLike | None,
        tags: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None,
        logger_name: str | None,
    ) -> dict[str, Any]:
        """What every event of this alerter carries besides the error itself."""
        return {
            "request": as_request(request),
            "tags": tags,
            "extra": extra,
            "logger": logger_name,
            "service": self.service,
            "environment": self.environment,
            "release": self.release,
        }

    def _decide(
        self,
        build: Callable[[str], Event],
        default_fingerprint: Callable[[], str],
        now: float,
        facts: Callable[[Event], Facts],
        detail: Detail,
    ) -> str | None:
        event: Event | None = None
        if self._before_send is not None or self._fingerprint is not None:
            # the hooks see every occurrence, so they need the full event every time
            event = build("")
            if self._before_send is not None:
                event = self._before_send(event)
                if event is None:
                    return None
            custom = None
            if self._fingerprint is not None:
                try:
                    custom = self._fingerprint(event)
                except Exception as error:
                    # a broken grouping hook must not cost the alert: default grouping
                    self._internal_error("fingerprint hook", error)
            key = str(custom) if custom else default_fingerprint()
        else:
            key = default_fingerprint()
        # routing: which channels, which window; the throttle counts per error and decision
        decision: Decision | None = None
        seen: Facts | None = None  # read from the event when a decision is made now
        throttle_key, window = key, None
        router = self._router
        if router is not None and self._decisions is not None:
            decision = self._decisions.cached(key, detail)
            if decision is None:
                if event is None:
                    event = build(key)
                seen = facts(event)
                decision = self._decisions.decide(key, detail, seen)
            if decision.silenced:
                # the worker's tick folds the counts into the store, even if nothing is sent
                self._silenced.count(decision)
                self._outbox.start()
                return event.event_id if event is not None else new_event_id()
            throttle_key, window = key + decision.suffix, decision.window
        destination = self._destination()
        throttle = destination.throttle
        hit = throttle.hit(throttle_key, now, window)
        if now - self._ticked > _STARVED_TICK:
            # The worker's 1 s tick is long overdue: its thread is starved (a tight loop of
            # captures holding the GIL). Claim one batch here, so that digests due — and
            # the events they hold — do not pile up in the store meanwhile.
            self._emit_due(now)
        if not hit.alert:
            if throttle.batching:
                # the worker's tick folds this process's counts into the shared store; a
                # process that never sends a message must run it too
                self._outbox.start()
            return event.event_id if event is not None else new_event_id()
        if event is None:
            event = build(key)
        elif event.fingerprint != key:
            event = dataclasses.replace(event, fingerprint=key)
        throttle.put_sample(throttle_key, event)
        self._digests.remember(throttle_key, event)
        is_new = hit.occurrences.is_new
        notice = Notice(
            "alert",
            event,
            hit.occurrences,
            created_at=now,
            mentions=is_new,
            channels=decision.channels if decision is not None else None,
            extra_mentions=router.mentions(decision, (seen or facts(event)).path)
            if router is not None and decision is not None and is_new
            else (),
        )
        destination.sink.submit(notice)
        return event.event_id

    def silenced(self) -> dict[str, Silenced]:
        """Occurrences silenced by routing rules, per rule id (its name, or a digest of its
        text), as the store has them — with a shared store, every process's."""
        try:
            self._silenced.fold(self._throttle.store, time.time())
            return self._throttle.store.silenced()
        except Exception as error:
            self._internal_error("silenced counts", error)
            return {}

    @property
    def outbox(self) -> Outbox:
        """The alerter's delivery worker (a ``Sink``): what it has ``outstanding``, and how
        many messages were ``delivered``, ``failed`` (refused) and ``lost`` (given up)."""
        return self._outbox

    def stats(self) -> Stats:
        """What delivery did since the process started: sent, refused, retried, folded into
        storms, lost and outstanding, per channel and in total (``erralert.Stats``)."""
        return self._outbox.stats()

    @property
    def router(self) -> Router | None:
        """The routing rules and owners, None when there are none."""
        return self._router

    def _emit_due(self, now: float) -> None:
        if self._closed:
            return
        self._ticked = now
        if self._silenced:
            try:
                self._silenced.fold(self._throttle.store, now)
            except Exception as error:
                self._internal_error("silenced counts", error)
        self._digests.claim(self._throttle, now, self._outbox)
        recorded = self._destination()
        if recorded is not self._own:  # a recording's digests go to the recording
            self._digests.claim(recorded.throttle, now, recorded.sink)

    def _drain(self, now: float) -> None:
        """Emit the counts of windows still open, early: the process is about to end."""
        self._digests.emit(self._throttle.drain(now), now, self._outbox)
        recorded = self._destination()
        if recorded is not self._own:
            self._digests.emit(recorded.throttle.drain(now), now, recorded.sink)

    def _destination(self) -> Destination:
        """Where this alerter's errors are counted and its notices go: while a recording
        covers it (the innermost, if several), the recording's throttle and sink — nothing
        recorded is sent —, else its own throttle and outbox."""
        if Alerter._recordings:
            for recording in reversed(list(Alerter._recordings)):
                if recording.covers(self):
                    return recording.destination(self)
        return self._own

    def _internal_error(self, where: str, error: BaseException) -> None:
        """erralert's own failures go to the `erralert` logger, once per interval per kind."""
        self._internal_errors.report(where, error)


_live_alerters: weakref.WeakSet[Alerter] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    # the last errors of a crashing script must still reach chat (bounded wait)
    for alerter in list(_live_alerters):
        alerter.close()

"""The Alerter: capture -> event -> scrub -> fingerprint -> throttle -> (render -> outbox).

Capture is the hot path and runs on the application's threads: it fingerprints the
exception straight from its code objects, asks the throttle, and only for the first
occurrence of a window builds the full event and hands a notice to the outbox. Rendering
and network I/O happen on the outbox's worker thread.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import functools
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import tzinfo
from types import FrameType, TracebackType
from typing import Any, ClassVar

import httpx

from erralert._capture.events import build_exception_event, build_message_event
from erralert._capture.live_frames import innermost_in_app
from erralert._capture.release import detect_release
from erralert._capture.request import request_from_asgi, request_from_wsgi
from erralert._capture.safe_text import safe_str
from erralert._capture.scrub import Scrubber
from erralert._capture.trace import active_span_ids
from erralert._core.errors import ConfigError
from erralert._core.event import Event, Request
from erralert._core.event_origin import new_event_id
from erralert._core.frames import type_names, walk_stack
from erralert._core.links import parse_links
from erralert._core.notice import Notice
from erralert._core.safelog import safe_logger
from erralert._delivery.outbox import Outbox
from erralert._delivery.recording import Recording
from erralert._delivery.spool import Spool
from erralert._grouping.fingerprint import exception_fingerprint, message_fingerprint
from erralert._grouping.throttle import Throttle
from erralert._render.renderer import Renderer
from erralert._routing import Decision, Facts, OwnersSpec, Router, build_router, plan_channels
from erralert._stores import Store, open_store
from erralert._stores.base import Due, Silenced
from erralert.channels.base import Channel, Message
from erralert.channels.console import ConsoleChannel
from erralert.channels.registry import parse_webhook

__all__ = ["Alerter", "RequestLike", "mark_captured", "was_captured"]

logger = safe_logger()

# a Request, an ASGI scope, a WSGI environ, or a function that builds the Request: it is
# called only when the event is built (the first occurrence of a window), not for repeats
RequestLike = Request | Mapping[str, Any] | Callable[[], Request | None]
BeforeSend = Callable[[Event], Event | None]
FingerprintHook = Callable[[Event], str | None]
IgnoreSpec = type[BaseException] | str

_MARK = "__erralert_captured__"
_INTERNAL_LOG_INTERVAL = 60.0
_MAX_AGE = 600.0  # seconds a message is retried without a spool
_SPOOLED_MAX_AGE = 24 * 3600.0  # … and with one
_CLAIM_BATCH = 1000
_STARVED_TICK = 2.0  # seconds without a tick after which a capture claims due digests
_MAX_CLAIMS_PER_TICK = 100
_RECENT_SAMPLES = 256  # events of recent alerts kept in the process (see _remember)
_MAX_DECISIONS = 10_000  # routing decisions kept per process (see _decide)


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
    # alerter one covers counts in the recording's fresh throttle and hands it its notices
    _recordings: ClassVar[list[Recording[Alerter]]] = []

    def __init__(
        self,
        webhooks: Iterable[str | Channel] | str = (),
        *,
        service: str | None = None,
        environment: str | None = None,
        release: str | None = None,
        window: float = 300.0,
        store: str | Store = "memory://",
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
        _check_positive(window=window, timeout=timeout, max_delay=max_delay)
        if max_queue < 1:
            raise ConfigError(f"max_queue must be at least 1, got {max_queue}")
        if isinstance(storm_followups, bool) or not isinstance(storm_followups, int):
            raise ConfigError(f"storm_followups must be an integer, got {storm_followups!r}")
        if storm_followups < 0:
            raise ConfigError(f"storm_followups must be 0 or more, got {storm_followups}")
        for name, hook in (("before_send", before_send), ("fingerprint", fingerprint)):
            if hook is not None and not callable(hook):
                raise ConfigError(f"{name} must be callable, got {type(hook).__name__}")
        self.enabled = bool(enabled)
        self.service = service
        self.environment = environment
        self.release = release if release is not None else detect_release()
        self.window = float(window)
        self.include_locals = include_locals
        self.shutdown_timeout = shutdown_timeout
        self._before_send = before_send
        self._fingerprint = fingerprint
        self._ignore = _IgnoreList(ignore)
        self._scrubber = _scrubber(scrub_keys, scrub_patterns)
        self.channels: tuple[Channel, ...]
        self._router: Router | None = None
        if routes or owners is not None:
            if isinstance(routes, Mapping) or not isinstance(routes, Sequence):
                raise ConfigError(f"routes: expected a list of rules, got {routes!r}")
            plan = plan_channels(_webhook_list(webhooks), routes, parse_webhook)
            router = build_router(routes, owners, plan)
            self.channels = tuple(plan.channels) or _channels(())
            self._router = router if router.active else None
        else:
            self.channels = _channels(webhooks)
        # routing decisions by (fingerprint, and the per-occurrence facts rules look at)
        self._decisions: dict[tuple[object, ...], Decision] = {}
        self._silenced_lock = threading.Lock()
        self._silenced_pending: collections.Counter[str] = collections.Counter()
        self._renderer = Renderer(
            template_dir,
            locale=locale,
            timezone=timezone,
            links=parse_links(links),
            tags_to_show=tags_to_show,
        )
        # as the renderer understood them: "zh" for "zh-CN", a zone's IANA name
        self.locale = self._renderer.locale
        self.timezone = self._renderer.timezone
        for channel in self.channels:
            if channel.options.template:
                try:
                    self._renderer.check(channel.options.template)
                except ConfigError as exc:
                    raise ConfigError(f"{channel.name}: {exc}") from None
        self._throttle = Throttle(
            open_store(store, service=service), self.window, release=self.release
        )
        # the durable outbox: with it, a message is worth retrying for a day, not minutes
        self._spool = Spool(spool) if spool is not None else None
        self._outbox = Outbox(
            self.channels,
            self._renderer.render,
            transport=transport,
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
        # what a previous run left in the spool: outstanding now (a flush waits for it)
        if self._spool is not None and self._outbox.adopt():
            self._outbox.start()
        self._closed = False
        self._internal_errors: dict[str, float] = {}
        self._recent: collections.OrderedDict[str, Event] = collections.OrderedDict()
        self._recent_lock = threading.Lock()
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
                self._fold_silenced(now)
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
        record: Callable[[Alerter, Notice], None],
        *,
        only: Alerter | None = None,
        store: str | Store | None = None,
    ) -> Iterator[None]:
        """While inside, every alerter (or ``only``) counts its errors in fresh throttle
        state of this block's own — one new in-memory store for the block — and hands each
        notice to ``record(alerter, notice)`` instead of sending it. What the block counted
        is dropped when it ends: none of it reaches the alerter's store, so no digest of it
        is ever sent. ``store`` (a URL or a Store): count there instead, and leave the
        counts in it (tests of a store's behaviour). ``erralert.testing.capture_alerts()``
        is built on it."""
        recording: Recording[Alerter] = Recording(record, only, store)
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
        if _already_captured(exc) or self._ignore.matches(type(exc)):
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
            return Facts.of(event, site=None if culprit else _culprit_site(caller))

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
            "request": _as_request(request),
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
        detail: tuple[str, str | None, Mapping[str, Any] | None],
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
        if router is not None:
            cache_key = self._decision_key(router, key, detail)
            decision = self._decisions.get(cache_key)
            if decision is None:
                if event is None:
                    event = build(key)
                seen = facts(event)
                decision = router.decide(seen)
                if len(self._decisions) >= _MAX_DECISIONS:
                    self._decisions.clear()
                self._decisions[cache_key] = decision
            if decision.silenced:
                self._silence(decision)
                return event.event_id if event is not None else new_event_id()
            throttle_key, window = key + decision.suffix, decision.window
        throttle, deliver = self._sink()
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
        self._remember(throttle_key, event)
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
        deliver(notice)
        return event.event_id

    @staticmethod
    def _decision_key(
        router: Router, key: str, detail: tuple[str, str | None, Mapping[str, Any] | None]
    ) -> tuple[object, ...]:
        """A decision's cache key: the fingerprint and the per-occurrence facts the rules
        look at (the rest — type, culprit, route — comes with the fingerprint)."""
        level, logger_name, tags = detail
        parts: list[object] = [key]
        if router.uses_level:
            parts.append(level)
        if router.uses_logger:
            parts.append(logger_name)
        if router.tag_keys:
            given = tags or {}
            parts.extend(str(given[k]) if k in given else None for k in router.tag_keys)
        return tuple(parts)

    def _silence(self, decision: Decision) -> None:
        """Count an occurrence a rule silenced; the worker's tick folds the counts into
        the store (where ``erralert check`` reads them)."""
        with self._silenced_lock:
            for rule in decision.rules:
                if rule.silences:
                    self._silenced_pending[rule.id] += 1
        self._outbox.start()  # its tick folds the counts, even if nothing is ever sent

    def _fold_silenced(self, now: float) -> None:
        with self._silenced_lock:
            pending, self._silenced_pending = self._silenced_pending, collections.Counter()
        if not pending:
            return
        try:
            self._throttle.store.count_silenced(pending, now)
        except Exception:
            with self._silenced_lock:  # kept for the next tick rather than lost
                self._silenced_pending.update(pending)
            raise

    def silenced(self) -> dict[str, Silenced]:
        """Occurrences silenced by routing rules, per rule id (its name, or a digest of its
        text), as the store has them — with a shared store, every process's."""
        try:
            self._fold_silenced(time.time())
            return self._throttle.store.silenced()
        except Exception as error:
            self._internal_error("silenced counts", error)
            return {}

    @property
    def router(self) -> Router | None:
        """The routing rules and owners, None when there are none."""
        return self._router

    def _emit_due(self, now: float) -> None:
        if self._closed:
            return
        self._ticked = now
        if self._silenced_pending:
            try:
                self._fold_silenced(now)
            except Exception as error:
                self._internal_error("silenced counts", error)
        # Claim in batches until the store has nothing due: digests waiting in the store
        # hold their sample events, and a storm of distinct errors can make them due faster
        # than one batch a second (every eviction from a full memory store makes one).
        # Bounded, so that one tick cannot run forever against a store that keeps giving.
        sinks: list[tuple[Throttle, Callable[[Notice], None]]] = [
            (self._throttle, self._outbox.submit)
        ]
        recorded = self._sink()
        if recorded[0] is not self._throttle:  # a recording's digests go to the recording
            sinks.append(recorded)
        for throttle, deliver in sinks:
            for _ in range(_MAX_CLAIMS_PER_TICK):
                dues = throttle.due(now, _CLAIM_BATCH)
                self._emit(dues, now, deliver)
                if len(dues) < _CLAIM_BATCH:
                    break

    def _drain(self, now: float) -> None:
        """Emit the counts of windows still open, early: the process is about to end."""
        self._emit(self._throttle.drain(now), now, self._outbox.submit)
        throttle, deliver = self._sink()
        if throttle is not self._throttle:
            self._emit(throttle.drain(now), now, deliver)

    def _sink(self) -> tuple[Throttle, Callable[[Notice], None]]:
        """Where this alerter's errors are counted and its notices go: while a recording
        covers it (the innermost, if several), the recording's throttle and recorder —
        nothing recorded is sent —, else its own throttle and outbox."""
        if Alerter._recordings:
            for recording in reversed(list(Alerter._recordings)):
                if recording.covers(self):
                    return recording.throttle(self), functools.partial(recording.record, self)
        return self._throttle, self._outbox.submit

    def _emit(self, dues: Sequence[Due], now: float, deliver: Callable[[Notice], None]) -> None:
        router = self._router
        for due in dues:
            # routed errors' keys carry their rules: the digest goes where the alert went,
            # whichever process decided it
            fingerprint, decision = router.for_key(due.key) if router else (due.key, None)
            # the sample can be lost (evicted, never stored, or the store was down when it
            # was sent): this process may still have it; else still report the count
            event = (
                due.sample
                or self._recent.get(due.key)
                or build_message_event(
                    f"error {fingerprint[:12]}",
                    now=due.occurrences.last_seen,
                    fingerprint=fingerprint,
                    **self._context(None, None, None, None),
                )
            )
            channels = decision.channels if decision is not None else None
            deliver(Notice("digest", event, due.occurrences, created_at=now, channels=channels))

    def _remember(self, key: str, event: Event) -> None:
        """Keep the last events this process alerted, for digests whose store lost theirs."""
        with self._recent_lock:
            self._recent[key] = event
            self._recent.move_to_end(key)
            while len(self._recent) > _RECENT_SAMPLES:
                self._recent.popitem(last=False)

    def _internal_error(self, where: str, error: BaseException) -> None:
        """erralert's own failures go to the `erralert` logger, once per interval per kind."""
        key = f"{where}:{type(error).__name__}"
        now = time.monotonic()
        if now - self._internal_errors.get(key, -_INTERNAL_LOG_INTERVAL) < _INTERNAL_LOG_INTERVAL:
            return
        self._internal_errors[key] = now
        logger.error("erralert: %s failed: %s: %s", where, type(error).__name__, error)


# -- helpers -----------------------------------------------------------------------------------
def _named(cls: type, names: set[str]) -> bool:
    # type_names: a metaclass may make `cls.__module__` raise; matching must not
    qualname, module = type_names(cls)
    return f"{module}.{qualname}" in names or qualname in names


def _scrubber(keys: Iterable[str], patterns: Iterable[str | re.Pattern[str]]) -> Scrubber:
    """The scrubber of ``scrub_keys`` and ``scrub_patterns``; a pattern that cannot work is
    a configuration error naming it."""
    # one string would be read as its characters: a pattern per letter
    for name, value in (("scrub_keys", keys), ("scrub_patterns", patterns)):
        if isinstance(value, str | re.Pattern):
            raise ConfigError(f"{name} must be a list, got a single {value!r}")
    checked: list[str | re.Pattern[str]] = []
    for pattern in patterns:
        try:
            Scrubber(extra_patterns=[pattern])
        except (re.error, ValueError, TypeError) as exc:
            shown = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            raise ConfigError(f"scrub_patterns: {shown!r} {exc}") from None
        checked.append(pattern)
    return Scrubber(keys, checked)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")


def _webhook_list(webhooks: Iterable[str | Channel] | str) -> list[str | Channel]:
    if isinstance(webhooks, str):
        from erralert._core.config import split_webhooks

        return list(split_webhooks(webhooks))
    return list(webhooks)


def _culprit_site(caller: FrameType) -> tuple[str, str] | None:
    """(module, file) of the culprit frame of a message's caller stack (the frame its
    event's culprit names)."""
    found = innermost_in_app(walk_stack(caller))
    if found is None:
        return None
    module = found[0].f_globals.get("__name__")
    return (module if isinstance(module, str) else "", found[0].f_code.co_filename)


def _channels(webhooks: Iterable[str | Channel] | str) -> tuple[Channel, ...]:
    channels: list[Channel] = []
    for spec in _webhook_list(webhooks):
        if isinstance(spec, Channel):
            channels.append(spec)
        elif isinstance(spec, str):
            channels.append(parse_webhook(spec))
        else:
            raise ConfigError(f"webhooks: expected URL strings or channels, got {spec!r}")
    if not channels:
        _warn_console_once()
        channels.append(ConsoleChannel("console://"))
    return tuple(channels)


_console_warned = False


def _warn_console_once() -> None:
    global _console_warned
    if not _console_warned:
        _console_warned = True
        logger.warning(
            "erralert: no webhooks configured (ERRALERT_WEBHOOKS or webhooks=); alerts go to stderr"
        )


def _already_captured(exc: BaseException) -> bool:
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


def _as_request(request: RequestLike | None) -> Request | None:
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


class _IgnoreList:
    """``ignore=``: classes (subclasses match) or dotted names, decided once per type."""

    def __init__(self, specs: Iterable[IgnoreSpec]) -> None:
        self._classes: list[type[BaseException]] = []
        self._names: set[str] = set()
        for spec in specs:
            if isinstance(spec, str):
                self._names.add(spec)
            elif isinstance(spec, type) and issubclass(spec, BaseException):
                self._classes.append(spec)
            else:
                raise ConfigError(f"ignore: expected exception classes or names, got {spec!r}")
        self._cache: dict[type[BaseException], bool] = {}

    def matches(self, cls: type[BaseException]) -> bool:
        try:
            return self._cache[cls]
        except KeyError:
            pass
        hit = any(issubclass(cls, c) for c in self._classes) or any(
            _named(k, self._names) for k in cls.__mro__
        )
        if len(self._cache) < 10_000:
            self._cache[cls] = hit
        return hit


_live_alerters: weakref.WeakSet[Alerter] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    # the last errors of a crashing script must still reach chat (bounded wait)
    for alerter in list(_live_alerters):
        alerter.close()

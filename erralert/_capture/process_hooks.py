"""Uncaught exceptions of a process — its main thread, other threads, asyncio — as events.

The machinery behind ``erralert.init(excepthooks=True)`` and
:mod:`erralert.integrations.excepthook` (whose docstring says what is reported and what is
not). It reports to a *target*, a callable asked for the alerter when an error happens, so
it needs nothing of the default alerter's module, which installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

__all__ = [
    "CapturesExceptions",
    "Target",
    "install",
    "installed_target",
    "report_asyncio",
    "uninstall",
]


class CapturesExceptions(Protocol):
    """What the hooks report to: an alerter."""

    def capture_exception(
        self,
        exc: BaseException | None = None,
        *,
        level: str = ...,
        tags: Mapping[str, Any] | None = ...,
        extra: Mapping[str, Any] | None = ...,
    ) -> str | None: ...


# Which alerter to report to, asked when an error happens (the default alerter may be
# built, replaced or broken after the hooks went in); None: report nothing
Target = Callable[[], CapturesExceptions | None]

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]
ThreadingHook = Callable[[threading.ExceptHookArgs], Any]
LoopHandler = Callable[[asyncio.BaseEventLoop, dict[str, Any]], None]

_NOT_ERRORS = (KeyboardInterrupt, SystemExit)
# the class whose method install() replaces (typed Any: mypy forbids assigning to methods)
_LOOP_CLASS: Any = asyncio.BaseEventLoop


class _Hooks:
    """One installation: its target, the hooks it replaced and the ones it put in place.
    An uninstalled one stays a pass-through where it cannot be unhooked (another hook
    was installed over it and calls it)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.active = True
        self.previous_excepthook: ExceptHook = sys.excepthook
        self.previous_threading: ThreadingHook = threading.excepthook
        self.previous_loop_handler: LoopHandler = _LOOP_CLASS.call_exception_handler
        self.excepthook = self._make_excepthook()
        self.threading_hook = self._make_threading_hook()
        self.loop_handler = self._make_loop_handler()

    def report(
        self,
        exc: BaseException,
        level: str,
        tags: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if self.active:
            _report(self.target, exc, level, tags, extra)

    def _make_excepthook(self) -> ExceptHook:
        def excepthook(
            exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> Any:
            # the interactive prompt reports each failed statement here too: no crash
            if isinstance(exc, BaseException) and not hasattr(sys, "ps1"):
                with contextlib.suppress(Exception):  # the previous hook must run
                    if exc.__traceback__ is None and tb is not None:
                        exc = exc.with_traceback(tb)
                    self.report(exc, "fatal")
            return self.previous_excepthook(exc_type, exc, tb)

        return excepthook

    def _make_threading_hook(self) -> ThreadingHook:
        def threading_hook(args: threading.ExceptHookArgs) -> Any:
            exc = args.exc_value
            if isinstance(exc, BaseException):
                with contextlib.suppress(Exception):
                    name = args.thread.name if args.thread is not None else None
                    self.report(exc, "error", tags={"thread": name} if name else None)
            return self.previous_threading(args)

        return threading_hook

    def _make_loop_handler(self) -> LoopHandler:
        def call_exception_handler(loop: asyncio.BaseEventLoop, context: dict[str, Any]) -> None:
            if self.active:
                with contextlib.suppress(Exception):
                    report_asyncio(context, self.target)
            self.previous_loop_handler(loop, context)

        return call_exception_handler


_lock = threading.Lock()
_installed: _Hooks | None = None


def install(target: Target) -> None:
    """Report uncaught exceptions of the main thread, of other threads and of asyncio to
    the alerter ``target()`` gives when an error happens. Installing again only changes
    the target: the hooks are not chained twice."""
    global _installed
    with _lock:
        if _installed is not None:
            _installed.target = target
            return
        hooks = _Hooks(target)
        sys.excepthook = hooks.excepthook
        threading.excepthook = hooks.threading_hook
        # a class attribute: every loop of the standard library, running or future, and
        # no event loop policy involved (a policy only decides which loops get created)
        _LOOP_CLASS.call_exception_handler = hooks.loop_handler
        _installed = hooks


def uninstall() -> None:
    """Restore the hooks ``install()`` replaced. A hook installed over erralert's since then
    keeps working: erralert's, which it calls, just passes through."""
    global _installed
    with _lock:
        hooks, _installed = _installed, None
        if hooks is None:
            return
        hooks.active = False
        if sys.excepthook is hooks.excepthook:
            sys.excepthook = hooks.previous_excepthook
        if threading.excepthook is hooks.threading_hook:
            threading.excepthook = hooks.previous_threading
        if _LOOP_CLASS.call_exception_handler is hooks.loop_handler:
            _LOOP_CLASS.call_exception_handler = hooks.previous_loop_handler


def installed_target() -> Target | None:
    """Where the installed hooks report, if they are installed."""
    hooks = _installed
    return hooks.target if hooks is not None else None


def _report(
    target: Target,
    exc: BaseException,
    level: str,
    tags: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
) -> None:
    if not _is_error(exc):
        return
    alerter = target()
    if alerter is not None:
        alerter.capture_exception(exc, level=level, tags=tags, extra=extra)


def report_asyncio(context: Mapping[str, Any], target: Target) -> None:
    """Report the exception of an asyncio exception handler's ``context``, if it is one
    (a cancellation or a context without an exception is asyncio's to log)."""
    exc = context.get("exception")
    if not isinstance(exc, BaseException) or isinstance(exc, asyncio.CancelledError):
        return  # "Task was destroyed but it is pending!" & co.: asyncio logs them
    tags: dict[str, Any] = {}
    task = context.get("task") or context.get("future")
    get_name = getattr(task, "get_name", None)
    if callable(get_name):
        tags["asyncio_task"] = get_name()
    extra = {"asyncio": context.get("message")} if context.get("message") else None
    _report(target, exc, "error", tags, extra)


def _is_error(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        # a group is an error when a leaf other than a requested stop is in it
        try:
            return exc.subgroup(_is_error_leaf) is not None
        except Exception:
            return True
    return not isinstance(exc, _NOT_ERRORS)


def _is_error_leaf(exc: BaseException) -> bool:
    return not isinstance(exc, (BaseExceptionGroup, *_NOT_ERRORS))

"""Uncaught exceptions of scripts, cron jobs, threads and asyncio tasks to chat.

    erralert.init(excepthooks=True)

or, with an alerter of your own, ``erralert.integrations.excepthook.install(alerter)``.

``install()`` puts erralert in front of three hooks, each CHAINED to the hook it replaces
(which still runs: the traceback is still printed, a custom hook still sees everything);
``uninstall()`` restores them:

* ``sys.excepthook`` — an exception that ends the main thread, i.e. the script (level
  ``fatal``). Not for an exception typed at the interactive prompt, which ends nothing.
* ``threading.excepthook`` — an exception that ends any other thread (tag ``thread``).
* asyncio — ``call_exception_handler`` of every event loop built on
  ``asyncio.BaseEventLoop`` (all of the standard library's loops: running ones and those
  created later, whatever the event loop policy, with or without a custom handler set by
  ``loop.set_exception_handler``, which still runs afterwards). That is where asyncio
  reports what nobody awaited: a task that failed and was never awaited ("Task exception
  was never retrieved"), an exception in a ``call_soon``/``call_later`` callback, a task
  that failed while ``asyncio.run()`` shut down (tag ``asyncio_task``, the message in
  ``extra``). An exception of the coroutine given to ``asyncio.run()`` is not one of them:
  it propagates, and ends the script through ``sys.excepthook``. Loops that do not derive
  from ``BaseEventLoop`` (uvloop) are not patched: give them
  ``loop.set_exception_handler(asyncio_handler)``.

Never alerted: ``KeyboardInterrupt`` and ``SystemExit`` (a requested stop, not an error;
also inside an exception group made only of them) and ``asyncio.CancelledError``. Not seen
at all: what something catches on the way — an exception kept in a
``concurrent.futures.Future``, a ``multiprocessing`` child's (its bootstrap prints it), a web
framework's 500 (use its integration), an exception in ``__del__`` (``sys.unraisablehook``).

The alert is queued at once; erralert's atexit hook delivers it (bounded by the alerter's
``shutdown_timeout``) before the process ends, after the traceback is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from erralert._alerter import Alerter
from erralert._default import resolve

__all__ = ["asyncio_handler", "install", "uninstall"]

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]
ThreadingHook = Callable[[threading.ExceptHookArgs], Any]
LoopHandler = Callable[[asyncio.BaseEventLoop, dict[str, Any]], None]

_NOT_ERRORS = (KeyboardInterrupt, SystemExit)
# the class whose method install() replaces (typed Any: mypy forbids assigning to methods)
_LOOP_CLASS: Any = asyncio.BaseEventLoop


class _Hooks:
    """One installation: the alerter, the hooks it replaced and the ones it put in place.
    An uninstalled one stays a pass-through where it cannot be unhooked (another hook
    was installed over it and calls it)."""

    def __init__(self, alerter: Alerter | None) -> None:
        self.alerter = alerter
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
            _report(self.alerter, exc, level, tags, extra)

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
                    _report_asyncio(self.alerter, context)
            self.previous_loop_handler(loop, context)

        return call_exception_handler


_lock = threading.Lock()
_installed: _Hooks | None = None


def install(alerter: Alerter | None = None) -> None:
    """Report uncaught exceptions of the main thread, of other threads and of asyncio to
    ``alerter`` (default: the default alerter, resolved when an error happens). Installing
    again only changes the alerter: the hooks are not chained twice."""
    global _installed
    with _lock:
        if _installed is not None:
            _installed.alerter = alerter
            return
        hooks = _Hooks(alerter)
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


def asyncio_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An exception handler for ``loop.set_exception_handler`` (for loops ``install()``
    does not patch, e.g. uvloop): reports the context's exception, then lets the loop's
    default handler log it as usual."""
    hooks = _installed
    with contextlib.suppress(Exception):
        _report_asyncio(hooks.alerter if hooks is not None else None, context)
    loop.default_exception_handler(context)


def _report(
    alerter: Alerter | None,
    exc: BaseException,
    level: str,
    tags: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
) -> None:
    if not _is_error(exc):
        return
    resolved = resolve(alerter)
    if resolved is not None:
        resolved.capture_exception(exc, level=level, tags=tags, extra=extra)


def _report_asyncio(alerter: Alerter | None, context: Mapping[str, Any]) -> None:
    exc = context.get("exception")
    if not isinstance(exc, BaseException) or isinstance(exc, asyncio.CancelledError):
        return  # "Task was destroyed but it is pending!" & co.: asyncio logs them
    tags: dict[str, Any] = {}
    task = context.get("task") or context.get("future")
    get_name = getattr(task, "get_name", None)
    if callable(get_name):
        tags["asyncio_task"] = get_name()
    extra = {"asyncio": context.get("message")} if context.get("message") else None
    _report(alerter, exc, "error", tags, extra)


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

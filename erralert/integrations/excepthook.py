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
from typing import Any

from erralert._alerter.alerter import Alerter
from erralert._capture import process_hooks
from erralert._default import resolve

__all__ = ["asyncio_handler", "install", "uninstall"]


def install(alerter: Alerter | None = None) -> None:
    """Report uncaught exceptions of the main thread, of other threads and of asyncio to
    ``alerter`` (default: the default alerter, resolved when an error happens). Installing
    again only changes the alerter: the hooks are not chained twice."""
    process_hooks.install(lambda: resolve(alerter))


def uninstall() -> None:
    """Restore the hooks ``install()`` replaced. A hook installed over erralert's since then
    keeps working: erralert's, which it calls, just passes through."""
    process_hooks.uninstall()


def asyncio_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An exception handler for ``loop.set_exception_handler`` (for loops ``install()``
    does not patch, e.g. uvloop): reports the context's exception, then lets the loop's
    default handler log it as usual."""
    with contextlib.suppress(Exception):
        target = process_hooks.installed_target() or (lambda: resolve(None))
        process_hooks.report_asyncio(context, target)
    loop.default_exception_handler(context)

"""Deliver what is queued when a server is told to stop, under servers that end the process
without running exit hooks.

uvicorn answers SIGTERM by shutting down, restoring the handler it found (the default one)
and raising the signal again: the process dies of it, so erralert's ``atexit`` hook never
runs. An app with an ASGI lifespan flushes at its end (``erralert.integrations.asgi``);
Django's ASGI handler supports no lifespan, so nothing else would deliver what is still
queued, nor the repeats counted in windows still open.

:func:`flush_on_stop_signals` chains a handler in front of the server's own, never instead
of it: on the signal, a thread delivers what the alerter holds (its ``shutdown_timeout`` at
most) while the event loop keeps serving, then the signal is handed to the server's handler
on the loop, exactly as the server would have received it. So the server starts its own
shutdown at most ``shutdown_timeout`` late, only while a delivery is stuck, and a second
signal during the flush is handed over at once (an operator who insists is not kept
waiting). What fails to arrive in time is named in a warning instead of vanishing.
Errors raised after the hand-over, while uvicorn drains its last requests, are counted but
not delivered: the process ends right after.

Only SIGTERM by default: uvicorn hands SIGINT back to asyncio's handler, whose
KeyboardInterrupt runs the exit hooks (a flush here would only wait twice). Only a handler
that a server installed in Python is chained: with the default action the process has no
server to hand over to, and Python's own SIGINT handler unwinds through the exit hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, TypeGuard

from erralert import _default as defaults
from erralert._alerter.alerter import Alerter
from erralert._core.safelog import safe_logger

__all__ = ["flush_on_stop_signals"]

logger = safe_logger()

Handler = Callable[[int, FrameType | None], Any]


def flush_on_stop_signals(
    alerter: Alerter | None = None, signals: Iterable[int] = (signal.SIGTERM,)
) -> list[int]:
    """Chain a flush of ``alerter`` (None: the default alerter, whichever it is when the
    signal comes) in front of the handler the server installed for each of ``signals``.
    Returns the signals chained now. Safe to call again: a signal already chained, or whose
    handler is not a server's, is left alone. Only the main thread can set handlers; from
    any other thread nothing happens."""
    if threading.current_thread() is not threading.main_thread():
        return []
    chained: list[int] = []
    relay = _Relay(alerter)
    for signum in signals:
        current = signal.getsignal(signum)
        if isinstance(current, _Relay) or not _is_server_handler(current):
            continue
        relay.previous[signum] = current
        signal.signal(signum, relay)
        chained.append(signum)
    return chained


def _is_server_handler(handler: object) -> TypeGuard[Handler]:
    # SIG_DFL, SIG_IGN (ints), None (set outside Python): no server to hand over to;
    # default_int_handler raises KeyboardInterrupt, which runs the exit hooks
    return callable(handler) and handler is not signal.default_int_handler


class _Relay:
    """The chained handler: flush off the loop, then hand each signal to the server."""

    # Its state changes only on the main thread (signal handlers and the loop's callbacks
    # run there; the flush thread touches none of it), so it needs no lock — a lock taken
    # by a handler that interrupted its own thread holding it would deadlock.
    def __init__(self, alerter: Alerter | None) -> None:
        self.alerter = alerter
        self.previous: dict[int, Handler] = {}
        self._flushing = False
        self._held: list[tuple[int, FrameType | None]] = []  # signals held during the flush

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self._held.append((signum, frame))
        if self._flushing:
            self._hand_over()  # a signal during the flush: the server gets them all, now
            return
        self._flushing = True
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            try:
                threading.Thread(
                    target=self._flush_then_hand_over,
                    args=(signum, loop),
                    name="erralert-stop-signal-flush",
                    daemon=True,
                ).start()
                return
            except RuntimeError:  # no new thread (a thread limit): the server must still stop
                pass
        # no event loop serves on this thread (or no thread to flush in): flush here, then
        # hand over
        self._flush(signum)
        self._finish()

    def _flush_then_hand_over(self, signum: int, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._flush(signum)
        finally:
            # a closed loop: the server has stopped already, there is no one to hand over to
            with contextlib.suppress(RuntimeError):
                # on the loop's thread, the main one, where the server expects its handler
                loop.call_soon_threadsafe(self._finish)

    def _flush(self, signum: int) -> None:
        alerter = self.alerter if self.alerter is not None else defaults.current()
        if alerter is None or alerter.flush(alerter.shutdown_timeout, final=True):
            return
        logger.warning(
            "erralert: %s: messages still undelivered after %.1f s; the server stops now, "
            "and they are lost if it ends the process without running exit hooks",
            signal.Signals(signum).name,
            alerter.shutdown_timeout,
        )

    def _finish(self) -> None:
        self._flushing = False
        self._hand_over()

    def _hand_over(self) -> None:
        while self._held:  # pop one by one: a signal may interrupt this loop and add one
            signum, frame = self._held.pop(0)
            self.previous[signum](signum, frame)

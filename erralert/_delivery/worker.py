"""The delivery worker's thread: one per outbox and process, started on the first message.

It runs an asyncio loop (made by the outbox's clock) so that every channel has its own
lane. Capture threads never wait for it: they wake its loop, once per batch of messages.
After ``fork()`` the child starts a fresh worker on its first message; at interpreter exit,
if no thread can be started any more (Python 3.12+ refuses new threads during shutdown),
the same loop runs inline in the exiting thread for a bounded time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from erralert._core.safelog import safe_logger
from erralert._delivery.clock import Clock

__all__ = ["Serve", "Worker"]

logger = safe_logger()

# the loop's work: run until stopped, or (inline) until idle or the deadline (monotonic)
Serve = Callable[[asyncio.Event, "float | None"], Coroutine[Any, Any, None]]


class Worker:
    """Starts, wakes and stops the thread that runs ``serve(wake, deadline)`` on a loop of
    ``clock``'s; ``forget`` drops its owner's state in a forked child."""

    def __init__(self, serve: Serve, clock: Clock, forget: Callable[[], None]) -> None:
        self._serve = serve
        self._clock = clock
        self._forget = forget
        self._lock = threading.Lock()
        self._reset()
        _live_workers.add(self)

    def _reset(self) -> None:
        # everything a forked child must not share with its parent
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._poke_pending = False  # a wake-up is scheduled on the loop
        self.stopping = False
        self._pid = os.getpid()

    def after_fork(self) -> None:
        """In a forked child: no thread, no loop, nothing owed."""
        self._reset()
        self._forget()

    def forked(self) -> bool:
        """Forked without the at-fork hook (e.g. os.fork in C)."""
        return self._pid != os.getpid()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_current(self) -> bool:
        """Whether this is the worker's thread (which cannot wait for itself)."""
        return threading.current_thread() is self._thread

    def ensure(self) -> None:
        """Start the thread unless it runs (or the worker is stopping). Never raises."""
        if self.alive() or self.stopping:
            return
        with self._lock:
            if self.alive():
                return
            thread = threading.Thread(target=self._thread_main, name="erralert-outbox", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # interpreter shutdown: flush()/close() will deliver inline instead
                return
            self._thread = thread

    def poke(self) -> None:
        """Wake the loop (any thread)."""
        # One wake-up in flight is enough: the loop routes everything in the inbox when it
        # runs. Without this, a storm of captures would queue a callback (and write to the
        # loop's self-pipe) per message while the worker is busy.
        if self._poke_pending:
            return
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            self._poke_pending = True
            try:
                loop.call_soon_threadsafe(self._woken, wake)
            except RuntimeError:  # loop closed meanwhile
                self._poke_pending = False

    def stop(self, timeout: float) -> None:
        """Stop the loop, and wait at most ``timeout`` seconds for the thread to end."""
        self.stopping = True
        self.poke()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def run_inline(self, deadline: float) -> None:
        """Deliver in the calling thread until idle or ``deadline`` (monotonic)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._run(deadline)
        else:  # called from inside a running loop: it cannot be blocked to deliver
            logger.warning("erralert: cannot deliver inline from a running event loop")

    def _woken(self, wake: asyncio.Event) -> None:
        self._poke_pending = False  # first: a message submitted from now on pokes again
        wake.set()

    def _thread_main(self) -> None:
        try:
            self._run(None)
        except Exception:  # the worker must never take the app down with it
            logger.exception("erralert: delivery worker stopped")

    def _run(self, deadline: float | None) -> None:
        with asyncio.Runner(loop_factory=self._clock.new_loop) as runner:
            runner.run(self._main(deadline))

    async def _main(self, deadline: float | None) -> None:
        wake = asyncio.Event()
        self._wake = wake
        self._poke_pending = False  # a wake-up scheduled on a previous loop never ran
        self._loop = asyncio.get_running_loop()
        try:
            await self._serve(wake, deadline)
        finally:
            self._loop = None


_live_workers: weakref.WeakSet[Worker] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for worker in list(_live_workers):
        worker.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""Recording notices instead of sending them: the seam under ``erralert.testing``.

A test that checks "this request alerts" must see the alert in every test that provokes
it, not only in the first one of the process, and must never post anything to a real
chat. So a recording counts the errors of the alerters it covers in throttle state of its
own — a new in-memory store, shared by those alerters as alerters sharing one store
would — and hands their notices to its sink (one per alerter) rather than to the outbox.
When the recording ends, that state is dropped with it: the counts never reach the alerter's own
store, so no digest of them can be sent later (at exit, say). A recording given a store of
the caller's (a test of a store's own behaviour) counts there instead, and leaves what it
counted in it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from erralert._delivery.sink import Sink
from erralert._grouping.throttle import Throttle
from erralert._stores import Store, open_store
from erralert._stores.memory import MemoryStore

__all__ = ["Destination", "Recorded", "Recording"]


class Recorded(Protocol):
    """What a recording needs of an alerter: the window and release it counts with."""

    @property
    def window(self) -> float: ...

    @property
    def release(self) -> str | None: ...


R = TypeVar("R", bound=Recorded)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an alerter counts its errors and what takes its notices."""

    throttle: Throttle
    sink: Sink


class Recording(Generic[R]):
    """Fresh throttle state and a sink (``sink_for(alerter)``) for every alerter it covers
    (each one, or ``only``); ``store``: count there instead of in a new in-memory store."""

    def __init__(
        self,
        sink_for: Callable[[R], Sink],
        only: R | None = None,
        store: str | Store | None = None,
    ) -> None:
        self._sink_for = sink_for
        self._only = only
        # a store given as an object is the caller's to close; one opened here is not
        self._owned = not isinstance(store, Store)
        self._store: Store = MemoryStore() if store is None else open_store(store)
        self._lock = threading.Lock()
        # per alerter: its window and release, over the recording's one store; its sink
        self._destinations: weakref.WeakKeyDictionary[R, Destination] = weakref.WeakKeyDictionary()

    def covers(self, alerter: R) -> bool:
        return self._only is None or alerter is self._only

    def destination(self, alerter: R) -> Destination:
        """Where ``alerter`` counts and what takes its notices while recorded."""
        with self._lock:
            destination = self._destinations.get(alerter)
            if destination is None:
                throttle = Throttle(self._store, alerter.window, release=alerter.release)
                destination = Destination(throttle, self._sink_for(alerter))
                self._destinations[alerter] = destination
            return destination

    def close(self, now: float) -> None:
        """Drop the recording's throttles: what a fresh store counted is never sent; a
        given store keeps every count (those batched in the process folded in first)."""
        with self._lock:
            throttles = [d.throttle for d in self._destinations.values()]
            self._destinations.clear()
        try:
            for throttle in throttles:
                throttle.fold(now)
        finally:
            if self._owned:
                self._store.close()

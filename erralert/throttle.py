"""The dedup window of one fingerprint, written once for every store, and ``Throttle``.

The semantics (see ``erralert.stores.base``) live in ``WindowSlot``, a small mutable
record that the in-memory store keeps per fingerprint and updates in place (its hot path
must not build a new frozen record per repeat). Stores that persist state — SQLite, Redis —
use the pure functions ``record``, ``settle`` and ``cut`` over the frozen ``WindowState``
instead; those are thin wrappers around ``WindowSlot``, so every store answers the same.

Per fingerprint, window ``W``:

* no window open at ``now`` (never seen, or the last window closed) → a window
  ``[now, now + W)`` opens and the occurrence is alerted;
* an occurrence inside the open window is a repeat: counted, histogram bucket bumped;
* a window that ended with repeats yields one digest, and the next window opens at once
  where it ended (length ``W``, empty), so a continuing error yields one digest per window;
* a window that ended without repeats closes silently; the next occurrence is alerted
  again (``is_new=False``).

Settling is lazy: nothing happens when a window ends, only when the state is next touched
(an occurrence, a ``claim_due``). Since the window that opens after a digest starts empty,
one settle yields at most one digest however many windows have elapsed.

Windows are half-open: an occurrence exactly at ``window_end`` belongs to the next window.
"""

from __future__ import annotations

from dataclasses import dataclass

from erralert.event import Event
from erralert.notice import Occurrences
from erralert.stores.base import Due, Hit, Store

__all__ = [
    "BUCKETS",
    "REPEAT",
    "Throttle",
    "WindowSlot",
    "WindowState",
    "cut",
    "record",
    "settle",
]

BUCKETS = 10  # the histogram has one bucket per tenth of the window

# The answer to every repeat. A repeat sends nothing, so its figures would only be read to
# be thrown away, and building a frozen Occurrences costs more than the rest of a hit; the
# figures arrive with the window's digest instead. Compare with `hit.alert`, not identity.
REPEAT = Hit(
    alert=False,
    occurrences=Occurrences(
        count=0, total=0, first_seen=0.0, last_seen=0.0, window=0.0, is_new=False
    ),
)


@dataclass(frozen=True, slots=True)
class WindowState:
    """What a store keeps per fingerprint (the frozen form, for stores that persist it).

    The window ``[window_start, window_end)`` is open while ``now < window_end``; a state
    whose window has ended with ``count == 0`` is closed. ``window_end`` is earlier than
    ``window_start + window`` only for a window cut short by ``cut`` (then closed)."""

    window: float  # length W of the current window, seconds
    window_start: float
    window_end: float
    count: int  # repeats in the window (the alerted occurrence that opened it is not one)
    first_seen: float  # first repeat in the window (meaningless while count == 0)
    last_seen: float  # last repeat in the window (meaningless while count == 0)
    total: int  # every occurrence ever recorded for this fingerprint
    histogram: tuple[int, ...]  # BUCKETS ints: repeats per tenth of `window` from its start

    def is_open(self, now: float) -> bool:
        return now < self.window_end

    @property
    def due_at(self) -> float | None:
        """When this state's digest becomes due: the window's end if it holds repeats."""
        return self.window_end if self.count > 0 else None


class WindowSlot:
    """The mutable twin of ``WindowState`` — the one implementation of the semantics.

    Not thread-safe: the store that owns it serialises access (the memory store holds its
    lock around every call)."""

    __slots__ = (
        "count",
        "first_seen",
        "histogram",
        "last_seen",
        "total",
        "window",
        "window_end",
        "window_start",
    )

    def __init__(self) -> None:
        # a fingerprint never seen: no window, so the first occurrence opens one
        self.window = 0.0
        self.window_start = float("-inf")
        self.window_end = float("-inf")
        self.count = 0
        self.first_seen = 0.0
        self.last_seen = 0.0
        self.total = 0
        self.histogram = [0] * BUCKETS

    @classmethod
    def from_state(cls, state: WindowState) -> WindowSlot:
        if len(state.histogram) != BUCKETS:
            raise ValueError(f"histogram must have {BUCKETS} buckets: {state.histogram!r}")
        slot = cls()
        slot.window = state.window
        slot.window_start = state.window_start
        slot.window_end = state.window_end
        slot.count = state.count
        slot.first_seen = state.first_seen
        slot.last_seen = state.last_seen
        slot.total = state.total
        slot.histogram = list(state.histogram)
        return slot

    def to_state(self) -> WindowState:
        return WindowState(
            window=self.window,
            window_start=self.window_start,
            window_end=self.window_end,
            count=self.count,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            total=self.total,
            histogram=tuple(self.histogram),
        )

    @property
    def due_at(self) -> float | None:
        return self.window_end if self.count > 0 else None

    def record(self, now: float, window: float) -> tuple[Hit, Occurrences | None]:
        """One occurrence at ``now``: the decision, and the digest of a window that ended
        before it (settled on the way), if any."""
        digest = self.settle(now, window) if now >= self.window_end else None
        if now < self.window_end:
            # A repeat. The time may be before window_start when clocks disagree (several
            # processes on a shared store): it still counts, in the first bucket.
            bucket = int((now - self.window_start) * BUCKETS / self.window)
            if bucket >= BUCKETS:
                bucket = BUCKETS - 1  # float rounding just below window_end
            elif bucket < 0:
                bucket = 0
            self.histogram[bucket] += 1
            self.total += 1
            if self.count == 0:
                self.first_seen = self.last_seen = now
            elif now > self.last_seen:
                self.last_seen = now
            elif now < self.first_seen:
                self.first_seen = now
            self.count += 1
            return REPEAT, digest
        if not window > 0:  # also refuses NaN, which would keep every window open forever
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        is_new = self.total == 0
        self.total += 1
        self._open(now, window)
        occurrences = Occurrences(
            count=1,
            total=self.total,
            first_seen=now,
            last_seen=now,
            window=window,
            is_new=is_new,
            window_start=now,
            window_end=self.window_end,
        )
        return Hit(alert=True, occurrences=occurrences), digest

    def settle(self, now: float, window: float | None = None) -> Occurrences | None:
        """Roll a window that has ended by ``now``: with repeats it becomes a digest and the
        next window (length ``window``, default the current length) opens at once where it
        ended; without repeats it is left closed. At most one digest (see the module doc)."""
        if now < self.window_end or self.count == 0:
            return None
        digest = self._digest(self.window_end)
        # If `now` is past this next window too, it ends empty: closed, nothing more to do.
        self._open(self.window_end, self.window if window is None else window)
        return digest

    def cut(self, now: float) -> Occurrences | None:
        """End the window early at ``now`` (shutdown, eviction): its repeats, if any, become
        a digest with ``window_end=now``, and the window is closed."""
        digest = self.settle(now)
        if digest is None and self.count > 0:
            digest = self._digest(now)
        if now < self.window_end:
            self.window_end = now
        self.count = 0
        self.histogram = [0] * BUCKETS
        return digest

    def _open(self, start: float, window: float) -> None:
        self.window = window
        self.window_start = start
        self.window_end = start + window
        self.count = 0
        self.histogram = [0] * BUCKETS

    def _digest(self, window_end: float) -> Occurrences:
        return Occurrences(
            count=self.count,
            total=self.total,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            window=self.window,
            is_new=False,
            window_start=self.window_start,
            window_end=window_end,
            histogram=tuple(self.histogram),
        )


# -- the pure form, for stores that load and save a WindowState ----------------------------


def record(
    state: WindowState | None, now: float, window: float
) -> tuple[WindowState, Hit, Occurrences | None]:
    """One occurrence at ``now`` → (new state, decision, digest of a window that ended
    before ``now`` — it is due at once). ``state=None``: never seen (``is_new=True``)."""
    slot = WindowSlot() if state is None else WindowSlot.from_state(state)
    hit, digest = slot.record(now, window)
    return slot.to_state(), hit, digest


def settle(
    state: WindowState, now: float, window: float | None = None
) -> tuple[WindowState, Occurrences | None]:
    """Roll ``state`` forward to ``now``: (new state, digest of the window that ended, if it
    held repeats). ``window``: the length of the window that opens after a digest (default:
    the state's). Returns ``state`` itself when nothing changed."""
    if now < state.window_end or state.count == 0:
        return state, None
    slot = WindowSlot.from_state(state)
    digest = slot.settle(now, window)
    return slot.to_state(), digest


def cut(state: WindowState, now: float) -> tuple[WindowState, Occurrences | None]:
    """End the window early at ``now``: (closed state, digest of its repeats, if any)."""
    slot = WindowSlot.from_state(state)
    digest = slot.cut(now)
    return slot.to_state(), digest


# -- what the alerter uses ------------------------------------------------------------------


class Throttle:
    """The alerter's view of the store, with the window length bound.

    Thin on purpose: it is where batching will live (a process counting repeats of windows
    it knows are open locally and folding them into a shared store in batches)."""

    def __init__(self, store: Store, window: float) -> None:
        if not window > 0:
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        self._store = store
        self._window = float(window)

    @property
    def store(self) -> Store:
        return self._store

    @property
    def window(self) -> float:
        return self._window

    def hit(self, key: str, now: float) -> Hit:
        return self._store.hit(key, now, self._window)

    def put_sample(self, key: str, event: Event) -> None:
        self._store.put_sample(key, event)

    def due(self, now: float, limit: int = 1000) -> list[Due]:
        return self._store.claim_due(now, limit)

    def drain(self, now: float) -> list[Due]:
        return self._store.drain(now)

    def next_due(self) -> float | None:
        return self._store.next_due()

    def close(self) -> None:
        self._store.close()

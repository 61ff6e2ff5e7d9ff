"""The dedup window of one fingerprint, written once for every store.

The semantics (see ``erralert._stores.base``) live in ``WindowSlot``, a small mutable
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

A window also remembers where its repeats came from — which processes and hosts, under
which releases (``erralert._stores.origins``) — and its digest says so.

Beyond its window, a slot keeps the fingerprint's history (``erralert._stores.history``):
when it was first and last seen and under which releases. Every occurrence recorded — an alert, a
repeat, a folded batch — updates it; an alert's ``status`` is ``status_of`` the history as
it was before that occurrence.

Settling is lazy: nothing happens when a window ends, only when the state is next touched
(an occurrence, a ``claim_due``). Since the window that opens after a digest starts empty,
one settle yields at most one digest however many windows have elapsed.

Windows are half-open: an occurrence exactly at ``window_end`` belongs to the next window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from erralert._core.notice import Occurrences
from erralert._stores.base import Batch, Hit
from erralert._stores.history import History, status_of
from erralert._stores.origins import Origins

__all__ = [
    "BUCKETS",
    "REPEAT",
    "Repeats",
    "WindowSlot",
    "WindowState",
    "cut",
    "record",
    "repeat_in",
    "settle",
]

BUCKETS = 10  # the histogram has one bucket per tenth of the window

# The answer to every repeat. A repeat sends nothing, so its figures would only be read to
# be thrown away, and building a frozen Occurrences costs more than the rest of a hit; the
# figures arrive with the window's digest instead. Compare with `hit.alert`, not identity.
REPEAT = Hit(
    alert=False,
    occurrences=Occurrences(
        count=0,
        total=0,
        first_seen=0.0,
        last_seen=0.0,
        window=0.0,
        is_new=False,
        status="recurring",
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
    # the fingerprint's history (meaningless while total == 0): its first occurrence
    # (0.0: unknown, the state was kept by an earlier version) and its latest, and the
    # releases they were seen under
    since: float = 0.0
    latest: float = 0.0
    first_release: str | None = None
    last_release: str | None = None
    # where the window's repeats came from (``erralert._stores.origins.Origins``): the
    # sources (processes) and hosts, the releases, and which of them had more than it keeps
    sources: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    releases: tuple[str, ...] = ()
    more: str = ""

    def is_open(self, now: float) -> bool:
        return now < self.window_end

    @property
    def due_at(self) -> float | None:
        """When this state's digest becomes due: the window's end if it holds repeats."""
        return self.window_end if self.count > 0 else None


class Repeats:
    """Repeats counted in one window: what a store's slot and a process's tally (the
    throttle's, ``erralert._grouping.throttle``) share."""

    __slots__ = ("count", "first_seen", "histogram", "last_seen", "window", "window_start")

    count: int
    first_seen: float
    last_seen: float
    histogram: list[int]
    window: float
    window_start: float

    def repeat(self, now: float) -> None:
        # The time may be before window_start when clocks disagree (several processes on a
        # shared store): it still counts, in the first bucket.
        bucket = int((now - self.window_start) * BUCKETS / self.window)
        if bucket >= BUCKETS:
            bucket = BUCKETS - 1  # float rounding just below window_end
        elif bucket < 0:
            bucket = 0
        self.histogram[bucket] += 1
        if self.count == 0:
            self.first_seen = self.last_seen = now
        elif now > self.last_seen:
            self.last_seen = now
        elif now < self.first_seen:
            self.first_seen = now
        self.count += 1


class WindowSlot(Repeats):
    """The mutable twin of ``WindowState`` — the one implementation of the semantics.

    Not thread-safe: the store that owns it serialises access (the memory store holds its
    lock around every call)."""

    __slots__ = (
        "first_release",
        "last_release",
        "latest",
        "origins",
        "since",
        "total",
        "window_end",
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
        self.since = 0.0
        self.latest = 0.0
        self.first_release: str | None = None
        self.last_release: str | None = None
        self.origins = Origins()

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
        slot.since = state.since
        slot.latest = state.latest
        slot.first_release = state.first_release
        slot.last_release = state.last_release
        slot.origins = Origins(
            list(state.sources), list(state.hosts), list(state.releases), state.more
        )
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
            since=self.since,
            latest=self.latest,
            first_release=self.first_release,
            last_release=self.last_release,
            sources=tuple(self.origins.processes),
            hosts=tuple(self.origins.hosts),
            releases=tuple(self.origins.releases),
            more=self.origins.more,
        )

    def history(self) -> History | None:
        """What the slot remembers of its fingerprint; None when it was never seen."""
        if self.total == 0:
            return None
        return History(
            first_seen=self.since,
            last_seen=self.latest,
            total=self.total,
            first_release=self.first_release,
            last_release=self.last_release,
        )

    @property
    def due_at(self) -> float | None:
        return self.window_end if self.count > 0 else None

    def record(
        self, now: float, window: float, release: str | None = None, source: str | None = None
    ) -> tuple[Hit, Occurrences | None]:
        """One occurrence at ``now``, under ``release``, counted by the process ``source``
        (``erralert._stores.origins``; None: unknown): the decision, and the digest of a
        window that ended before it (settled on the way), if any."""
        digest = self.settle(now, window) if now >= self.window_end else None
        if now < self.window_end:
            self.repeat(now)
            self.total += 1
            origins = self.origins
            # inline, as the history below: the memory store's repeats come from one
            # process under one release, whose very objects the window saw last
            if source is not origins.source or release is not origins.release:
                origins.add(source, release)
            # the history, inline: the memory store's hot path allocates nothing per repeat
            if now >= self.latest:
                self.latest = now
                self.last_release = release
            elif now < self.since:
                self.since = now
            return REPEAT, digest
        if not window > 0:  # also refuses NaN, which would keep every window open forever
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        before = self.history()
        self._seen(now, now, release)
        self.total += 1
        self._open(now, window)
        occurrences = Occurrences(
            count=1,
            total=self.total,
            first_seen=now,
            last_seen=now,
            window=window,
            is_new=before is None,
            window_start=now,
            window_end=self.window_end,
            status=status_of(before, release),
            since=self.since,
            previous=None if before is None else before.last_seen,
            first_release=self.first_release,
            last_release=None if before is None else before.last_release,
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

    def fold(self, batch: Batch, now: float) -> list[Occurrences]:
        """Add ``batch`` — repeats another caller counted in the window that opened at
        ``batch.window_start`` — and return the digests this makes due at once.

        * Its window is still the slot's (open, or ended but not yet settled): the repeats
          join it, exactly as if each had been a ``record`` — nothing is due yet.
        * The window was settled meanwhile (the batch came late): a window that ended is
          settled first; then the repeats join the window open at ``now``, if one is
          (in its first bucket, as early repeats do), or else become a digest of their own
          window, due at once. They are never dropped and never alerted."""
        if batch.count <= 0:
            return []
        if batch.window_start == self.window_start and batch.window_end == self.window_end:
            self._seen(batch.first_seen, batch.last_seen, batch.release)
            self._merge(batch, batch.histogram)
            self.origins.add(batch.source, batch.release)
            return []
        digests = []
        if now >= self.window_end and (digest := self.settle(now)) is not None:
            digests.append(digest)
        # after the settling: the digest of the window that ended is of what came before
        self._seen(batch.first_seen, batch.last_seen, batch.release)
        if now < self.window_end:
            early = [0] * BUCKETS
            early[0] = batch.count
            self._merge(batch, early)
            self.origins.add(batch.source, batch.release)
            return digests
        self.total += batch.count
        origins = Origins()
        origins.add(batch.source, batch.release)
        digests.append(
            Occurrences(
                count=batch.count,
                total=self.total,
                first_seen=batch.first_seen,
                last_seen=batch.last_seen,
                window=batch.window_end - batch.window_start,
                is_new=False,
                window_start=batch.window_start,
                window_end=batch.window_end,
                histogram=tuple(batch.histogram),
                status="recurring",
                since=self.since,
                first_release=self.first_release,
                last_release=self.last_release,
                **origins.facts(),
            )
        )
        return digests

    def _seen(self, first: float, last: float, release: str | None) -> None:
        """Occurrences from ``first`` to ``last`` under ``release`` join the history (before
        ``total`` counts them). The latest sighting's release is the one kept: occurrences
        stamped earlier (a host whose clock is behind, a batch folded late) do not replace it."""
        if self.total == 0:
            self.since, self.latest = first, last
            self.first_release = self.last_release = release
            return
        if last >= self.latest:
            self.latest = last
            self.last_release = release
        if first < self.since:
            self.since = first

    def _merge(self, batch: Batch, histogram: Sequence[int]) -> None:
        if self.count == 0:
            self.first_seen, self.last_seen = batch.first_seen, batch.last_seen
        else:
            self.first_seen = min(self.first_seen, batch.first_seen)
            self.last_seen = max(self.last_seen, batch.last_seen)
        self.count += batch.count
        self.total += batch.count
        for bucket, n in enumerate(histogram):
            self.histogram[bucket] += n

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
        self.origins.clear()
        return digest

    def _open(self, start: float, window: float) -> None:
        self.window = window
        self.window_start = start
        self.window_end = start + window
        self.count = 0
        self.histogram = [0] * BUCKETS
        self.origins.clear()

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
            status="recurring",
            since=self.since,
            first_release=self.first_release,
            last_release=self.last_release,
            **self.origins.facts(),
        )


# -- the pure form, for stores that load and save a WindowState ----------------------------


def record(
    state: WindowState | None,
    now: float,
    window: float,
    release: str | None = None,
    source: str | None = None,
) -> tuple[WindowState, Hit, Occurrences | None]:
    """One occurrence at ``now`` under ``release``, counted by ``source`` → (new state,
    decision, digest of a window that ended before ``now`` — it is due at once).
    ``state=None``: never seen (``is_new=True``)."""
    slot = WindowSlot() if state is None else WindowSlot.from_state(state)
    hit, digest = slot.record(now, window, release, source)
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


def repeat_in(window_start: float, window_end: float, window: float) -> Hit:
    """A shared store's answer to a repeat: which window is open (see ``Throttle``), and
    its length as the store divides it into buckets."""
    return Hit(
        alert=False,
        occurrences=Occurrences(
            count=0,
            total=0,
            first_seen=0.0,
            last_seen=0.0,
            window=window,
            is_new=False,
            window_start=window_start,
            window_end=window_end,
            status="recurring",
        ),
    )

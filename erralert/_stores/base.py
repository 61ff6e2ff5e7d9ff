"""The store interface behind the throttle, the outbox and the silenced counts.

A store keeps three things, each its own protocol, so that a component asks only for the
one it uses: the dedup windows (``WindowStore``, the throttle's), the outbox's per-channel
ledger (``Ledger``) and the silenced counts (``SilencedCounts``). ``Store`` is the three in
one object — what ``store=`` takes and every built-in store implements.

A window store answers two questions atomically, so that several processes (and, with a
shared store, several hosts) agree on them:

* ``hit(key, now, window, release=, source=)`` — "this fingerprint occurred at ``now``:
  alert now, or count?"
* ``claim_due(now)`` — "which windows have ended with repeats? I will send their digests."
  Each due digest is handed to exactly one caller.

Window semantics (per fingerprint, ``window`` seconds):

* a hit when no window is open opens one at ``now`` and answers ``alert=True``;
* hits inside the open window are counted (``alert=False``);
* a window that ends with a count > 0 becomes a due digest, and the next window opens at
  once where the previous one ended, so a continuing error yields one digest per window;
* a window that ends with no repeats closes silently; the next hit is a fresh alert.

A store may roll windows lazily: a hit after the end of a window first settles the ended
window(s) — making a digest due if it had repeats — and then decides.

Per fingerprint a store also keeps its history (``erralert._stores.history.History``):
first and latest occurrence, total, and the releases of the first and the latest. Every occurrence
recorded updates it (a ``hit``, a folded ``Batch``, each with its release); an alert's
``Occurrences`` carry the ``status`` that history gave it, ``since``, ``previous`` and the
releases. It is forgotten with the window state (``retention``, or ``max_keys``).

A window also remembers where its repeats came from: the process that counted each (its
``source``, ``<pid>@<host>``: a hit's ``source=``, a batch's ``source``), hence how many
processes and hosts, and their releases (``erralert._stores.origins``); its digest's
``Occurrences`` carry them (``hosts``, ``processes``, ``releases``). A store object written
before ``source=`` existed is still used, without it: its digests know no origins.

Shared stores (``shared = True``: SQLite, Redis) cost a round trip per call, so the
throttle does not ask them about every repeat. Their answer to a repeat says which window
is open (``occurrences.window_start`` / ``window_end``); the throttle then counts further
repeats of that window in the process and hands them over with ``fold`` in batches (see
``erralert._grouping.throttle.Throttle``). A batch that arrives after its window was
settled is not lost: ``WindowSlot.fold`` (``erralert._stores.windows``) says where it goes.

As a ``Ledger``, a store also keeps what the outbox must share between processes, per
channel ("lane", a digest of the webhook URL): the sends booked under the platform's
rates (``reserve``), and the storm summary being gathered (``add_to_storm`` /
``claim_storm``), so that every process of an app stays under one rate budget and a storm
yields one summary between them.

Last, as ``SilencedCounts``, a store counts the occurrences that routing rules silenced (a
rule with no webhooks), per rule id (``count_silenced`` / ``silenced``), so that
``erralert check`` — another process — can show them when the store is shared. The
alerter tallies them in the process and adds them about once a second, like repeats; one
record per rule, updated in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from erralert._core.event import Event
from erralert._core.notice import OTHER_ERRORS, Occurrences, StormGroup
from erralert._core.pacing import Rate

# A storm summary lists at most this many errors; the rest are counted under OTHER_ERRORS
# (the group key and fingerprint of the errors beyond the list): a storm of 100 000
# distinct errors must not grow a pile, or a message, without bound.
MAX_STORM_GROUPS = 100

__all__ = [
    "MAX_STORM_GROUPS",
    "OTHER_ERRORS",
    "Batch",
    "Due",
    "Followup",
    "Hit",
    "Ledger",
    "Pile",
    "Silenced",
    "SilencedCounts",
    "Store",
    "StormEntry",
    "WindowStore",
]


@dataclass(frozen=True, slots=True)
class Hit:
    alert: bool  # True: send an alert now (a window was opened)
    # for an alert: count=1, first_seen=last_seen=now and the window it opened; for a
    # repeat, a shared store fills in only window_start/window_end (the open window),
    # the memory store nothing (it answers every repeat with windows.REPEAT)
    occurrences: Occurrences


@dataclass(frozen=True, slots=True)
class Batch:
    """Repeats of one fingerprint counted in a process, all inside the window that opened
    at ``window_start`` (as the store answered), handed over to the store with ``fold``."""

    key: str
    window_start: float
    window_end: float
    count: int
    first_seen: float
    last_seen: float
    histogram: tuple[int, ...]  # BUCKETS ints, positioned like the store's
    release: str | None = None  # the release the counting process runs
    source: str | None = None  # the counting process, ``<pid>@<host>`` (None: unknown)

    def merged(self, other: Batch) -> Batch:
        """This batch and ``other`` (same key and window) as one."""
        return Batch(
            key=self.key,
            window_start=self.window_start,
            window_end=self.window_end,
            count=self.count + other.count,
            first_seen=min(self.first_seen, other.first_seen),
            last_seen=max(self.last_seen, other.last_seen),
            histogram=tuple(a + b for a, b in zip(self.histogram, other.histogram, strict=True)),
            # the later one's, as a store keeps the release of the latest sighting (and
            # its source: batches are merged within one process, where both are its own)
            release=other.release if other.last_seen >= self.last_seen else self.release,
            source=other.source if other.last_seen >= self.last_seen else self.source,
        )


@dataclass(frozen=True, slots=True)
class Due:
    key: str  # the fingerprint
    sample: Event | None  # the event stored with `put_sample` when the chain's alert was sent
    occurrences: Occurrences  # count = repeats in the ended window, histogram over it


@dataclass(frozen=True, slots=True)
class StormEntry:
    """One message folded into a storm summary instead of being sent."""

    fingerprint: str
    title: str
    culprit: str
    count: int  # occurrences it stood for (1 for an alert, the repeats of a digest)
    window: float  # its dedup window (the summary shows the first entry's)
    type: str = ""  # the raised exception's type name ("KeyError"), or the level ("ERROR")
    code: str = ""  # the culprit frame's source line, as the error's alert shows it
    # the alert of a never-seen error: the pile keeps its event (the ``sample`` it is added
    # with) and its mentions, to send that alert in full once the storm is summarised
    is_new: bool = False
    mentions: bool = False  # the alert's own flag: the channel's ?mention= entries apply
    extra_mentions: tuple[str, ...] = ()  # what routing added for this channel


@dataclass(frozen=True, slots=True)
class Followup:
    """A new error whose alert was folded into a storm: sent in full after the summary."""

    fingerprint: str
    event: Event
    count: int  # its occurrences folded into the storm (the biggest are followed up)
    window: float  # the dedup window of its alert
    mentions: bool
    extra_mentions: tuple[str, ...]  # what routing added for this channel


@dataclass(frozen=True, slots=True)
class Pile:
    """A storm summary claimed from a store: the errors folded, and the slot booked for it."""

    groups: tuple[StormGroup, ...]  # biggest count first
    total: int  # occurrences folded
    since: float  # the first folded message's time
    until: float  # the last folded message's time
    window: float  # the dedup window of the first folded message
    sample: Event | None  # the first folded message's event
    slot: float  # when it may be sent: booked under the channel's rates
    # the new errors folded, the most occurrences first: as many as the claim asked for
    followups: tuple[Followup, ...] = ()


@dataclass(frozen=True, slots=True)
class Silenced:
    """The occurrences one routing rule silenced, as a store adds them up."""

    count: int  # occurrences silenced
    first_seen: float  # the caller's time of the first add
    last_seen: float  # the caller's time of the latest add

    def merged(self, other: Silenced) -> Silenced:
        """This record and ``other`` (same rule) as one."""
        return Silenced(
            count=self.count + other.count,
            first_seen=min(self.first_seen, other.first_seen),
            last_seen=max(self.last_seen, other.last_seen),
        )


@runtime_checkable
class WindowStore(Protocol):
    """The dedup windows per fingerprint, their digests and history (see the module doc)."""

    # True when other processes share the state (each call may be a round trip); the
    # throttle then batches repeats and folds them in with `fold`
    shared: bool

    def hit(
        self,
        key: str,
        now: float,
        window: float,
        release: str | None = None,
        source: str | None = None,
    ) -> Hit:
        """Record one occurrence of ``key`` at ``now`` under ``release``, counted by the
        process ``source`` (None: unknown), and decide (atomically); an alert's occurrences
        carry the fingerprint's status."""
        ...

    def fold(self, batches: Sequence[Batch], now: float) -> None:
        """Add repeats counted elsewhere (atomically per batch): into their window while the
        store still has it, else as ``WindowSlot.fold`` says. ``now``: the caller's time."""
        ...

    def put_sample(self, key: str, sample: Event) -> None:
        """Keep ``sample`` as the event that represents ``key`` in its digests."""
        ...

    def claim_due(self, now: float, limit: int = 1000) -> list[Due]:
        """Hand over (once, across all processes) every digest whose window ended by ``now``."""
        ...

    def drain(self, now: float) -> list[Due]:
        """At shutdown: hand over the counts of windows still open, ending them early.
        Shared stores return ``[]`` — their counts stay for the other processes."""
        ...

    def next_due(self) -> float | None:
        """When the earliest open window ends, if the store knows cheaply (a scheduling hint)."""
        ...

    def close(self) -> None:
        """Release what the store holds in this process (a shared store's connections; a
        later call re-opens them)."""
        ...


@runtime_checkable
class Ledger(Protocol):
    """What the outbox keeps per channel ("lane"): its booked sends and the storm pile
    being gathered (see ``erralert._stores.piles`` for the words), shared like the counts."""

    def reserve(
        self,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        horizon: float,
        *,
        keep: int = 0,
        max_waiting: int | None = None,
    ) -> float | None:
        """Book one send to channel ``lane`` (``erralert._core.pacing.reserve``, atomically over
        the sends every process booked): the slot, or None when none is within reach."""
        ...

    def add_to_storm(
        self, lane: str, entry: StormEntry, sample: Event, now: float, gather: float
    ) -> None:
        """Fold ``entry`` into ``lane``'s storm summary. The first entry of a summary starts
        it (``sample`` is kept, and it may be claimed ``gather`` seconds later)."""
        ...

    def claim_storm(
        self,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        *,
        force: bool = False,
        followups: int = 0,
    ) -> Pile | float | None:
        """Take ``lane``'s storm summary (once, across all processes) with a slot booked for
        it, when its gathering is over (or ``force``); else when it will be (a time), or
        None when there is no summary. The pile carries up to ``followups`` of the new
        errors folded into it (``is_new`` entries), those with the most occurrences first
        (then by title, then by fingerprint); a store keeps them for at most
        ``MAX_STORM_GROUPS`` new errors per pile, the listed ones."""
        ...


@runtime_checkable
class SilencedCounts(Protocol):
    """The occurrences routing rules silenced, per rule id."""

    def count_silenced(self, counts: Mapping[str, int], now: float) -> None:
        """Add occurrences silenced in a process, per rule id (counts <= 0 are ignored):
        all in one atomic step. A rule's first add sets its ``first_seen``; every add sets
        its ``last_seen`` to ``now`` (the later of the two, should clocks disagree). One
        record per rule, however many adds."""
        ...

    def silenced(self) -> dict[str, Silenced]:
        """Every rule's silenced occurrences, as every process sharing the store added them."""
        ...


@runtime_checkable
class Store(WindowStore, Ledger, SilencedCounts, Protocol):
    """The three contracts in one object, as ``store=`` takes it: every built-in store
    implements all of them, and a component asks for the one it uses."""

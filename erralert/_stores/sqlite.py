"""The host-wide store: window state in one SQLite file (``sqlite:///path/file.db``).

Every process on the host that opens the same file shares the counts, so gunicorn workers
or a Celery prefork pool alert once per window between them, and each due digest is
handed to exactly one of them. The window rules are ``WindowSlot``'s; this module only
loads a fingerprint's state, lets the slot decide, and writes the state back, inside one
``BEGIN IMMEDIATE`` transaction (the write lock is taken before the read, so two
processes can never both see "no window open").

The file is in WAL mode with ``synchronous=NORMAL``: a commit does not wait for fsync, so
a hit costs tens of microseconds; a power cut can lose the last few commits — counts, not
correctness. Not for network filesystems (SQLite's locking is unreliable there).

The file's tables and the statements over them are ``erralert._stores.sqlite_schema``; a
row becomes a ``WindowState`` or a digest's ``Occurrences`` in ``erralert._stores.sqlite_rows``.

Fingerprints not seen for ``retention`` seconds are forgotten (their ``total`` and history
too), and so are the silenced counts of a rule that silenced nothing for as long, so the
file does not grow without bound; ``retention`` should be much longer than the window.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from urllib.parse import parse_qsl, unquote, urlsplit

from erralert._core import pacing
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.pacing import Rate
from erralert._stores import sqlite_fleet
from erralert._stores.base import Batch, Due, Hit, Pile, Silenced, StormEntry
from erralert._stores.codec import encode, load_sample
from erralert._stores.fleet import Member, RobotUse, RollCall
from erralert._stores.piles import PileState
from erralert._stores.sqlite_rows import (
    SEPARATOR,
    Scope,
    columns,
    dump_digest,
    load_digest,
    state_of,
)
from erralert._stores.sqlite_schema import (
    ADD_SILENCED,
    INSERT_DUE,
    INSERT_WINDOW,
    SCHEMA,
    SELECT_DUES,
    SELECT_ENDED,
    SELECT_HIT,
    UPDATE_HIT,
    UPDATE_SETTLED,
    add_columns,
)
from erralert._stores.windows import WindowSlot, repeat_in

__all__ = ["SQLiteStore"]

_PURGE_INTERVAL = 60.0  # seconds (of the callers' clock) between two retention sweeps

# Connections inherited through fork() are never closed: closing one in the child could
# checkpoint or unlink the WAL under the parent's feet (SQLite: "do not carry an open
# connection across fork"). Keeping a reference stops the finaliser from closing them.
_inherited: list[sqlite3.Connection] = []
_live: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Runs in the child's only thread, before anything else can use a store: a lock held by
    # another parent thread at fork time would otherwise stay held forever in the child.
    for store in list(_live):
        store._forget_connection()


if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere there is no fork to survive
    os.register_at_fork(after_in_child=_after_fork_in_child)


class SQLiteStore:
    """``Store`` shared by the processes of one host through a SQLite file.

    Thread-safe: one connection per process behind a lock, re-opened in a forked child.
    Failures (the database locked for longer than ``timeout``, a full disk) raise
    ``sqlite3.Error`` with the transaction rolled back; the alerter logs them."""

    shared = True

    def __init__(
        self,
        path: str,
        *,
        namespace: str = "",
        retention: float = 7 * 24 * 3600.0,
        timeout: float = 5.0,
    ) -> None:
        if not path or path == ":memory:" or path.startswith("file::memory:"):
            # a private in-memory database would silently share nothing between processes
            raise ConfigError(
                f"sqlite store needs a file path, got {path!r} (use memory:// for one process)"
            )
        if not (isinstance(retention, int | float) and retention > 0 and math.isfinite(retention)):
            raise ConfigError(
                f"sqlite store: retention must be positive seconds, got {retention!r}"
            )
        if not (isinstance(timeout, int | float) and timeout >= 0 and math.isfinite(timeout)):
            raise ConfigError(f"sqlite store: timeout must be seconds >= 0, got {timeout!r}")
        if SEPARATOR in namespace:
            raise ConfigError(f"sqlite store: namespace must not hold \\x1f: {namespace!r}")
        self.path = path
        self.namespace = namespace
        self._scope = Scope(namespace)
        self._roll = RollCall()  # check-ins, and whether this process claims
        self.retention = float(retention)
        self.timeout = float(timeout)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._next_purge = -math.inf
        _live.add(self)
        try:
            # Open now, so a bad path fails at Alerter() time rather than at the first error.
            with self._lock:
                self._connection()
        except sqlite3.Error as exc:
            raise ConfigError(f"sqlite store {path!r}: {exc}") from None

    @classmethod
    def from_url(cls, url: str, *, namespace: str | None = None) -> SQLiteStore:
        """``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``; options
        ``?namespace=<name>&retention=<seconds>&timeout=<seconds>``. ``namespace``: the
        default when the URL names none (the alerter passes its ``service``)."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "sqlite":
            raise ConfigError(f"not a sqlite store URL: {url!r} (expected sqlite:///file.db)")
        if parts.netloc:
            raise ConfigError(
                f"sqlite store URL takes no host: {url!r} "
                "(three slashes for a relative path, four for an absolute one)"
            )
        path = unquote(parts.path[1:])  # drop the slash that ends the empty authority
        if not path:
            raise ConfigError(f"sqlite store URL needs a file path: {url!r}")
        options: dict[str, float] = {}
        named = namespace or ""
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "namespace":
                named = value
                continue
            if name not in ("retention", "timeout"):
                raise ConfigError(f"sqlite store: unknown option {name!r} in {url!r}")
            try:
                options[name] = float(value)
            except ValueError:
                raise ConfigError(
                    f"sqlite store: {name} must be a number of seconds, got {value!r}"
                ) from None
        return cls(path, namespace=named, **options)

    # -- Store -----------------------------------------------------------------------------
    def hit(
        self,
        key: str,
        now: float,
        window: float,
        release: str | None = None,
        source: str | None = None,
    ) -> Hit:
        """Record one occurrence and decide, atomically across every process on the file."""
        key = self._scope.key(key)
        with self._transaction() as db:
            row = db.execute(SELECT_HIT, (key,)).fetchone()
            slot = WindowSlot() if row is None else WindowSlot.from_state(state_of(row))
            hit, digest = slot.record(now, window, release, source)
            if digest is not None:
                # before the row is rewritten: the sample is the one shown with this chain
                db.execute(INSERT_DUE, (key, digest.window_end, *dump_digest(digest), key))
            if row is None:
                db.execute(INSERT_WINDOW, (*columns(slot), now, key))
            else:
                db.execute(UPDATE_HIT, (*columns(slot), now, key))
        return hit if hit.alert else repeat_in(slot.window_start, slot.window_end, slot.window)

    def fold(self, batches: Sequence[Batch], now: float) -> None:
        """Add repeats counted in a process (see ``WindowSlot.fold``): every batch in one
        transaction, so a fold costs one commit however many fingerprints it carries."""
        if not batches:
            return
        with self._transaction() as db:
            for batch in batches:
                key = self._scope.key(batch.key)
                row = db.execute(SELECT_HIT, (key,)).fetchone()
                slot = WindowSlot() if row is None else WindowSlot.from_state(state_of(row))
                digests = slot.fold(batch, now)
                # the row first: a due takes its sample from it (a key forgotten meanwhile
                # comes back without one, and its digest still goes out)
                if row is None:
                    db.execute(INSERT_WINDOW, (*columns(slot), now, key))
                else:
                    db.execute(UPDATE_HIT, (*columns(slot), now, key))
                for digest in digests:
                    db.execute(INSERT_DUE, (key, digest.window_end, *dump_digest(digest), key))

    def put_sample(self, key: str, sample: Event) -> None:
        """Keep ``sample`` (as JSON) to show with ``key``'s digests."""
        # default=str: an `extra` value JSON cannot hold is kept as its text, not lost
        text = encode(sample.to_dict())
        with self._transaction() as db:
            # a key forgotten between its hit and this call has nothing left to show it
            db.execute("UPDATE windows SET sample = ? WHERE key = ?", (text, self._scope.key(key)))

    def claim_due(self, now: float, limit: int = 1000) -> list[Due]:
        """Settle the windows that ended by ``now`` and hand over up to ``limit`` digests,
        oldest first; each is deleted as it is handed over, so no other process gets it."""
        if limit <= 0:
            return []
        member = self._roll.check_in_due(now)
        if member is not None:
            live_for = self._roll.live_for(self._roll.last.processes if self._roll.last else 1)
            with self._transaction() as db:
                roll = sqlite_fleet.check_in(db, member, self.namespace, now, live_for)
            self._roll.checked_in(roll, now)
        if not self._roll.may_claim(now):  # another process of the service holds the lease
            return []
        with self._transaction() as db:
            if now >= self._next_purge:
                self._purge(db, now)
            # Settle the ended windows that hold repeats, oldest first. At most `limit` per
            # call keeps the transaction short; any left over are settled by the next call.
            scope = self._scope
            ended = SELECT_ENDED.format(scope=scope.where("key"))
            rows = db.execute(ended, (now, *scope.params, limit)).fetchall()
            for key, *state in rows:
                slot = WindowSlot.from_state(state_of(state))
                digest = slot.settle(now)
                if digest is None:  # cannot happen given the WHERE clause; stay safe
                    continue
                db.execute(INSERT_DUE, (key, digest.window_end, *dump_digest(digest), key))
                db.execute(UPDATE_SETTLED, (*columns(slot), key))
            dues = SELECT_DUES.format(scope=scope.where("key"))
            claimed = db.execute(dues, (*scope.params, limit)).fetchall()
            db.executemany("DELETE FROM dues WHERE id = ?", [(row[0],) for row in claimed])
        # decoded after the commit: the rows are ours now, and a sample that cannot be read
        # (see codec.load_sample) must not roll the claim back and block every later digest
        return [
            Due(
                key=scope.strip(key),
                sample=load_sample(sample),
                occurrences=load_digest(occ, history),
            )
            for _, key, occ, history, sample in claimed
        ]

    def drain(self, now: float) -> list[Due]:
        """Nothing: the open windows' counts stay in the file for the other processes
        (and for this app's next start), whose workers claim them when the windows end."""
        return []

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
        """Book one send to ``lane`` over the sends every process on the file booked."""
        if not rates:
            return now
        with self._transaction() as db:
            times = self._booked(db, lane)
            slot = pacing.reserve(times, rates, now, horizon, keep=keep, max_waiting=max_waiting)
            if slot is not None:
                self._book(db, lane, times, now)
            return slot

    def add_to_storm(
        self, lane: str, entry: StormEntry, sample: Event, now: float, gather: float
    ) -> None:
        """Fold ``entry`` into ``lane``'s storm summary (started by the first entry)."""
        with self._transaction() as db:
            row = db.execute("SELECT pile FROM storms WHERE lane = ?", (lane,)).fetchone()
            if row is None:
                pile = PileState.start(entry, sample, now, gather)
            else:
                pile = PileState.from_dict(json.loads(row[0]))
            pile.add(entry, now, sample)
            db.execute(
                "INSERT OR REPLACE INTO storms (lane, pile, updated_at) VALUES (?, ?, ?)",
                (lane, encode(pile.to_dict()), now),
            )

    def claim_storm(
        self,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        *,
        force: bool = False,
        followups: int = 0,
    ) -> Pile | float | None:
        """Take ``lane``'s storm summary and book its send, in one transaction: exactly one
        process gets it."""
        with self._transaction() as db:
            row = db.execute("SELECT pile FROM storms WHERE lane = ?", (lane,)).fetchone()
            if row is None:
                return None
            pile = PileState.from_dict(json.loads(row[0]))
            if now < pile.not_before and not force:
                return pile.not_before
            db.execute("DELETE FROM storms WHERE lane = ?", (lane,))
            slot: float | None = now
            if rates:
                times = self._booked(db, lane)
                slot = pacing.reserve(times, rates, now, math.inf)
                self._book(db, lane, times, now)
        assert slot is not None  # an infinite horizon always has room
        return pile.claimed(slot, followups)

    def next_due(self) -> float | None:
        """None: other processes open windows at any time, so any answer would be stale;
        the worker polls ``claim_due`` every second (cheap: an indexed range scan)."""
        return None

    def count_silenced(self, counts: Mapping[str, int], now: float) -> None:
        """Add silenced occurrences per rule id: every rule in one transaction."""
        rows = [
            (self._scope.key(rule), count, now, now) for rule, count in counts.items() if count > 0
        ]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(ADD_SILENCED, rows)

    def silenced(self) -> dict[str, Silenced]:
        """Every rule's silenced occurrences, as every process on the file added them."""
        scope = self._scope
        query = "SELECT rule, count, first_seen, last_seen FROM silenced WHERE ({scope})"
        with self._lock:
            rows = (
                self._connection()
                .execute(query.format(scope=scope.where("rule")), scope.params)
                .fetchall()
            )
        return {
            scope.strip(rule): Silenced(count, first, last) for rule, count, first, last in rows
        }

    def join(self, member: Member) -> None:
        """Check in as ``member`` from now on (see ``erralert._stores.fleet``): only the
        holder of the service's lease claims digests."""
        self._roll.join(member)

    def robots(self, lanes: Sequence[str]) -> dict[str, RobotUse]:
        """Who posts to each of ``lanes`` (every namespace's live members)."""
        with self._lock:
            return sqlite_fleet.robots(self._connection(), lanes, time.time())

    def close(self) -> None:
        """Leave the fleet (another process takes the lease at its next check-in) and close
        this process's connection (a later call re-opens it, and checks in again)."""
        member = self._roll.member
        if member is not None and self._pid == os.getpid():
            self._roll.join(member)
            try:
                with self._transaction() as db:
                    sqlite_fleet.leave(db, member, self.namespace)
            except sqlite3.Error:
                pass  # its membership and lease expire by themselves
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    # -- internals -------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction under the process lock: committed when the
        block ends, rolled back (never left open) when it raises."""
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")  # waits up to `timeout` for the write lock
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                try:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                except sqlite3.Error:
                    # the connection is in an unknown state: start afresh next time
                    self._conn = None
                    db.close()
                raise

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (lock held), opened on first use and after a fork."""
        if self._pid != os.getpid():  # forked without the at-fork hook (e.g. a C-level fork)
            self._forget_connection()
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions, we issue BEGIN IMMEDIATE ourselves
        db = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA:
                    db.execute(statement)
                add_columns(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except BaseException:
            db.close()
            raise
        return db

    def _forget_connection(self) -> None:
        """In a forked child: drop the parent's connection and lock without touching them."""
        if self._conn is not None:
            _inherited.append(self._conn)
        self._conn = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @staticmethod
    def _booked(db: sqlite3.Connection, lane: str) -> list[float]:
        row = db.execute("SELECT booked FROM lanes WHERE lane = ?", (lane,)).fetchone()
        return [] if row is None else [float(t) for t in json.loads(row[0])]

    @staticmethod
    def _book(db: sqlite3.Connection, lane: str, times: list[float], now: float) -> None:
        db.execute(
            "INSERT OR REPLACE INTO lanes (lane, booked, updated_at) VALUES (?, ?, ?)",
            (lane, encode(times), now),
        )

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        """Forget fingerprints not seen for ``retention`` seconds, digests nobody claimed for
        as long (no process with a worker has used the file since), and rules that
        silenced nothing for as long."""
        self._next_purge = now + _PURGE_INTERVAL
        cutoff = now - self.retention
        # count = 0: a window still holding repeats is settled first, never dropped unsent
        db.execute("DELETE FROM windows WHERE updated_at < ? AND count = 0", (cutoff,))
        db.execute("DELETE FROM dues WHERE window_end < ?", (cutoff,))
        db.execute("DELETE FROM lanes WHERE updated_at < ?", (cutoff,))
        db.execute("DELETE FROM storms WHERE updated_at < ?", (cutoff,))
        # a rule that silenced nothing for as long (removed from the configuration, say)
        db.execute("DELETE FROM silenced WHERE last_seen < ?", (cutoff,))

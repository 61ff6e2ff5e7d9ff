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
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from erralert._core import pacing
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.notice import Occurrences
from erralert._core.pacing import Rate
from erralert._stores.base import Batch, Due, Hit, Pile, Silenced, StormEntry
from erralert._stores.piles import PileState
from erralert._stores.windows import WindowSlot, WindowState, repeat_in

__all__ = ["SQLiteStore"]

_PURGE_INTERVAL = 60.0  # seconds (of the callers' clock) between two retention sweeps

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS windows (
        key TEXT PRIMARY KEY,
        window REAL NOT NULL,
        window_start REAL NOT NULL,
        window_end REAL NOT NULL,
        count INTEGER NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        total INTEGER NOT NULL,
        histogram TEXT NOT NULL,
        sample TEXT,
        updated_at REAL NOT NULL
    )""",
    # Only windows holding repeats can become due: a partial index keeps claim_due's scan
    # proportional to those, not to every fingerprint remembered.
    "CREATE INDEX IF NOT EXISTS windows_due ON windows (window_end) WHERE count > 0",
    "CREATE INDEX IF NOT EXISTS windows_seen ON windows (updated_at)",
    """CREATE TABLE IF NOT EXISTS dues (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        window_end REAL NOT NULL,
        occurrences TEXT NOT NULL,
        sample TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS dues_order ON dues (window_end, id)",
    # the outbox's per-channel state: the sends booked (a JSON list of times, ascending)
    # and the storm summary being gathered (PileState as JSON)
    """CREATE TABLE IF NOT EXISTS lanes (
        lane TEXT PRIMARY KEY,
        booked TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS storms (
        lane TEXT PRIMARY KEY,
        pile TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    # occurrences silenced by routing rules, one row per rule id (added in place). A file
    # made by an earlier version gets the table when it is next opened.
    """CREATE TABLE IF NOT EXISTS silenced (
        rule TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL
    )""",
)

# Columns added since the first schema, to tables a file made by an earlier version has
# without them (added when the file is next opened; an earlier version still reads and
# writes the file, leaving them NULL in the rows it makes). The windows' history: the
# fingerprint's first and latest occurrence and their releases (NULL since and latest:
# unknown — `since` is then 0.0, `latest` the row's updated_at, the time of its latest
# hit); the dues': the history a digest carries (JSON), apart from `occurrences` so that an
# earlier version can still claim the digests.
_ADDED_COLUMNS = (
    ("windows", "since", "REAL"),
    ("windows", "latest", "REAL"),
    ("windows", "first_release", "TEXT"),
    ("windows", "last_release", "TEXT"),
    ("dues", "history", "TEXT"),
)

_STATE_COLUMNS = (
    "window, window_start, window_end, count, first_seen, last_seen, total, histogram,"
    " since, latest, first_release, last_release"
)
_LOAD_COLUMNS = (
    "window, window_start, window_end, count, first_seen, last_seen, total, histogram,"
    " coalesce(since, 0.0), coalesce(latest, updated_at), first_release, last_release"
)
_SELECT_HIT = f"SELECT {_LOAD_COLUMNS} FROM windows WHERE key = ?"
_SELECT_ENDED = (
    f"SELECT key, {_LOAD_COLUMNS} FROM windows"
    " WHERE count > 0 AND window_end <= ? ORDER BY window_end LIMIT ?"
)
_INSERT_WINDOW = (
    f"INSERT INTO windows ({_STATE_COLUMNS}, updated_at, key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DUE = (
    "INSERT INTO dues (key, window_end, occurrences, history, sample)"
    " SELECT ?, ?, ?, ?, sample FROM windows WHERE key = ?"
)
_SET_STATE = (
    "UPDATE windows SET window = ?, window_start = ?, window_end = ?, count = ?,"
    " first_seen = ?, last_seen = ?, total = ?, histogram = ?,"
    " since = ?, latest = ?, first_release = ?, last_release = ?"
)
_UPDATE_HIT = f"{_SET_STATE}, updated_at = ? WHERE key = ?"
_UPDATE_SETTLED = f"{_SET_STATE} WHERE key = ?"  # settling is not an occurrence: not "seen"
_ADD_SILENCED = (
    "INSERT INTO silenced (rule, count, first_seen, last_seen) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (rule) DO UPDATE SET count = count + excluded.count,"
    " first_seen = min(first_seen, excluded.first_seen),"
    " last_seen = max(last_seen, excluded.last_seen)"
)
# one encoder, built once (json.dumps builds a new one per call when given separators)
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode

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
        self, path: str, *, retention: float = 7 * 24 * 3600.0, timeout: float = 5.0
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
        self.path = path
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
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``; options
        ``?retention=<seconds>&timeout=<seconds>``."""
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
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name not in ("retention", "timeout"):
                raise ConfigError(f"sqlite store: unknown option {name!r} in {url!r}")
            try:
                options[name] = float(value)
            except ValueError:
                raise ConfigError(
                    f"sqlite store: {name} must be a number of seconds, got {value!r}"
                ) from None
        return cls(path, **options)

    # -- Store -----------------------------------------------------------------------------
    def hit(self, key: str, now: float, window: float, release: str | None = None) -> Hit:
        """Record one occurrence and decide, atomically across every process on the file."""
        with self._transaction() as db:
            row = db.execute(_SELECT_HIT, (key,)).fetchone()
            slot = WindowSlot() if row is None else WindowSlot.from_state(_state(row))
            hit, digest = slot.record(now, window, release)
            if digest is not None:
                # before the row is rewritten: the sample is the one shown with this chain
                db.execute(_INSERT_DUE, (key, digest.window_end, *_dump_digest(digest), key))
            if row is None:
                db.execute(_INSERT_WINDOW, (*_columns(slot), now, key))
            else:
                db.execute(_UPDATE_HIT, (*_columns(slot), now, key))
        return hit if hit.alert else repeat_in(slot.window_start, slot.window_end, slot.window)

    def fold(self, batches: Sequence[Batch], now: float) -> None:
        """Add repeats counted in a process (see ``WindowSlot.fold``): every batch in one
        transaction, so a fold costs one commit however many fingerprints it carries."""
        if not batches:
            return
        with self._transaction() as db:
            for batch in batches:
                row = db.execute(_SELECT_HIT, (batch.key,)).fetchone()
                slot = WindowSlot() if row is None else WindowSlot.from_state(_state(row))
                digests = slot.fold(batch, now)
                # the row first: a due takes its sample from it (a key forgotten meanwhile
                # comes back without one, and its digest still goes out)
                if row is None:
                    db.execute(_INSERT_WINDOW, (*_columns(slot), now, batch.key))
                else:
                    db.execute(_UPDATE_HIT, (*_columns(slot), now, batch.key))
                for digest in digests:
                    db.execute(
                        _INSERT_DUE,
                        (batch.key, digest.window_end, *_dump_digest(digest), batch.key),
                    )

    def put_sample(self, key: str, sample: Event) -> None:
        """Keep ``sample`` (as JSON) to show with ``key``'s digests."""
        # default=str: an `extra` value JSON cannot hold is kept as its text, not lost
        text = _encode(sample.to_dict())
        with self._transaction() as db:
            # a key forgotten between its hit and this call has nothing left to show it
            db.execute("UPDATE windows SET sample = ? WHERE key = ?", (text, key))

    def claim_due(self, now: float, limit: int = 1000) -> list[Due]:
        """Settle the windows that ended by ``now`` and hand over up to ``limit`` digests,
        oldest first; each is deleted as it is handed over, so no other process gets it."""
        if limit <= 0:
            return []
        with self._transaction() as db:
            if now >= self._next_purge:
                self._purge(db, now)
            # Settle the ended windows that hold repeats, oldest first. At most `limit` per
            # call keeps the transaction short; any left over are settled by the next call.
            rows = db.execute(_SELECT_ENDED, (now, limit)).fetchall()
            for key, *state in rows:
                slot = WindowSlot.from_state(_state(state))
                digest = slot.settle(now)
                if digest is None:  # cannot happen given the WHERE clause; stay safe
                    continue
                db.execute(_INSERT_DUE, (key, digest.window_end, *_dump_digest(digest), key))
                db.execute(_UPDATE_SETTLED, (*_columns(slot), key))
            claimed = db.execute(
                "SELECT id, key, occurrences, history, sample FROM dues"
                " ORDER BY window_end, id LIMIT ?",
                (limit,),
            ).fetchall()
            db.executemany("DELETE FROM dues WHERE id = ?", [(row[0],) for row in claimed])
        # decoded after the commit: the rows are ours now, and a sample that cannot be read
        # (see _load_sample) must not roll the claim back and block every later digest
        return [
            Due(key=key, sample=_load_sample(sample), occurrences=_load_digest(occ, history))
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
                (lane, _encode(pile.to_dict()), now),
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
        rows = [(rule, count, now, now) for rule, count in counts.items() if count > 0]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(_ADD_SILENCED, rows)

    def silenced(self) -> dict[str, Silenced]:
        """Every rule's silenced occurrences, as every process on the file added them."""
        with self._lock:
            rows = (
                self._connection()
                .execute("SELECT rule, count, first_seen, last_seen FROM silenced")
                .fetchall()
            )
        return {rule: Silenced(count, first, last) for rule, count, first, last in rows}

    def close(self) -> None:
        """Close this process's connection (a later call re-opens it)."""
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
                for statement in _SCHEMA:
                    db.execute(statement)
                _add_columns(db)
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
            (lane, _encode(times), now),
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


# -- row <-> WindowState / Occurrences / Event ---------------------------------------------


def _add_columns(db: sqlite3.Connection) -> None:
    """Bring a file made by an earlier version up to this schema (in the open transaction:
    two processes opening it at once add each column once)."""
    have: dict[str, set[str]] = {}
    for table, column, kind in _ADDED_COLUMNS:
        if table not in have:
            have[table] = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have[table]:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _state(row: Any) -> WindowState:
    (
        window,
        start,
        end,
        count,
        first_seen,
        last_seen,
        total,
        histogram,
        since,
        latest,
        first_release,
        last_release,
    ) = row
    return WindowState(
        window=window,
        window_start=start,
        window_end=end,
        count=count,
        first_seen=first_seen,
        last_seen=last_seen,
        total=total,
        histogram=tuple(json.loads(histogram)),
        since=since,
        latest=latest,
        first_release=first_release,
        last_release=last_release,
    )


def _columns(
    slot: WindowSlot,
) -> tuple[float, float, float, int, float, float, int, str, float, float, str | None, str | None]:
    return (
        slot.window,
        slot.window_start,
        slot.window_end,
        slot.count,
        slot.first_seen,
        slot.last_seen,
        slot.total,
        _encode(slot.histogram),
        slot.since,
        slot.latest,
        slot.first_release,
        slot.last_release,
    )


def _dump_digest(occ: Occurrences) -> tuple[str, str]:
    """A digest's ``occurrences`` column (the keys every version reads) and its ``history``."""
    history = {
        "since": occ.since,
        "first_release": occ.first_release,
        "last_release": occ.last_release,
    }
    return _dump_occurrences(occ), _encode(history)


def _dump_occurrences(occ: Occurrences) -> str:
    return _encode(
        {
            "count": occ.count,
            "total": occ.total,
            "first_seen": occ.first_seen,
            "last_seen": occ.last_seen,
            "window": occ.window,
            "is_new": occ.is_new,
            "window_start": occ.window_start,
            "window_end": occ.window_end,
            "histogram": list(occ.histogram),
        }
    )


def _load_digest(text: str, history_text: str | None) -> Occurrences:
    data = json.loads(text)
    # NULL in a digest filed by an earlier version: its history is unknown
    history = {} if history_text is None else json.loads(history_text)
    return Occurrences(
        count=data["count"],
        total=data["total"],
        first_seen=data["first_seen"],
        last_seen=data["last_seen"],
        window=data["window"],
        is_new=data["is_new"],
        window_start=data["window_start"],
        window_end=data["window_end"],
        histogram=tuple(data["histogram"]),
        status="recurring",
        since=history.get("since", 0.0),
        first_release=history.get("first_release"),
        last_release=history.get("last_release"),
    )


def _load_sample(text: str | None) -> Event | None:
    if text is None:
        return None
    try:
        return Event.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError):
        # written by another erralert version, say: the digest still goes out, sampleless
        return None

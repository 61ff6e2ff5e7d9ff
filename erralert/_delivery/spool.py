"""The spool (``spool="path/spool.db"``): messages survive the process.

Each message is written here, one row per channel, *before* its first attempt and deleted
once the channel has accepted it (or refused it for good, or it was given up after
``max_age``). A row belongs to the process that wrote it. When that process is gone —
killed, crashed, restarted by its supervisor — its rows are orphans: any process using the
same spool file adopts them (at its start, then every second) and sends them, oldest first,
with their original times and a note that they are late.

Bounded: a process keeps at most its channels' queues here (``max_queue`` per channel),
since what does not fit is folded into storm summaries instead. Orphans beyond ``keep``
per channel — a long outage across several restarts — are folded, oldest first, into one
summary row per channel when adopted: never dropped silently.

SQLite in WAL mode with short ``BEGIN IMMEDIATE`` transactions: several processes on one
host may share the file. Not for network filesystems (SQLite's locking is unreliable there).
Delivery is at least once: a process killed between the channel's answer and the delete
leaves a row that is sent again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from erralert._core.errors import ConfigError
from erralert._core.notice import (
    Notice,
    Occurrences,
    Storm,
    StormGroup,
    culprit_code,
    document,
    error_type,
    from_document,
)
from erralert._core.safelog import safe_logger

__all__ = ["Spool", "Spooled"]

logger = safe_logger()

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spool (
        id INTEGER PRIMARY KEY,
        lane TEXT NOT NULL,
        owner TEXT NOT NULL,
        created REAL NOT NULL,
        notice TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS spool_owner ON spool (owner, id)",
)
# one encoder, built once; default=str: an `extra` value JSON cannot hold is kept as text
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


@dataclass(frozen=True, slots=True)
class Spooled:
    """An adopted row: the message to send again to channel ``lane``."""

    id: int
    lane: str
    created: float  # UNIX time the message was first queued
    notice: Notice


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot; Linux), None when unknown.
    With the pid it names a process for good: pids are reused, start times are not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # field 22 of stat(5), counted after "(comm)"
    except (OSError, IndexError):
        return None


def _alive(owner: str) -> bool:
    pid_text, _, started = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return owner == _me()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, alive
    now_started = _start_time(pid)
    return now_started is None or not started or now_started == started


def _me() -> str:
    return f"{os.getpid()}:{_start_time(os.getpid()) or ''}"


class Spool:
    """Thread-safe; one connection per process, re-opened after ``fork()``."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        if not self.path or self.path == ":memory:":
            raise ConfigError(f"spool needs a file path, got {self.path!r}")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        try:
            with self._lock:
                self._connection()
        except sqlite3.Error as exc:
            raise ConfigError(f"spool {self.path!r}: {exc}") from None

    # -- writing and deleting (the outbox) ---------------------------------------------------
    def add(self, rows: Sequence[tuple[str, Notice]]) -> list[int]:
        """Keep ``(lane, notice)`` rows for this process; their ids, in order."""
        if not rows:
            return []
        owner, now = _me(), time.time()
        with self._transaction() as db:
            return [
                int(
                    db.execute(
                        "INSERT INTO spool (lane, owner, created, notice) VALUES (?, ?, ?, ?)",
                        (lane, owner, now, _dump(notice)),
                    ).lastrowid
                    or 0
                )
                for lane, notice in rows
            ]

    def remove(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._transaction() as db:
            db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])

    # -- recovery ------------------------------------------------------------------------------
    def adopt(self, lanes: Sequence[str], *, keep: int = 1000) -> list[Spooled]:
        """Take the rows of processes that are gone, for the channels in ``lanes``, oldest
        first; beyond ``keep`` per channel, the oldest are folded into one storm summary."""
        me = _me()
        with self._transaction() as db:
            owners = [
                owner
                for (owner,) in db.execute("SELECT DISTINCT owner FROM spool").fetchall()
                if owner != me and not _alive(owner)
            ]
            if not owners:
                return []
            marks = ",".join("?" * len(owners))
            lane_marks = ",".join("?" * len(lanes))
            rows = db.execute(
                f"SELECT id, lane, created, notice FROM spool WHERE owner IN ({marks})"
                f" AND lane IN ({lane_marks}) ORDER BY id",
                (*owners, *lanes),
            ).fetchall()
            db.execute(
                f"UPDATE spool SET owner = ? WHERE owner IN ({marks}) AND lane IN ({lane_marks})",
                (me, *owners, *lanes),
            )
            adopted: list[Spooled] = []
            by_lane: dict[str, list[Spooled]] = {}
            for row_id, lane, created, text in rows:
                try:
                    notice = _load(text)
                except (ValueError, KeyError, TypeError):
                    # written by another version and unreadable: say so, don't loop on it
                    logger.error("erralert: spool row %d cannot be read; dropped", row_id)
                    db.execute("DELETE FROM spool WHERE id = ?", (row_id,))
                    continue
                by_lane.setdefault(lane, []).append(Spooled(row_id, lane, created, notice))
            for lane, spooled in by_lane.items():
                if len(spooled) > keep:
                    old, spooled = spooled[: len(spooled) - keep + 1], spooled[-(keep - 1) :]
                    summary = _fold(old)
                    db.executemany("DELETE FROM spool WHERE id = ?", [(s.id,) for s in old])
                    row_id = db.execute(
                        "INSERT INTO spool (lane, owner, created, notice) VALUES (?, ?, ?, ?)",
                        (lane, me, old[0].created, _dump(summary)),
                    ).lastrowid
                    spooled.insert(0, Spooled(int(row_id or 0), lane, old[0].created, summary))
                adopted.extend(spooled)
        adopted.sort(key=lambda s: s.created)  # stable: a summary stays before its newer rows
        return adopted

    def __len__(self) -> int:
        with self._transaction() as db:
            (count,) = db.execute("SELECT count(*) FROM spool").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    # -- internals -------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            # a connection inherited through fork() is never used (nor closed) in the child
            self._conn = None
            self._pid = os.getpid()
        if self._conn is None:
            db = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            # FULL: a row is on disk before the first attempt is made, as promised
            db.execute("PRAGMA synchronous = FULL")
            for statement in _SCHEMA:
                db.execute(statement)
            self._conn = db
        return self._conn


def _dump(notice: Notice) -> str:
    data = document(notice)
    data["created_at"] = notice.created_at
    data["mentions"] = notice.mentions
    if notice.extra_mentions:
        data["extra_mentions"] = [[key, list(entries)] for key, entries in notice.extra_mentions]
    return _encode(data)


def _load(text: str) -> Notice:
    data = json.loads(text)
    notice = from_document(data, created_at=float(data.get("created_at") or 0.0))
    return Notice(
        notice.kind,
        notice.event,
        notice.occurrences,
        storm=notice.storm,
        created_at=notice.created_at,
        mentions=bool(data.get("mentions")),
        extra_mentions=tuple(
            (str(key), tuple(str(e) for e in entries))
            for key, entries in data.get("extra_mentions") or ()
        ),
        replayed=True,
    )


def _fold(spooled: Sequence[Spooled]) -> Notice:
    """One storm summary of many orphaned messages of a channel (the spool's size bound)."""
    groups: dict[str, StormGroup] = {}
    total = 0
    for s in spooled:
        notice = s.notice
        parts = (
            notice.storm.groups
            if notice.storm is not None
            else (
                StormGroup(
                    notice.event.title,
                    notice.event.culprit,
                    notice.occurrences.count,
                    fingerprint=notice.event.fingerprint or notice.event.title,
                    type=error_type(notice.event),
                    code=culprit_code(notice.event),
                ),
            )
        )
        for part in parts:
            key = part.fingerprint or part.title
            seen = groups.get(key)
            groups[key] = part if seen is None else replace(seen, count=seen.count + part.count)
            total += part.count
    since, until = spooled[0].created, spooled[-1].created
    storm = Storm(
        groups=tuple(sorted(groups.values(), key=lambda g: -g.count)),
        total=total,
        since=since,
        until=until,
    )
    first = spooled[0].notice
    occurrences = Occurrences(
        count=total,
        total=total,
        first_seen=since,
        last_seen=until,
        window=first.occurrences.window,
        is_new=False,
        status="recurring",
    )
    return Notice("storm", first.event, occurrences, storm=storm, created_at=until, replayed=True)

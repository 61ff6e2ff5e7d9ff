"""The inbox's memory: every request it answered, in SQLite (WAL), so that messages
survive a restart of ``erralert inbox`` and the page can be reloaded at any time.

One connection serves every thread (uvicorn's and the caller's) behind a lock: the inbox
receives a handful of messages a second at most, and one writer keeps SQLite simple.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["InboxMessage", "InboxStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    platform TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT,
    title TEXT NOT NULL,
    payload TEXT,
    raw TEXT NOT NULL,
    status INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS messages_platform ON messages (platform, id);
CREATE TABLE IF NOT EXISTS dropped (n INTEGER NOT NULL);
"""
# columns added to an inbox file of an earlier version: the bytes each message takes (raw
# body and parsed payload), for the bound on the total; and the size of a refused body of
# which only an excerpt is kept
_ADDED_COLUMNS = {
    "size": "ALTER TABLE messages ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
    "cut_from": "ALTER TABLE messages ADD COLUMN cut_from INTEGER",
}
MAX_MESSAGES = 1000
MAX_BYTES = 50_000_000
_COLUMNS = "id, received_at, platform, path, kind, title, payload, raw, status, error, cut_from"


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One request the inbox received, and what it answered."""

    id: int
    received_at: float  # UNIX seconds
    platform: str  # "slack", "dingtalk", … or "unknown" for a path no platform uses
    path: str  # the request's path and query string (the inbox's own token removed)
    kind: str | None  # "alert" | "digest" | "storm" when the request said so
    title: str  # a one-line summary, as the platform would show it in a notification
    payload: Any  # the parsed JSON body, or None when it was not JSON
    raw: str  # the body as text
    status: int  # the HTTP status the inbox answered
    error: str | None  # the platform's refusal in its own words; None when accepted
    cut_from: int | None = None  # a refused body's bytes when ``raw`` is only its beginning

    @property
    def accepted(self) -> bool:
        return self.error is None


class InboxStore:
    """Received messages in a SQLite file (``":memory:"`` keeps them in the process only),
    at most ``max_messages`` of them and ``max_bytes`` together: past either bound the
    oldest are dropped (any web page can post to a loopback inbox), and ``dropped()`` says
    how many were. The newest message is always kept.

    >>> store = InboxStore(":memory:")
    >>> store.add(platform="slack", path="/services/T/B/X", raw='{"text": "hi"}', status=200).id
    1
    """

    def __init__(
        self, path: str | Path, *, max_messages: int = MAX_MESSAGES, max_bytes: int = MAX_BYTES
    ) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("an inbox keeps one message and one byte at least")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with self._lock:
            if self.path != ":memory:":
                # readers (the page) never wait for the writer (a webhook) and vice versa
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
            for column, statement in _ADDED_COLUMNS.items():
                if column not in columns:
                    self._db.execute(statement)
            if self._db.execute("SELECT COUNT(*) FROM dropped").fetchone()[0] == 0:
                self._db.execute("INSERT INTO dropped (n) VALUES (0)")

    def add(
        self,
        *,
        platform: str,
        path: str,
        raw: str,
        status: int,
        error: str | None = None,
        kind: str | None = None,
        title: str = "",
        payload: Any = None,
        received_at: float | None = None,
        cut_from: int | None = None,
    ) -> InboxMessage:
        """Store one received request; returns it with its id."""
        when = time.time() if received_at is None else received_at
        encoded = _encoded(payload)
        size = len(raw.encode("utf-8", "replace")) + len((encoded or "").encode("utf-8", "replace"))
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO messages (received_at, platform, path, kind, title, payload, raw,"
                " status, error, size, cut_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (when, platform, path, kind, title, encoded, raw, status, error, size, cut_from),
            )
            ident = cursor.lastrowid
            assert ident is not None  # an INSERT always has one
            self._drop_oldest()
        return InboxMessage(
            ident, when, platform, path, kind, title, payload, raw, status, error, cut_from
        )

    def _drop_oldest(self) -> None:
        """Drop the oldest messages past either bound (the caller holds the lock)."""
        total = 0
        cut = None  # the newest id dropped
        rows = self._db.execute("SELECT id, size FROM messages ORDER BY id DESC")
        for kept, (ident, size) in enumerate(rows):
            if kept and (kept >= self.max_messages or total + size > self.max_bytes):
                cut = ident
                break
            total += size
        if cut is not None:
            gone = self._db.execute("DELETE FROM messages WHERE id <= ?", (cut,)).rowcount
            self._db.execute("UPDATE dropped SET n = n + ?", (gone,))

    def dropped(self) -> int:
        """How many messages were dropped to stay within the bounds (since the last
        ``clear``)."""
        with self._lock:
            return int(self._db.execute("SELECT n FROM dropped").fetchone()[0])

    def messages(
        self, *, platform: str | None = None, after_id: int = 0, limit: int = 200
    ) -> list[InboxMessage]:
        """Messages with an id above ``after_id`` (of one platform, if given), newest first."""
        sql = f"SELECT {_COLUMNS} FROM messages WHERE id > ?"
        args: list[Any] = [after_id]
        if platform is not None:
            sql += " AND platform = ?"
            args.append(platform)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(max(0, limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_message(row) for row in rows]

    def get(self, ident: int) -> InboxMessage | None:
        """The message with this id, if it is still stored."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (ident,)
            ).fetchone()
        return None if row is None else _message(row)

    def count(self, *, platform: str | None = None) -> int:
        """How many messages are stored (of one platform, if given)."""
        with self._lock:
            if platform is None:
                row = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
            else:
                row = self._db.execute(
                    "SELECT COUNT(*) FROM messages WHERE platform = ?", (platform,)
                ).fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        """Messages per platform, for the page's filter."""
        with self._lock:
            rows = self._db.execute(
                "SELECT platform, COUNT(*) FROM messages GROUP BY platform ORDER BY platform"
            ).fetchall()
        return {str(platform): int(n) for platform, n in rows}

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._db.execute("DELETE FROM messages")
            self._db.execute("UPDATE dropped SET n = 0")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _message(row: tuple[Any, ...]) -> InboxMessage:
    ident, received_at, platform, path, kind, title, payload, raw, status, error, cut_from = row
    return InboxMessage(
        id=int(ident),
        received_at=float(received_at),
        platform=str(platform),
        path=str(path),
        kind=kind,
        title=str(title),
        payload=_parsed(payload),
        raw=str(raw),
        status=int(status),
        error=error,
        cut_from=cut_from,
    )


def _encoded(payload: Any) -> str | None:
    """The payload as stored; None (the raw text is kept) when it cannot be written."""
    if payload is None:
        return None
    try:
        return json.dumps(payload, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


def _parsed(payload: str | None) -> Any:
    """A stored payload, or None when this Python cannot read it back (nested deeper than
    it parses at this depth of the stack): the message is then shown by its raw text."""
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None

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
"""
_COLUMNS = "id, received_at, platform, path, kind, title, payload, raw, status, error"


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

    @property
    def accepted(self) -> bool:
        return self.error is None


class InboxStore:
    """Received messages in a SQLite file (``":memory:"`` keeps them in the process only).

    >>> store = InboxStore(":memory:")
    >>> store.add(platform="slack", path="/services/T/B/X", raw='{"text": "hi"}', status=200).id
    1
    """

    def __init__(self, path: str | Path) -> None:
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
    ) -> InboxMessage:
        """Store one received request; returns it with its id."""
        when = time.time() if received_at is None else received_at
        encoded = None if payload is None else json.dumps(payload, ensure_ascii=False)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO messages (received_at, platform, path, kind, title, payload, raw,"
                " status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (when, platform, path, kind, title, encoded, raw, status, error),
            )
            ident = cursor.lastrowid
        assert ident is not None  # an INSERT always has one
        return InboxMessage(ident, when, platform, path, kind, title, payload, raw, status, error)

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

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _message(row: tuple[Any, ...]) -> InboxMessage:
    ident, received_at, platform, path, kind, title, payload, raw, status, error = row
    return InboxMessage(
        id=int(ident),
        received_at=float(received_at),
        platform=str(platform),
        path=str(path),
        kind=kind,
        title=str(title),
        payload=None if payload is None else json.loads(payload),
        raw=str(raw),
        status=int(status),
        error=error,
    )

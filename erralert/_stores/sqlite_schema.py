"""The SQLite store's file: its tables, the columns added since the first schema, and the
statements the store runs over them (see ``erralert._stores.sqlite``)."""

from __future__ import annotations

import sqlite3

__all__ = [
    "ADDED_COLUMNS",
    "ADD_SILENCED",
    "INSERT_DUE",
    "INSERT_WINDOW",
    "SCHEMA",
    "SELECT_DUES",
    "SELECT_ENDED",
    "SELECT_HIT",
    "UPDATE_HIT",
    "UPDATE_SETTLED",
    "add_columns",
]

SCHEMA = (
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
    # the fleet (erralert._stores.fleet): a row per live process with robot '' (its
    # membership), one per robot it posts to; and per namespace the claim lease
    """CREATE TABLE IF NOT EXISTS fleet (
        id TEXT NOT NULL,
        robot TEXT NOT NULL,
        namespace TEXT NOT NULL,
        service TEXT NOT NULL,
        host TEXT NOT NULL,
        release TEXT,
        live_until REAL NOT NULL,
        PRIMARY KEY (id, robot)
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        namespace TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until REAL NOT NULL
    )""",
)

# Columns added since the first schema, to tables a file made by an earlier version has
# without them (added when the file is next opened; an earlier version still reads and
# writes the file, leaving them NULL in the rows it makes). The windows' history: the
# fingerprint's first and latest occurrence and their releases (NULL since and latest:
# unknown — `since` is then 0.0, `latest` the row's updated_at, the time of its latest
# hit); the window's origins (``erralert._stores.origins``: JSON tagged with the window's
# start, so that origins an earlier version left in place when it opened a window are not
# taken for the new one's); the dues': the history a digest carries, and its origins (JSON),
# apart from `occurrences` so that an earlier version can still claim the digests.
ADDED_COLUMNS = (
    ("windows", "since", "REAL"),
    ("windows", "latest", "REAL"),
    ("windows", "first_release", "TEXT"),
    ("windows", "last_release", "TEXT"),
    ("windows", "origins", "TEXT"),
    ("dues", "history", "TEXT"),
)

_STATE_COLUMNS = (
    "window, window_start, window_end, count, first_seen, last_seen, total, histogram,"
    " since, latest, first_release, last_release, origins"
)
_LOAD_COLUMNS = (
    "window, window_start, window_end, count, first_seen, last_seen, total, histogram,"
    " coalesce(since, 0.0), coalesce(latest, updated_at), first_release, last_release, origins"
)
SELECT_HIT = f"SELECT {_LOAD_COLUMNS} FROM windows WHERE key = ?"
# `{scope}`: the namespace's condition on `key` (``erralert._stores.sqlite_rows.Scope``)
SELECT_ENDED = (
    f"SELECT key, {_LOAD_COLUMNS} FROM windows"
    " WHERE count > 0 AND window_end <= ? AND ({scope}) ORDER BY window_end LIMIT ?"
)
SELECT_DUES = (
    "SELECT id, key, occurrences, history, sample FROM dues"
    " WHERE ({scope}) ORDER BY window_end, id LIMIT ?"
)
INSERT_WINDOW = (
    f"INSERT INTO windows ({_STATE_COLUMNS}, updated_at, key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_DUE = (
    "INSERT INTO dues (key, window_end, occurrences, history, sample)"
    " SELECT ?, ?, ?, ?, sample FROM windows WHERE key = ?"
)
_SET_STATE = (
    "UPDATE windows SET window = ?, window_start = ?, window_end = ?, count = ?,"
    " first_seen = ?, last_seen = ?, total = ?, histogram = ?,"
    " since = ?, latest = ?, first_release = ?, last_release = ?, origins = ?"
)
UPDATE_HIT = f"{_SET_STATE}, updated_at = ? WHERE key = ?"
UPDATE_SETTLED = f"{_SET_STATE} WHERE key = ?"  # settling is not an occurrence: not "seen"
ADD_SILENCED = (
    "INSERT INTO silenced (rule, count, first_seen, last_seen) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (rule) DO UPDATE SET count = count + excluded.count,"
    " first_seen = min(first_seen, excluded.first_seen),"
    " last_seen = max(last_seen, excluded.last_seen)"
)


def add_columns(db: sqlite3.Connection) -> None:
    """Bring a file made by an earlier version up to this schema (in the open transaction:
    two processes opening it at once add each column once)."""
    have: dict[str, set[str]] = {}
    for table, column, kind in ADDED_COLUMNS:
        if table not in have:
            have[table] = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have[table]:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

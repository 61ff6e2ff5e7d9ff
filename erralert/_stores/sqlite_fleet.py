"""The fleet (``erralert._stores.fleet``) in the SQLite file: check-ins, the claim lease and
who posts to which robot, in the ``fleet`` and ``leases`` tables. One host, one clock: the
callers' times are used as they are."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from erralert._stores.fleet import LEASE, Member, RobotUse, Roll

__all__ = ["check_in", "leave", "robots"]

_INSERT = (
    "INSERT OR REPLACE INTO fleet (id, robot, namespace, service, host, release, live_until)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def check_in(
    db: sqlite3.Connection, member: Member, namespace: str, now: float, live_for: float
) -> Roll:
    """Record ``member`` as live until ``now + live_for`` and take or renew the namespace's
    lease if nobody else holds it (in the caller's transaction)."""
    db.execute("DELETE FROM fleet WHERE live_until < ?", (now,))
    until = now + live_for
    fields = (namespace, member.service, member.host, member.release, until)
    db.executemany(_INSERT, [(member.id, robot, *fields) for robot in ("", *member.robots)])
    row = db.execute("SELECT holder, until FROM leases WHERE namespace = ?", (namespace,))
    lease = row.fetchone()
    holds = lease is None or lease[0] == member.id or lease[1] < now
    if holds:
        db.execute(
            "INSERT OR REPLACE INTO leases (namespace, holder, until) VALUES (?, ?, ?)",
            (namespace, member.id, now + LEASE),
        )
    (processes,) = db.execute(
        "SELECT count(*) FROM fleet WHERE robot = '' AND namespace = ?", (namespace,)
    ).fetchone()
    sharing = {robot: use.processes for robot, use in robots(db, member.robots, now).items()}
    return Roll(holds_lease=holds, processes=processes, robots=sharing)


def leave(db: sqlite3.Connection, member: Member, namespace: str) -> None:
    db.execute("DELETE FROM fleet WHERE id = ?", (member.id,))
    db.execute("DELETE FROM leases WHERE namespace = ? AND holder = ?", (namespace, member.id))


def robots(db: sqlite3.Connection, lanes: Sequence[str], now: float) -> dict[str, RobotUse]:
    out: dict[str, RobotUse] = {}
    for lane in dict.fromkeys(lanes):
        rows = db.execute(
            "SELECT service, host, release FROM fleet WHERE robot = ? AND live_until >= ?",
            (lane, now),
        ).fetchall()
        if rows:
            out[lane] = RobotUse(
                services=tuple(sorted({service for service, _, _ in rows})),
                processes=len(rows),
                hosts=len({host for _, host, _ in rows}),
                releases=tuple(sorted({release for _, _, release in rows if release})),
            )
    return out

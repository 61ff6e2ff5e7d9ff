"""The fleet: which processes of which services post to which robots, as a shared store
knows it — and which one of a service's processes claims its digests.

Every process of a service polled a shared store every second for due digests, so the
store's load grew with the fleet (200 hosts x 8 workers: 1 600 claims a second, nearly all
finding nothing). Now the processes *check in* now and then; at each check-in the store
records them as live (until an expiry it computes from its own clock) and one process per
service — the holder of a short lease — is the one that claims. The others only fold their
counts. A check-in also answers how many live processes post to each of the member's
robots: the share of a robot's budget each may take while the store cannot be reached
(``erralert._stores.degraded``), and what ``erralert check`` shows per robot.

``RollCall`` keeps one process's side of it (when to check in next, whether it holds the
lease), without I/O; a store implements ``Fleet`` with one round trip per check-in.

Cadence: the lease holder checks in every ``LEASE / 3`` seconds (renewing the lease); the
others every ``max(LEASE, live / CHECKINS_PER_SECOND)`` seconds, jittered, so that the
check-ins of a whole service add up to about one a second however many processes it runs —
the store's idle load stays flat as processes are added. While the number of processes
sharing a robot changes (they start together), a process checks in again after about two
seconds, until two check-ins agree. A holder that dies is replaced
within about ``LEASE`` seconds plus one second (its lease expires; the next check-in of any
other process takes it).
"""

from __future__ import annotations

import math
import os
import random
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "CHECKINS_PER_SECOND",
    "LEASE",
    "Fleet",
    "Member",
    "RobotUse",
    "Roll",
    "RollCall",
    "member_of",
]

LEASE = 10.0  # seconds a claim lease lasts (renewed by its holder every third of it)
CHECKINS_PER_SECOND = 1.0  # what a service's processes together aim at, however many
_LIVE_FOR = 3.0  # a member counts as live for this many of its check-in periods
_SETTLING = 2.0  # seconds to the next check-in while the processes sharing robots change


@dataclass(frozen=True, slots=True)
class Member:
    """One process of one service, as it checks in."""

    id: str  # unique per process: host, pid and a random part ("web-1:4242:9f3c…")
    service: str  # "" when the app names none
    host: str
    release: str | None
    robots: tuple[str, ...]  # the lanes (``Channel.key``) it posts to


@dataclass(frozen=True, slots=True)
class Roll:
    """What a check-in answers."""

    holds_lease: bool  # this member claims its service's digests until its next check-in
    processes: int  # live processes of the member's service (itself included)
    robots: Mapping[str, int]  # per robot of the member: live processes posting to it
    clock: float | None = None  # the store's time when it answered (None: the caller's)


@dataclass(frozen=True, slots=True)
class RobotUse:
    """Who posts to one robot, as the store knows it (for ``erralert check``)."""

    services: tuple[str, ...]  # sorted; "" for processes that name no service
    processes: int
    hosts: int
    releases: tuple[str, ...] = field(default=())


@runtime_checkable
class Fleet(Protocol):
    """What a shared store keeps about the fleet (see the module doc). Optional: a ``store=``
    object without it claims on every tick and shares no budget in an outage."""

    def join(self, member: Member) -> None:
        """From now on this process checks in as ``member`` (at its ``claim_due`` calls) and
        claims digests only while it holds its service's lease."""
        ...

    def robots(self, lanes: Sequence[str]) -> dict[str, RobotUse]:
        """Who posts to each of ``lanes`` now (live members only); lanes nobody posts to are
        left out."""
        ...


def member_of(service: str | None, release: str | None, robots: Sequence[str]) -> Member:
    """This process as a member (its id changes in a forked child: see ``RollCall``)."""
    host = socket.gethostname() or "localhost"
    return Member(
        id=f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        service=service or "",
        host=host,
        release=release,
        robots=tuple(dict.fromkeys(robots)),
    )


class RollCall:
    """One process's check-ins: when the next is due, whether it holds the lease, and what
    the last one answered. No I/O: the store does the talking. Not locked: a race between
    two threads costs at most one extra check-in."""

    def __init__(self) -> None:
        self.member: Member | None = None
        self.last: Roll | None = None
        self._next = -math.inf  # time (the caller's clock) of the next check-in
        self._lease_until = -math.inf
        self._pid = os.getpid()

    def join(self, member: Member) -> None:
        self.member = member
        self._next = -math.inf
        self._lease_until = -math.inf

    def check_in_due(self, now: float) -> Member | None:
        """The member to check in as now, or None (not joined, or not yet time)."""
        if self.member is None:
            return None
        if self._pid != os.getpid():  # forked: the child is a process of its own
            self._pid = os.getpid()
            self.join(member_of(self.member.service, self.member.release, self.member.robots))
        return self.member if now >= self._next else None

    def checked_in(self, roll: Roll, now: float) -> None:
        # the fleet is changing (processes starting together, a deploy): look again soon,
        # so that the share each takes in an outage counts every process posting
        settling = self.last is None or self.last.robots != roll.robots
        self.last = roll
        if roll.holds_lease:
            # a little short of the lease, which the store started before answering
            self._lease_until = now + LEASE * 0.8
            self._next = now + LEASE / 3
        else:
            self._lease_until = -math.inf
            period = _SETTLING if settling else self.period(roll.processes)
            self._next = now + period * random.uniform(0.8, 1.2)

    def may_claim(self, now: float) -> bool:
        """Whether this process claims digests now: it holds the lease, or is not a member."""
        return self.member is None or now < self._lease_until

    def live_for(self, processes: int) -> float:
        """How long a check-in keeps a member live: a few of its periods."""
        return self.period(processes) * _LIVE_FOR

    def sharing(self, lane: str) -> int:
        """How many live processes post to ``lane``, as the last check-in said (1: unknown)."""
        roll = self.last
        return max(1, roll.robots.get(lane, 1)) if roll is not None else 1

    @staticmethod
    def period(processes: int) -> float:
        """Seconds between two check-ins of a process that does not hold the lease."""
        return max(LEASE, processes / CHECKINS_PER_SECOND)

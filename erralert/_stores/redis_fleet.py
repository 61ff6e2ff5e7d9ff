"""The fleet (``erralert._stores.fleet``) in Redis: check-ins, the claim lease, who posts to
which robot. Every key is under the hash tag ``{erralert:fleet}`` — one Redis Cluster slot
for the whole fleet, whose load is about one check-in a second per service:

* ``…:members`` — hash: member id → its info (JSON: service, host, release);
* ``…:svc:<namespace>`` — zset: the service's members → live until (the store's clock);
* ``…:lease:<namespace>`` — the id of the member that claims the service's digests
  (expires ``LEASE`` seconds after its last renewal, Redis' own clock);
* ``…:robot:<lane>`` — zset: the members posting to the robot → live until.

Liveness and the lease use Redis' clock (``TIME`` inside the scripts), never a host's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from erralert._stores.fleet import LEASE, Member, RobotUse, Roll, RollCall
from erralert._stores.redis_calls import Script
from erralert._stores.redis_scripts import script

__all__ = ["RedisFleet"]

_TAG = "{erralert:fleet}"
_MEMBERS = f"{_TAG}:members"


class RedisFleet:
    """One store's fleet side: ``roll`` says when to check in; this makes the calls."""

    def __init__(self, client: Any, namespace: str, ttl_ms: str) -> None:
        self.roll = RollCall()
        self._namespace = namespace
        self._ttl = ttl_ms
        self._check_in = Script(client, script("check_in"))
        self._leave = Script(client, script("leave"))
        self._robots = Script(client, script("fleet_robots"))

    def keys(self, member: Member) -> list[str]:
        return [
            _MEMBERS,
            f"{_TAG}:svc:{self._namespace}",
            f"{_TAG}:lease:{self._namespace}",
            *(f"{_TAG}:robot:{lane}" for lane in member.robots),
        ]

    def check_in(self, member: Member, now: float) -> Roll:
        """One round trip; raises what the client raises (the store handles outages)."""
        last = self.roll.last
        live_for = self.roll.live_for(last.processes if last is not None else 1)
        info = json.dumps(
            {"service": member.service, "host": member.host, "release": member.release},
            separators=(",", ":"),
        )
        answer = self._check_in(
            keys=self.keys(member),
            args=[member.id, info, repr(live_for), str(int(LEASE * 1000)), self._ttl],
        )
        holds, processes, clock, *sharing = answer
        roll = Roll(
            holds_lease=bool(int(holds)),
            processes=int(processes),
            robots=dict(zip(member.robots, map(int, sharing), strict=True)),
            clock=float(clock),
        )
        self.roll.checked_in(roll, now)
        return roll

    def leave(self, member: Member) -> None:
        self._leave(keys=self.keys(member), args=[member.id])

    def robots(self, lanes: Sequence[str]) -> dict[str, RobotUse]:
        if not lanes:
            return {}
        flat = self._robots(keys=[_MEMBERS, *(f"{_TAG}:robot:{lane}" for lane in lanes)])
        out: dict[str, RobotUse] = {}
        at = 0
        for lane in lanes:
            count = int(flat[at])
            infos = [json.loads(i) for i in flat[at + 1 : at + 1 + count] if i]
            at += 1 + count
            if count:
                out[lane] = RobotUse(
                    services=tuple(sorted({str(i.get("service", "")) for i in infos})),
                    processes=count,
                    hosts=len({i.get("host") for i in infos}),
                    releases=tuple(sorted({str(i["release"]) for i in infos if i.get("release")})),
                )
        return out

"""What a Redis server was sent, observed at the server: its ``MONITOR`` stream, read through
a connection of the test's own, so a test counts a store's round trips without touching the
store's client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.cluster import RedisCluster


@contextmanager
def commands_sent(url: str) -> Iterator[list[str]]:
    """The commands clients sent to the server at ``url`` while the block ran, in order, each
    as ``MONITOR`` shows it (``"EVALSHA <sha> 6 {erralert:…"``); the list is filled in when
    the block ends. Left out: the commands Lua scripts run (part of their ``EVALSHA``, not
    round trips) and this helper's own."""
    client = redis.Redis.from_url(url, socket_timeout=10)
    marker = f"end-of-block-{uuid.uuid4().hex}"
    sent: list[str] = []
    try:
        with client.monitor() as monitor:  # MONITOR is on once this returns
            yield sent
            client.echo(marker)  # through another connection: MONITOR keeps its own busy
            seen: list[tuple[str, str]] = []
            while True:
                command = monitor.next_command()
                origin = f"{command['client_address']}:{command['client_port']}"
                if command["command"] == f"ECHO {marker}":
                    break
                if command["client_type"] != "lua":
                    seen.append((origin, command["command"]))
            # the marker's connection is this helper's (it may have said HELLO first)
            sent.extend(text for source, text in seen if source != origin)
    finally:
        client.close()


def names(sent: list[str]) -> list[str]:
    """Each command's name: ``"EVALSHA"``, ``"SCRIPT"``, ``"HGETALL"`` …"""
    return [command.split(" ", 1)[0] for command in sent]


def forget_lanes(url: str) -> None:
    """Remove every channel's keys (``{erralert:lane:…}``) from the server (or the cluster,
    ``redis+cluster://…``) at ``url``: they are shared by every namespace, as a robot's
    budget is, so tests that reuse lane names on one server start each from an empty
    budget."""
    client: redis.Redis | RedisCluster
    if url.startswith("redis+cluster://"):
        host, _, port = url.removeprefix("redis+cluster://").split(",")[0].partition(":")
        client = RedisCluster(host=host, port=int(port), socket_timeout=10)
    else:
        client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        for key in list(client.scan_iter(match="{erralert:lane:*")):
            client.delete(key)  # one by one: on a cluster each lane has its own slot
    finally:
        client.close()

"""Where a window's repeats came from: the processes, hosts and releases that counted them.

A digest says it when it is more than one ("from 3 hosts (8 processes) · releases 1.4.2,
1.4.3"): the person on call sees at a glance whether one host misbehaves or all of them,
one release or a rollout.

A process is named by its *source*, ``<pid>@<host>`` (``this_process()``). Every
occurrence a store records carries the source of the process that counted it, as it
carries its release: a ``hit`` its ``source=``, a folded ``Batch`` its ``source``. A window
remembers at most ``MAX_SOURCES`` processes and as many hosts, and ``MAX_RELEASES``
releases, first seen first; beyond that it only notes that there were more, so that a
window's state stays small however large the fleet. Only repeats count (the alert that
opened the window names its host itself). The Redis store's Lua (``lua/common.lua``,
``add_origin``) follows ``Origins.add`` rule for rule.

The shared stores keep a window's origins as JSON (``dump``; SQLite: the column
``windows.origins``, Redis: the field ``orig`` of the window's hash) tagged with the start
of the window they belong to: origins tagged with another start are an earlier window's —
an earlier erralert version, sharing the store during a rollout, opens windows without
clearing them — and read as none. A digest's origins are filed with its history
(``record_of``; SQLite: ``dues.history``, key ``origins``; Redis: ``…:dueh``, key ``o``),
where an earlier version does not look.
"""

from __future__ import annotations

import json
import os
from typing import Any

from erralert._core.event_origin import hostname
from erralert._core.notice import Occurrences

__all__ = [
    "MAX_RELEASES",
    "MAX_SOURCES",
    "Origins",
    "facts_of",
    "host_of",
    "record_of",
    "this_process",
]

MAX_SOURCES = 64  # processes a window tells apart, and hosts
MAX_RELEASES = 8  # releases a window tells apart

_source: str | None = None  # this process's, made on first use


def this_process() -> str:
    """This process's source, ``<pid>@<host>`` (a forked child's is its own)."""
    global _source
    if _source is None:
        _source = f"{os.getpid()}@{hostname()}"
    return _source


def _forget_source() -> None:
    global _source
    _source = None


if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere there is no fork
    os.register_at_fork(after_in_child=_forget_source)


def host_of(source: str) -> str:
    """The host of a source: what follows its first ``@`` (a pid has none)."""
    return source.partition("@")[2]


class Origins:
    """The origins of one window's repeats (mutable: a store's window slot updates it in
    place, under the store's lock)."""

    __slots__ = ("hosts", "more", "processes", "release", "releases", "source")

    def __init__(
        self,
        processes: list[str] | None = None,
        hosts: list[str] | None = None,
        releases: list[str] | None = None,
        more: str = "",
    ) -> None:
        self.processes = processes if processes is not None else []  # sources
        self.hosts = hosts if hosts is not None else []
        self.releases = releases if releases is not None else []
        # which of them had more than they keep: "p" processes, "h" hosts, "r" releases
        self.more = more
        # the last source and release added: the same objects again add nothing, which a
        # caller may tell by identity alone (``WindowSlot.record``'s hot path)
        self.source: str | None = None
        self.release: str | None = None

    def add(self, source: str | None, release: str | None) -> bool:
        """One more occurrence (or batch of them) from ``source`` under ``release`` (None
        or empty: unknown, not counted). True when anything changed."""
        self.source, self.release = source, release
        changed = False
        if source and source not in self.processes:
            changed = self._put(self.processes, source, MAX_SOURCES, "p")
            # a source kept has had its host noted already: only a new one can add a host
            changed = self._put(self.hosts, host_of(source), MAX_SOURCES, "h") or changed
        if release is not None and release not in self.releases:
            changed = self._put(self.releases, release, MAX_RELEASES, "r") or changed
        return changed

    def _put(self, kept: list[str], value: str, bound: int, flag: str) -> bool:
        if value in kept:
            return False
        if len(kept) < bound:
            kept.append(value)
            return True
        if flag in self.more:
            return False
        self.more += flag
        return True

    def clear(self) -> None:
        """A new window: nothing counted yet (the lists are emptied in place; digests hold
        copies)."""
        self.processes.clear()
        self.hosts.clear()
        self.releases.clear()
        self.more = ""
        self.source = self.release = None

    def copy(self) -> Origins:
        return Origins(list(self.processes), list(self.hosts), list(self.releases), self.more)

    def facts(self) -> dict[str, Any]:
        """What a digest's ``Occurrences`` say of them (its keyword arguments)."""
        more = self.more
        return {
            "hosts": len(self.hosts),
            "processes": len(self.processes),
            "releases": tuple(self.releases),
            "more_hosts": "h" in more,
            "more_processes": "p" in more,
            "more_releases": "r" in more,
        }

    def dump(self, window_start: float) -> str | None:
        """As a shared store keeps them, tagged with their window's start (None: nothing
        to keep)."""
        if not (self.processes or self.releases or self.more):
            return None
        return json.dumps(
            {
                "w": window_start,
                "p": self.processes,
                "h": self.hosts,
                "r": self.releases,
                "m": self.more,
            },
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str | bytes | None, window_start: float) -> Origins:
        """What ``dump`` kept for the window that opened at ``window_start``; none when it
        was kept for another window, or cannot be read (written by another version)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("w") != window_start:
                return cls()
            return cls(
                [str(x) for x in data.get("p") or ()][:MAX_SOURCES],
                [str(x) for x in data.get("h") or ()][:MAX_SOURCES],
                [str(x) for x in data.get("r") or ()][:MAX_RELEASES],
                str(data.get("m") or ""),
            )
        except (ValueError, TypeError):
            return cls()


def record_of(occ: Occurrences) -> dict[str, Any] | None:
    """A digest's origins as the shared stores file them with it (JSON; None: unknown).
    The Redis store's Lua (``push_due``) writes the same record."""
    if not (occ.processes or occ.releases):
        return None
    flags = (("h", occ.more_hosts), ("p", occ.more_processes), ("r", occ.more_releases))
    return {
        "hosts": occ.hosts,
        "processes": occ.processes,
        "releases": list(occ.releases),
        "more": "".join(flag for flag, more in flags if more),
    }


def facts_of(record: Any) -> dict[str, Any]:
    """The ``Occurrences`` keyword arguments of a record ``record_of`` (or the Lua) filed;
    none for a digest filed without one (unknown, or by an earlier version)."""
    if not isinstance(record, dict):
        return {}
    more = str(record.get("more") or "")
    releases = record.get("releases")
    return {
        "hosts": int(record.get("hosts") or 0),
        "processes": int(record.get("processes") or 0),
        # Lua's cjson writes an empty list as {}
        "releases": tuple(str(r) for r in releases) if isinstance(releases, list) else (),
        "more_hosts": "h" in more,
        "more_processes": "p" in more,
        "more_releases": "r" in more,
    }

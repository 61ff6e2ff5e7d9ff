"""What every event carries about where it was made: a fresh id, and the host's name."""

from __future__ import annotations

import functools
import itertools
import os
import socket
from collections.abc import Iterator

__all__ = ["hostname", "new_event_id"]


# uuid4s from os.urandom, fetched for 256 ids at a time: os.urandom releases the GIL, and
# while another thread is busy (the outbox's worker rendering) getting it back can take a
# whole switch interval (5 ms) — per event, on the request's thread. The pool is swapped
# as one tuple and each id takes its own index from the pool's counter: no lock.
_IDS_PER_POOL = 256
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)
_id_pool: tuple[bytes, Iterator[int]] = (b"", iter(()))


def new_event_id() -> str:
    """A random uuid4 as 32 hex digits, like ``uuid.uuid4().hex``."""
    global _id_pool
    pool, counter = _id_pool
    index = next(counter, _IDS_PER_POOL)
    if index >= _IDS_PER_POOL:
        pool, counter = _id_pool = (os.urandom(16 * _IDS_PER_POOL), itertools.count(1))
        index = 0
    value = int.from_bytes(pool[16 * index : 16 * index + 16], "big")
    return f"{value & _UUID4_CLEAR | _UUID4_SET:032x}"


def _new_ids_after_fork() -> None:
    global _id_pool
    _id_pool = (b"", iter(()))  # a child must not hand out its parent's next ids


if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere there is no fork
    os.register_at_fork(after_in_child=_new_ids_after_fork)


@functools.cache
def hostname() -> str:
    """This host's name (empty when it cannot be read), asked once."""
    try:
        return socket.gethostname()
    except Exception:
        return ""

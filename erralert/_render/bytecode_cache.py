"""Compiled templates, kept once for the whole process."""

from __future__ import annotations

import threading

import jinja2
import jinja2.bccache

__all__ = ["CACHE_LIMIT", "COMPILED", "CompiledCache"]

CACHE_LIMIT = 1024  # entries of a process-wide cache of templates, before it starts over


class CompiledCache(jinja2.BytecodeCache):
    """Compiled templates, shared by every renderer of the process: an application (or a
    test suite) making many alerters compiles each template once. Jinja keys an entry by
    template name and file, and drops it when the source's checksum changed; every
    renderer compiles with the same settings, so the code is the same for all."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            if len(self._store) >= CACHE_LIMIT:
                self._store.clear()  # template files made on the fly (tests): start over
            self._store[bucket.key] = bucket.bytecode_to_string()


COMPILED = CompiledCache()  # the one every renderer uses

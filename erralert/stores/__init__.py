"""Stores keep the throttle's state: which fingerprints have an open window, how many
repeats it holds, and what is due. ``open_store`` turns the ``store=`` option into one."""

from __future__ import annotations

from erralert.errors import ConfigError
from erralert.stores.base import Due, Hit, Store

__all__ = ["Due", "Hit", "Store", "open_store"]


def open_store(spec: str | Store) -> Store:
    """``"memory://"`` (default) or a ``Store`` object.

    ``sqlite:///path.db`` and ``redis://host:6379/0`` are named in the design; until their
    stores land they fail loudly here rather than silently falling back to memory."""
    if not isinstance(spec, str):
        if isinstance(spec, Store):
            return spec
        raise ConfigError(f"store: expected a URL or a Store object, got {type(spec).__name__}")
    scheme = spec.split(":", 1)[0].lower() if ":" in spec else ""
    if scheme == "memory":
        from erralert.stores.memory import MemoryStore

        return MemoryStore.from_url(spec)
    if scheme in ("sqlite", "redis", "rediss"):
        raise ConfigError(
            f"store {scheme}:// is not available in this version of erralert; "
            "use store='memory://' (one process) for now"
        )
    raise ConfigError(f"store: unknown store URL {spec!r} (expected memory://)")

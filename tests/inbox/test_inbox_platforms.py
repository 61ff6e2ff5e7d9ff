"""The inbox's imitation of a platform is one module: the registry finds it, and the
tables of paths, labels, views and titles follow from it."""

from __future__ import annotations

import pkgutil

from erralert.inbox import platforms
from erralert.inbox.platforms.registry import LISTED, PLATFORMS
from erralert.inbox.receive import EXAMPLE_PATHS, resolve
from erralert.inbox.show import LABELS, RENDERERS

SHARED = {"base", "parts", "registry"}  # the modules that imitate no platform


def test_every_platform_module_is_found() -> None:
    modules = {m.name for m in pkgutil.iter_modules(platforms.__path__)} - SHARED
    found = {type(p).__module__.rsplit(".", 1)[-1] for p in PLATFORMS.values()}
    assert found == modules
    assert list(PLATFORMS) == sorted(PLATFORMS)


def test_the_tables_follow_the_registry() -> None:
    assert set(EXAMPLE_PATHS) == set(RENDERERS) == set(LABELS) - {"unknown"} == set(PLATFORMS)
    assert len({p.rank for p in LISTED}) == len(LISTED)  # one place each in printed lists
    for name, path in EXAMPLE_PATHS.items():
        route = resolve(path.partition("?")[0])
        assert route is not None
        assert route.platform == name

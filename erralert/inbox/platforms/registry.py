"""Every imitated platform by the name in its erralert URL (``slack+http://…``), found in
the modules of this package: each concrete ``Platform`` subclass defined in one is a
platform (Feishu's module defines two, Feishu and Lark). Adding a platform to the inbox is
adding its module; nothing here names one.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

from erralert.inbox import platforms
from erralert.inbox.platforms.base import Platform

__all__ = ["LISTED", "PLATFORMS"]


def _found() -> Iterator[Platform]:
    for module_info in pkgutil.iter_modules(platforms.__path__, f"{platforms.__name__}."):
        if module_info.name == __name__:
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Platform)
                and value.__module__ == module.__name__
                and not inspect.isabstract(value)
            ):
                yield value()


def _by_name(found: Iterator[Platform]) -> dict[str, Platform]:
    by_name: dict[str, Platform] = {}
    for platform in sorted(found, key=lambda p: p.name):
        if platform.name in by_name:  # two modules would answer for one platform
            raise ValueError(f"two imitations of {platform.name!r} in erralert.inbox.platforms")
        by_name[platform.name] = platform
    return by_name


PLATFORMS: dict[str, Platform] = _by_name(_found())
# in the order a person reads them (``Platform.rank``): the example URLs, the native paths
LISTED: tuple[Platform, ...] = tuple(sorted(PLATFORMS.values(), key=lambda p: p.rank))

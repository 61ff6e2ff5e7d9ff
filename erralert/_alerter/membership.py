"""An alerter's throttle over its store — and, when the store is shared, this process as a
member of the fleet (``erralert._stores.fleet``): one process of the service claims its
digests, and every process counts as one of those sharing its robots' budgets."""

from __future__ import annotations

from collections.abc import Sequence

from erralert._grouping.throttle import Throttle
from erralert._stores import Store, open_store
from erralert._stores.fleet import Fleet, member_of
from erralert.channels.base import Channel

__all__ = ["open_throttle"]


def open_throttle(
    store: str | Store,
    *,
    service: str | None,
    release: str | None,
    window: float,
    channels: Sequence[Channel],
) -> Throttle:
    throttle = Throttle(open_store(store, service=service), window, release=release)
    shared = throttle.store
    if shared.shared and isinstance(shared, Fleet):
        shared.join(member_of(service, release, [c.key for c in channels]))
    return throttle

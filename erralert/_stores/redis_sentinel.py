"""The connection pool of a store on a Sentinel URL: redis-py's, asking the Sentinels
which server is the primary at most every second.

redis-py's own pool asks only when it opens a connection. After a failover that finds
the old primary alive (``SENTINEL FAILOVER``, a network partition healing), the store's
open connections keep writing to it until the Sentinels turn it into a replica — at their
next look at it, up to 10 s later — and all it took meanwhile is lost with its data set
when it resynchronises from the new primary (measured in
tests/stores/test_redis_failover.py). Asking every second bounds that to about a second,
for one ``SENTINEL GET-MASTER-ADDR-BY-NAME`` a second per process while it talks to
Redis. Imported only with the redis package installed."""

from __future__ import annotations

import threading
import time
from typing import Any

from redis.sentinel import SentinelConnectionPool

__all__ = ["FollowingPool"]

FOLLOW_INTERVAL = 1.0  # seconds between two questions to the Sentinels


class FollowingPool(SentinelConnectionPool):
    """A ``SentinelConnectionPool`` that asks the Sentinels for the primary before handing
    out a connection, at most every ``FOLLOW_INTERVAL`` seconds (one thread asks; the
    others go on meanwhile). When the answer changed, redis-py's pool closes its idle
    connections to the old primary, and those in use as they come back."""

    def __init__(self, service_name: str, sentinel_manager: Any, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self._asked_at = time.monotonic()
        self._asking = threading.Lock()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() - self._asked_at >= FOLLOW_INTERVAL and self._asking.acquire(
            blocking=False
        ):
            try:
                self._asked_at = time.monotonic()
                # raises (an outage) when no Sentinel knows
                self.get_master_address()  # type: ignore[no-untyped-call]
            finally:
                self._asking.release()
        return super().get_connection(*args, **kwargs)

"""The inbox's own count of the messages a hook took, as a platform counts them.

The platforms document their limits as a ROLLING window: "at most ``count`` messages in
any ``seconds`` seconds". A message at ``t`` is taken when, for every limit, fewer than
``count`` of the taken ones lie in ``(t - seconds, t]``; one taken at ``s`` stops
counting at exactly ``s + seconds``. (The sending side paces itself with code of its
own; the inbox does not share it, since the inbox is there to check it.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RateLimit", "RollingWindow"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` messages in any rolling ``seconds`` seconds."""

    count: int
    seconds: float


class RollingWindow:
    """The messages one hook took, judged under every one of ``limits``. Not thread-safe:
    the receiver holds a lock around ``take``."""

    def __init__(self, limits: Sequence[RateLimit]) -> None:
        for limit in limits:
            if limit.count < 1 or not limit.seconds > 0:
                raise ValueError(f"a rate limit needs count >= 1 and seconds > 0, got {limit}")
        self.limits = tuple(limits)
        # the largest count bounds what any limit looks back at: taken[-count]
        self._taken: deque[float] = deque(maxlen=max((x.count for x in self.limits), default=0))

    def take(self, now: float) -> float:
        """0.0 when the hook takes a message at ``now`` (and it is counted); else the
        seconds until it would. The platform takes messages in the order they come: one
        stamped earlier than the last taken (threads reading the clock apart) is judged at
        the last one's time, not refused for it."""
        taken = self._taken
        at = max(now, taken[-1]) if taken else now
        wait = 0.0
        for limit in self.limits:
            if len(taken) >= limit.count:
                wait = max(wait, taken[-limit.count] + limit.seconds - at)
        if wait <= 0:
            taken.append(at)
            return 0.0
        return wait

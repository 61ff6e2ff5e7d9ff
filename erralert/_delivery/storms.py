"""Storms: what a message that cannot get a send slot in time becomes, and what comes out.

A message that cannot get a slot within ``max_delay`` is folded into its channel's storm
summary in the ledger (the alerter's store: with a shared one, every process folds into one
summary, sent by whichever process claims it). A new error must not hide in a storm: the
process that claims the summary queues, right after it, the full alerts (mentions included)
of the ``storm_followups`` new errors with the most occurrences.
"""

from __future__ import annotations

from erralert._core.notice import Notice, Occurrences, Storm, culprit_code, error_type
from erralert._core.stand_in import stand_in_event
from erralert._delivery.booking import Bookings
from erralert._stores.base import Followup, Pile, StormEntry

__all__ = [
    "STORM_GATHER",
    "fold_into_storm",
    "followup_notice",
    "storm_entry",
    "summary_notice",
]

# a storm summary waits this long for more of the burst before it goes out, so that one
# summary covers the storm instead of a summary of one error followed by another
STORM_GATHER = 3.0


def storm_entry(key: str, notice: Notice) -> StormEntry:
    """What the storm summary of channel ``key`` keeps of ``notice``."""
    event = notice.event
    return StormEntry(
        fingerprint=event.fingerprint or event.title,
        title=event.title,
        culprit=event.culprit,
        count=notice.occurrences.count,
        window=notice.occurrences.window,
        type=error_type(event),
        code=culprit_code(event),
        is_new=notice.kind == "alert" and notice.occurrences.is_new,
        # the notice's own data for this channel, rendered when it is followed up
        mentions=notice.mentions,
        extra_mentions=next((e for k, e in notice.extra_mentions if k == key), ()),
    )


def summary_notice(pile: Pile) -> Notice:
    """The storm summary of a claimed ``pile``."""
    event = pile.sample
    if event is None:  # its sample could not be read back: the summary still goes out
        event = stand_in_event("error storm", now=pile.since)
    occurrences = Occurrences(
        count=pile.total,
        total=pile.total,
        first_seen=pile.since,
        last_seen=pile.until,
        window=pile.window,
        is_new=False,
        status="recurring",
    )
    storm = Storm(
        groups=pile.groups,
        total=pile.total,
        since=pile.since,
        until=pile.until,
        followups=len(pile.followups),
    )
    return Notice("storm", event, occurrences, storm=storm, created_at=pile.until)


def followup_notice(followup: Followup, key: str, index: int) -> Notice:
    """The alert of a new error that was folded into the storm of channel ``key`` (at
    ``index``), as it would have been sent (a new error's occurrences, its mentions on this
    channel), for this channel only."""
    seen = followup.event.timestamp
    occurrences = Occurrences(
        count=1,
        total=1,
        first_seen=seen,
        last_seen=seen,
        window=followup.window,
        is_new=True,
        window_start=seen,
        window_end=seen + followup.window,
        status="new",
        since=seen,
        first_release=followup.event.release,
    )
    extra = ((key, followup.extra_mentions),) if followup.extra_mentions else ()
    return Notice(
        "alert",
        followup.event,
        occurrences,
        created_at=seen,
        channels=(index,),
        mentions=followup.mentions,
        extra_mentions=extra,
    )


def fold_into_storm(
    bookings: Bookings, key: str, notice: Notice, now: float, max_delay: float
) -> bool:
    """Add ``notice`` to the storm summary of channel ``key`` (any thread; ``now``: UNIX
    time). True when the store failed and the summary is kept in this process instead."""
    gather = min(STORM_GATHER, max_delay)
    return bookings.fold(key, storm_entry(key, notice), notice.event, now, gather)

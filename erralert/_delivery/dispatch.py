"""The worker loop's side of an outbox: each message books its send slot in its channel's
lane, what cannot get one within ``max_delay`` is folded into the channel's storm summary
(see ``storms``), and each lane sends, judges and retries on its own.

Follow-ups — the full alerts of new errors a storm summary folded — book their sends like
any message but are never folded again: they wait for the channel's budget instead, so the
platform's limit holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from erralert._core.notice import Notice
from erralert._core.safelog import safe_logger
from erralert._delivery.booking import Bookings
from erralert._delivery.clock import Clock
from erralert._delivery.http import Sender, deliver
from erralert._delivery.lanes import Item, Lane
from erralert._delivery.spool import Spool, Spooled
from erralert._delivery.storms import (
    STORM_GATHER,
    fold_into_storm,
    followup_notice,
    summary_notice,
)
from erralert._delivery.tally import Tally
from erralert._stores.base import Pile
from erralert.channels.base import Channel, Judgement, Message, Verdict

__all__ = ["CLAIM_RETRY", "Dispatcher", "Limits", "Render"]

logger = safe_logger()

Render = Callable[[Notice, Channel], Message]

CLAIM_RETRY = 1.0  # seconds before a failed claim of a storm summary is tried again


@dataclass(frozen=True, slots=True)
class Limits:
    max_queue: int  # messages waiting per channel before they fold into a storm
    max_delay: float  # seconds a message may wait for its slot before it folds
    max_age: float  # seconds a failing message is retried before it is given up
    followups: int  # new errors folded into a storm that get their full alert after it


class Dispatcher:
    """One run of the worker's loop: a lane per channel, fed by ``route`` and ``adopt``.
    ``hurry()`` says the process is ending: storm summaries go out without gathering."""

    def __init__(
        self,
        channels: Sequence[Channel],
        render: Render,
        *,
        limits: Limits,
        bookings: Bookings,
        spool: Spool | None,
        tally: Tally,
        clock: Clock,
        hurry: Callable[[], bool],
    ) -> None:
        self.lanes = [Lane(c, i, c.key) for i, c in enumerate(channels)]
        self._render = render
        self._limits = limits
        self._bookings = bookings
        self._spool = spool
        self._tally = tally
        self._clock = clock
        self._hurry = hurry
        self._seq = itertools.count()

    def start(self, send: Sender) -> None:
        for lane in self.lanes:
            lane.task = asyncio.create_task(self._run_lane(lane, send))

    async def stop(self, *others: asyncio.Task[None]) -> None:
        """Cancel the lanes (and ``others``), and wait until they are gone."""
        for lane in self.lanes:
            if lane.task is not None:
                lane.task.cancel()
        await asyncio.gather(
            *(lane.task for lane in self.lanes if lane.task is not None),
            *others,
            return_exceptions=True,
        )

    def wake_all(self) -> None:
        for lane in self.lanes:
            lane.wake.set()

    def _now(self) -> tuple[float, float]:
        # The ledger counts in wall-clock time (shared between processes), the lanes in loop
        # time: both read now, together, so that a slot converts without drift.
        return asyncio.get_running_loop().time(), self._clock.wall()

    # -- routing and storms ------------------------------------------------------------------
    def route(self, routed: Sequence[tuple[int, Notice]]) -> None:
        """Queue each (channel index, notice), or fold it into the channel's storm."""
        loop_now = asyncio.get_running_loop().time()
        # durable before the first attempt: one transaction for everything routed now
        ids = self._spool_rows([(self.lanes[index].key, notice) for index, notice in routed])
        for (index, notice), spool_id in zip(routed, ids, strict=True):
            self._enqueue(self.lanes[index], notice, loop_now, spool_id)

    def pile(self, folded: Sequence[int], local: set[int]) -> None:
        """``folded[i]`` notices went into channel i's storm summary at capture (``local``:
        the channels whose summary this process keeps, the store having failed)."""
        loop_now = asyncio.get_running_loop().time()
        for lane, units in zip(self.lanes, folded, strict=True):
            if units:
                self._piled(lane, units, loop_now, local=lane.index in local)

    def adopt(self, orphans: Sequence[Spooled]) -> None:
        """Queue messages taken from the spool in their lanes, oldest first."""
        by_key = {lane.key: lane for lane in self.lanes}
        loop_now, wall = self._now()
        for orphan in orphans:
            lane = by_key[orphan.lane]
            # its age counts from when it was first queued, for max_age
            enqueued = loop_now - max(0.0, wall - orphan.created)
            slot = self._reserve(lane, 0.0, math.inf) if lane.rates else None
            item = Item(
                orphan.notice, 1, enqueued, loop_now if slot is None else slot, next(self._seq)
            )
            item.spool_ids = [orphan.id]
            self._push(lane, item)

    def _spool_rows(self, rows: Sequence[tuple[str, Notice]]) -> Sequence[int | None]:
        """Write ``rows`` to the spool (if any): their ids, or Nones when there is no spool
        or it failed (then delivery goes on without it, and says so)."""
        if self._spool is None:
            return [None] * len(rows)
        try:
            return self._spool.add(rows)
        except Exception as exc:
            logger.error("erralert: could not write to the spool: %s: %s", type(exc).__name__, exc)
            return [None] * len(rows)

    def _unspool(self, ids: Sequence[int]) -> None:
        if self._spool is not None and ids:
            try:
                self._spool.remove(ids)
            except Exception as exc:  # sent again after a restart: at least once
                logger.error(
                    "erralert: could not delete from the spool: %s: %s", type(exc).__name__, exc
                )

    def _finish(self, lane: Lane, item: Item) -> None:
        """``item`` is done with (delivered, refused or given up): out of the spool too; a
        storm summary's follow-ups are queued now."""
        self._unspool(item.spool_ids)
        self._tally.settle(lane.index, item.units)
        if item.followups:
            followups, item.followups = item.followups, []
            self._follow_up(lane, followups)

    def _enqueue(self, lane: Lane, notice: Notice, now: float, spool_id: int | None = None) -> None:
        """Book a slot for ``notice`` within ``max_delay`` (after any wait the platform
        imposed, keeping one slot for a storm summary), or fold it into the storm."""
        limits = self._limits
        blocked = max(0.0, lane.breaker.blocked_until - now)
        horizon = max(0.0, limits.max_delay - blocked)
        slot: float | None = None
        if lane.rates:
            slot = self._reserve(lane, blocked, horizon, keep=1, max_waiting=limits.max_queue - 1)
        elif len(lane.queue) < limits.max_queue - 1:  # unpaced: only the queue's size limits
            slot = now
        if slot is not None:
            item = Item(notice, 1, now, slot, next(self._seq))
            if spool_id is not None:
                item.spool_ids = [spool_id]
            self._push(lane, item)
            return
        local = fold_into_storm(
            self._bookings, lane.key, notice, self._clock.wall(), limits.max_delay
        )
        # folded: the summary that will carry it is spooled when it is claimed
        self._unspool([] if spool_id is None else [spool_id])
        self._tally.count(lane.index, "folded")
        self._piled(lane, 1, now, local=local)

    def _piled(self, lane: Lane, units: int, now: float, *, local: bool) -> None:
        """``units`` went into the lane's storm summary: claim it when its gathering ends."""
        lane.piled += units
        lane.local_storm = lane.local_storm or local
        if lane.storm_at is None:
            lane.storm_at = now + min(STORM_GATHER, self._limits.max_delay)
        lane.wake.set()

    def _reserve(
        self,
        lane: Lane,
        delay: float,
        horizon: float,
        *,
        keep: int = 0,
        max_waiting: int | None = None,
    ) -> float | None:
        """Book a send ``delay`` seconds from now: the slot in loop time, or None."""
        loop_now, wall = self._now()
        slot = self._bookings.reserve(
            lane.key, wall + delay, lane.rates, horizon, keep=keep, max_waiting=max_waiting
        )
        return None if slot is None else loop_now + max(0.0, slot - wall)

    def _claim_storm(self, lane: Lane, force: bool) -> None:
        """Take the lane's storm summary if its gathering is over (or ``force``)."""
        now, wall = self._now()
        try:
            result = self._bookings.claim(
                lane.key,
                wall,
                lane.rates,
                local=lane.local_storm,
                force=force,
                followups=self._limits.followups,
            )
        except Exception:
            logger.exception("erralert: could not claim the storm summary; retrying")
            lane.storm_at = now + CLAIM_RETRY
            return
        if isinstance(result, Pile):
            item = Item(None, lane.piled, now, now + max(0.0, result.slot - wall), next(self._seq))
            item.pile = result
            followups = [followup_notice(f, lane.key, lane.index) for f in result.followups]
            # the summary and its follow-ups: durable in one transaction
            spool_id, *followup_ids = self._spool_rows(
                [(lane.key, self._notice(item)), *((lane.key, n) for n in followups)]
            )
            if spool_id is not None:
                item.spool_ids = [spool_id]
            item.followups = list(zip(followups, followup_ids, strict=True))
            self._tally.add(lane.index, len(followups))  # owed from now on: a flush waits
            self._push(lane, item)
        elif result is None:
            # another process claimed it (and sends it): our share of it is settled
            self._tally.settle(lane.index, lane.piled)
        else:
            lane.storm_at = now + max(0.0, result - wall)
            return
        lane.piled = 0
        lane.storm_at = None
        lane.local_storm = False

    def _follow_up(self, lane: Lane, followups: Sequence[tuple[Notice, int | None]]) -> None:
        """Queue the full alerts of new errors a storm summary folded, now that it is done
        with (already owed: counted when it was claimed), each booked under the channel's
        rates with no horizon — like an adopted message, never folded into a storm again."""
        now = asyncio.get_running_loop().time()
        blocked = max(0.0, lane.breaker.blocked_until - now)
        for notice, spool_id in followups:
            slot = self._reserve(lane, blocked, math.inf) if lane.rates else None
            item = Item(notice, 1, now, now if slot is None else slot, next(self._seq))
            if spool_id is not None:
                item.spool_ids = [spool_id]
            self._push(lane, item)

    def _push(self, lane: Lane, item: Item) -> None:
        heapq.heappush(lane.queue, item)
        lane.wake.set()

    def _notice(self, item: Item) -> Notice:
        if item.notice is not None:
            return item.notice
        assert item.pile is not None
        return summary_notice(item.pile)

    # -- delivery -----------------------------------------------------------------------------
    async def _run_lane(self, lane: Lane, send: Sender) -> None:
        loop = asyncio.get_running_loop()
        breaker = lane.breaker
        while True:
            now = loop.time()
            hurry = self._hurry()
            if lane.storm_at is not None and (now >= lane.storm_at or hurry):
                self._claim_storm(lane, force=hurry)
                continue
            due = lane.storm_at
            if lane.queue:
                head = lane.queue[0].not_before
                head = max(head, breaker.blocked_until)
                due = head if due is None else min(due, head)
            if due is None:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            if due > now:
                lane.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.wake.wait(), due - now)
                continue
            if not lane.queue or max(lane.queue[0].not_before, breaker.blocked_until) > now:
                continue  # what was due was the storm claim (handled above)
            item = heapq.heappop(lane.queue)
            if now - item.enqueued >= self._limits.max_age:  # waited out a long outage
                self._lose(lane, item, "the channel kept failing")
                continue
            if item.message is None:
                # render before judging lateness: a first render compiles the template,
                # which can take longer than the margin a slot allows. In a thread of the
                # loop's pool: a custom template may take up to its allowance
                # (erralert._render.allowance.MAX_RENDER_SECONDS), and the other lanes deliver
                # meanwhile instead of waiting for it.
                try:
                    item.message = await self._render_aside(self._notice(item), lane.channel)
                except Exception:  # a bug in a channel or template: report it
                    logger.exception(
                        "erralert: could not render for %s; the message is lost", lane.channel.name
                    )
                    self._tally.count(lane.index, "lost")
                    self._finish(lane, item)
                    continue
                now = loop.time()
            if lane.rates and now - item.not_before > lane.tolerance:
                # Too late for its slot (the lane was busy, or the loop was): sent now, it
                # could land within the period of the sends booked after it. Book anew.
                slot = self._reserve(lane, 0.0, math.inf)
                item.not_before = now if slot is None else slot
                self._push(lane, item)
                continue
            wait = lane.arrivals.delay(now) if lane.rates else 0.0
            if wait > 0:
                # Platforms count a send when it arrives, which may be as late as its
                # answer (a slow first connection, a busy server): slots a margin apart
                # can still land closer than the period. Nothing starts until the sends
                # it is counted with are a full period behind it by their answers.
                item.not_before = now + wait
                self._push(lane, item)
                continue
            await self._attempt(lane, item, send)

    async def _render_aside(self, notice: Notice, channel: Channel) -> Message:
        """The message, rendered in a thread of the loop's pool; here when no thread can be
        started any more (at interpreter exit, after concurrent.futures has shut down)."""
        loop = asyncio.get_running_loop()
        try:
            rendering = loop.run_in_executor(None, self._render, notice, channel)
        except RuntimeError:
            return self._render(notice, channel)
        return await rendering

    async def _attempt(self, lane: Lane, item: Item, send: Sender) -> None:
        channel = lane.channel
        assert item.message is not None  # rendered by the lane before its slot
        try:
            judgement = await deliver(channel, item.message, send, self._clock.wall())
        except Exception as exc:  # a bug in a channel: report, don't loop
            logger.exception("erralert: could not deliver to %s", channel.name)
            judgement = Judgement(Verdict.FAIL, f"{type(exc).__name__}: {exc}")
        # refused or not, it may have been counted; and it arrived by now at the latest
        now = asyncio.get_running_loop().time()
        lane.arrivals.record(now)
        item.attempts += 1
        if judgement.verdict is Verdict.OK:
            self._tally.count(lane.index, "sent")
            failures = lane.breaker.reset()
            if failures:
                logger.warning(
                    "erralert: %s accepts messages again (after %d failed attempt(s))",
                    channel.name,
                    failures,
                )
            self._finish(lane, item)
            return
        if judgement.verdict is not Verdict.RETRY:
            self._refuse(lane, item, judgement.reason or "gave up")
            return
        pause = lane.breaker.trip(now, judgement.retry_after)
        if now - item.enqueued >= self._limits.max_age:
            self._lose(lane, item, judgement.reason or judgement.verdict.value)
            return
        self._tally.count(lane.index, "retried")
        self._push(lane, item)  # keeps its place: the oldest goes first when the lane resumes
        failures = lane.breaker.failures
        if failures == 1 or failures % 10 == 0:
            logger.warning(
                "erralert: %s answered %s; pausing it %.1f s (%d failure(s) in a row, "
                "%d message(s) waiting)",
                channel.name,
                judgement.reason or judgement.verdict.value,
                pause,
                failures,
                len(lane.queue),
            )

    def _lose(self, lane: Lane, item: Item, reason: str) -> None:
        """Give up on ``item`` after ``max_age`` of failures: counted, logged, never silent."""
        self._tally.count(lane.index, "lost")
        logger.error(
            "erralert: %s: gave up on the %s %r after %.0f s of failures (%s); "
            "%d message(s) lost so far",
            lane.channel.name,
            item.message.kind if item.message else "message",
            item.message.title if item.message else "?",
            self._limits.max_age,
            reason,
            self._tally.total("lost"),
        )
        self._finish(lane, item)

    def _refuse(self, lane: Lane, item: Item, reason: str) -> None:
        self._tally.count(lane.index, "refused")
        logger.error(
            "erralert: %s refused the %s %r: %s",
            lane.channel.name,
            item.message.kind if item.message else "message",
            item.message.title if item.message else "?",
            reason,
        )
        self._finish(lane, item)

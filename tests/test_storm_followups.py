"""Nothing hidden in a storm: a storm summary's view (grouped, new first, capped for a
phone) and the full alerts of the new errors folded into it, sent after it as soon as the
channel's budget allows."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

import erralert
from erralert._core.errors import ConfigError
from erralert._core.notice import (
    OTHER_ERRORS,
    STORM_LINES,
    Notice,
    Occurrences,
    Storm,
    StormGroup,
    StormLine,
    document,
    from_document,
)
from erralert._delivery.outbox import Outbox
from erralert._delivery.spool import Spool
from erralert._render.renderer import Renderer
from erralert._stores.base import Pile, Store, StormEntry
from erralert._stores.memory import MemoryStore
from erralert._stores.piles import PileState
from erralert._stores.redis import RedisStore
from erralert._stores.sqlite import SQLiteStore
from erralert.channels import parse_webhook
from erralert.channels.base import Channel, Message
from tests.samples import event
from tests.servers import redis_server
from tests.virtual_clock import VirtualClock, virtual_loops

# -- the summary's view ------------------------------------------------------------------------


def group(
    fp: str, type_: str, culprit: str, count: int, *, new: bool = False, title: str = ""
) -> StormGroup:
    return StormGroup(
        title or f"{type_}: {fp}", culprit, count, fingerprint=fp, type=type_, is_new=new
    )


def storm(*groups: StormGroup) -> Storm:
    ordered = sorted(groups, key=lambda g: (g.fingerprint == OTHER_ERRORS, -g.count))
    return Storm(groups=tuple(ordered), total=sum(g.count for g in groups), since=0.0, until=1.0)


def test_the_same_exception_at_the_same_culprit_is_one_line() -> None:
    view = storm(
        group("a", "KeyError", "shop.cart.add (shop/cart.py:12)", 5, title="KeyError: 'sku'"),
        group("b", "KeyError", "shop.cart.add (shop/cart.py:12)", 9, title="KeyError: 'qty'"),
        group("c", "KeyError", "shop.cart.add (shop/cart.py:12)", 1, new=True),
        group("d", "ValueError", "shop.cart.add (shop/cart.py:12)", 2),  # another type
        group("e", "KeyError", "shop.cart.remove (shop/cart.py:40)", 3),  # another place
    )
    assert view.kinds == (
        StormLine("KeyError: 'qty'", "shop.cart.add (shop/cart.py:12)", "KeyError", 15, 3, True),
        StormLine("KeyError: e", "shop.cart.remove (shop/cart.py:40)", "KeyError", 3, 1, False),
        StormLine("ValueError: d", "shop.cart.add (shop/cart.py:12)", "ValueError", 2, 1, False),
    )
    assert (view.errors, view.new_errors) == (5, 1)


def test_groups_without_a_type_or_culprit_are_merged_with_nothing() -> None:
    # kept by an earlier version (no type), or a message without a culprit
    view = storm(
        StormGroup("ValueError: x", "app.f (app.py:1)", 2, fingerprint="x"),
        StormGroup("ValueError: y", "app.f (app.py:1)", 1, fingerprint="y"),
        group("m1", "ERROR", "", 4, title="disk full"),
        group("m2", "ERROR", "", 3, title="queue stuck"),
    )
    assert [(k.title, k.errors) for k in view.kinds] == [
        ("disk full", 1),
        ("queue stuck", 1),
        ("ValueError: x", 1),
        ("ValueError: y", 1),
    ]


def test_new_errors_come_first_then_by_count_then_by_title_and_other_errors_last() -> None:
    view = storm(
        group(OTHER_ERRORS, "", "", 500, title="other errors"),
        group("big", "OSError", "a (a.py:1)", 90),
        group("n2", "KeyError", "b (b.py:1)", 2, new=True, title="KeyError: b"),
        group("n1", "KeyError", "c (c.py:1)", 2, new=True, title="KeyError: a"),
        group("n3", "TypeError", "d (d.py:1)", 7, new=True),
        group("old", "ValueError", "e (e.py:1)", 90, title="ValueError: 0"),
    )
    assert [(k.title, k.is_new, k.other) for k in view.kinds] == [
        ("TypeError: n3", True, False),
        ("KeyError: a", True, False),
        ("KeyError: b", True, False),
        ("OSError: big", False, False),
        ("ValueError: 0", False, False),
        ("other errors", False, True),
    ]
    other = view.kinds[-1]
    assert (other.count, other.errors) == (500, 0)  # how many errors: unknown
    assert (view.errors, view.new_errors) == (5, 3)  # the other errors are not counted


def test_a_summary_shows_eight_lines_and_counts_what_it_leaves_out() -> None:
    groups = [
        group(f"e{i:02d}", "ValueError", f"app.f{i} (app.py:{i})", 100 - i) for i in range(12)
    ]
    # three more fingerprints on the line of e11 (the last): hidden, each counted
    groups += [
        group(f"e11-{j}", "ValueError", "app.f11 (app.py:11)", 1, title=f"ValueError: {j}")
        for j in range(3)
    ]
    groups.append(group(OTHER_ERRORS, "", "", 40, title="other errors"))
    view = storm(*groups)
    assert STORM_LINES == 8
    assert len(view.kinds) == 13  # 12 lines of errors, one of other errors
    assert view.shown == view.kinds[:8]
    assert [k.title for k in view.shown] == [f"ValueError: e{i:02d}" for i in range(8)]
    # e08 … e11 (e11 standing for 4 errors) and the other errors are left out
    assert view.hidden_kinds == 3 + 4
    assert view.hidden_count == (92 + 91 + 90 + (89 + 3)) + 40
    assert view.errors == 15
    assert sum(k.count for k in view.shown) + view.hidden_count == view.total


@pytest.mark.parametrize(
    ("culprit", "at"),
    [
        ("shop.db.pool.connect (shop/db/pool.py:88)", "shop/db/pool.py:88"),
        ("Gateway.charge (shop/payments (v2)/gateway.py:12)", "shop/payments (v2)/gateway.py:12"),
        ("shop.db.pool.connect", "shop.db.pool.connect"),  # a culprit given by hand
        ("", ""),
    ],
)
def test_a_line_says_where_as_a_developer_greps_for_it(culprit: str, at: str) -> None:
    line = storm(group("a", "KeyError", culprit, 1)).kinds[0]
    assert line.at == at


def test_a_small_storm_hides_nothing() -> None:
    view = storm(group("a", "KeyError", "f (f.py:1)", 3, new=True))
    assert view.shown == view.kinds
    assert (view.hidden_kinds, view.hidden_count, view.errors, view.new_errors) == (0, 0, 1, 1)


def test_the_document_carries_type_and_newness_and_old_documents_load() -> None:
    sample = event()
    view = storm(
        dataclasses.replace(
            group("a", "KeyError", "f (f.py:1)", 3, new=True), code="return stock[sku]"
        ),
        group("b", "OSError", "", 1),
    )
    notice = Notice("storm", sample, Occurrences(4, 4, 0.0, 1.0, 60.0, False), storm=view)
    data = json.loads(json.dumps(document(notice)))
    assert data["storm"]["groups"][0] == {
        "title": "KeyError: a",
        "culprit": "f (f.py:1)",
        "count": 3,
        "fingerprint": "a",
        "type": "KeyError",
        "is_new": True,
        "code": "return stock[sku]",
    }
    assert from_document(data).storm == view
    for g in data["storm"]["groups"]:  # as an earlier version spooled it
        del g["type"], g["is_new"], g["code"]
    old = from_document(data).storm
    assert old is not None
    assert [(g.type, g.is_new, g.code) for g in old.groups] == [("", False, "")] * 2


# -- what a pile keeps ----------------------------------------------------------------------


def entry(fp: str, count: int = 1, *, new: bool = False, extra: tuple[str, ...] = ()) -> StormEntry:
    return StormEntry(
        fp,
        f"ValueError: {fp}",
        f"app.{fp} (app.py:1)",
        count,
        60.0,
        type="ValueError",
        is_new=new,
        mentions=new,
        extra_mentions=extra,
    )


def test_a_pile_kept_by_an_earlier_version_still_loads_folds_and_claims() -> None:
    old = {
        "since": 10.0,
        "not_before": 13.0,
        "window": 60.0,
        "sample": event().to_dict(),
        "until": 11.0,
        "total": 3,
        "groups": {"a": ["ValueError: a", "app.a (app.py:1)", 3]},
        "added by a later version": True,
    }
    pile = PileState.from_dict(old)
    pile.add(entry("a", 2, new=True), 12.0, event("a"))  # joins the old group
    pile.add(entry("b", new=True), 12.0, event("b"))
    claimed = pile.claimed(99.0, followups=5)
    assert [(g.fingerprint, g.count, g.type, g.is_new) for g in claimed.groups] == [
        ("a", 5, "ValueError", True),
        ("b", 1, "ValueError", True),
    ]
    assert [f.fingerprint for f in claimed.followups] == ["a", "b"]


def test_a_pile_passes_over_a_follow_up_it_cannot_read() -> None:
    pile = PileState.start(entry("a"), event(), 0.0, 3.0)
    pile.add(entry("a", 5, new=True), 0.0, event("a"))
    pile.add(entry("b", 2, new=True), 0.0, event("b"))
    pile.add(entry("c", 1, new=True), 0.0, event("c"))
    state = pile.to_dict()
    state["followups"]["a"]["event"] = {"written by": "another version"}
    claimed = PileState.from_dict(json.loads(json.dumps(state))).claimed(1.0, followups=2)
    assert [f.fingerprint for f in claimed.followups] == ["b", "c"]
    assert claimed.groups[0].is_new  # still listed, and new


# -- a pile in Redis written by an earlier version -----------------------------------------------

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


def test_a_redis_storm_written_by_an_earlier_version_is_claimed_without_follow_ups(
    redis_url: str,
) -> None:
    store = RedisStore(redis_url, namespace="followups-old-pile")
    client = redis.Redis.from_url(redis_url)
    try:
        store.add_to_storm("old-pile", entry("a", 2, new=True), event(), T0, 3)
        store.add_to_storm("old-pile", entry("b", new=True), event(), T0, 3)
        (key,) = client.keys("*:old-pile}:storm")
        # an earlier version wrote neither types nor follow-ups
        client.hdel(key, "t:a", "t:b", "f:a", "f:b")
        pile = store.claim_storm("old-pile", T0 + 3, (), followups=5)
        assert isinstance(pile, Pile)
        assert [(g.fingerprint, g.count, g.type, g.is_new) for g in pile.groups] == [
            ("a", 2, "", False),
            ("b", 1, "", False),
        ]
        assert pile.followups == ()
    finally:
        client.close()
        store.close()


# -- the outbox sends them after the summary ----------------------------------------------------

# DingTalk: 20 in any 60 s. The channel mentions a phone on new errors; an owner another.
DINGTALK = "dingtalk+http://dingtalk.test/robot/send?access_token=t&mention=13800000000"
OWNER = "13900000000"


class Platform:
    """A DingTalk stand-in: records each request (with the virtual time it arrived)."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((time.monotonic(), request))
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    @property
    def times(self) -> list[float]:
        return [at for at, _ in self.requests]

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for _, r in self.requests]


def max_in_any(times: list[float], period: float) -> int:
    """The most requests that arrived within any rolling ``period`` seconds."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < period) for i, start in enumerate(times))


def raise_each(alerter: erralert.Alerter, counts: list[int]) -> None:
    """Error ``i`` (a ValueError from its own function) ``counts[i]`` times, in order."""
    code = "\n".join(
        f"def f{i}():\n    raise ValueError('storm error {i:02d}')" for i in range(len(counts))
    )
    namespace: dict[str, Any] = {}
    exec(compile(code, "storm_source.py", "exec"), namespace)
    for i, count in enumerate(counts):
        for _ in range(count):
            try:
                namespace[f"f{i}"]()
            except ValueError as exc:
                alerter.capture_exception(exc)


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    with virtual_loops() as made:
        yield made


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[Notice]:
    """Every notice rendered, in the order the lanes render them (just before sending)."""
    notices: list[Notice] = []
    render = Renderer.render

    def recording(self: Renderer, notice: Notice, channel: Channel) -> Message:
        notices.append(notice)
        return render(self, notice, channel)

    monkeypatch.setattr(Renderer, "render", recording)
    return notices


def test_a_storm_of_40_new_errors_on_dingtalk_hides_none_of_them(
    clock: VirtualClock, rendered: list[Notice]
) -> None:
    # Every error occurs at least twice, some more: the 1 s window makes their repeats a
    # digest within the storm's gathering, so the summary holds all 40 with their counts.
    # max_delay 30 s: with the default 60 s a digest a second later could already book a
    # send in the next rolling minute instead of folding (see test_delivery.py).
    counts = [2] * 40
    counts[3] = 12  # big, but alerted before the storm: not new in it
    biggest_new = {22: 9, 27: 8, 31: 7, 35: 6, 38: 5}
    counts[20] = 4  # new and bigger than the rest, but sixth
    for i, count in biggest_new.items():
        counts[i] = count
    platform = Platform()
    alerter = erralert.Alerter(
        [DINGTALK],
        window=1,
        max_delay=30,
        owners={"storm_source.py": [f"dingtalk:{OWNER}"]},
        transport=httpx.MockTransport(platform),
        service="checkout",
        environment="production",
    )
    try:
        raise_each(alerter, counts)
        clock.skip()
        assert alerter.flush(300)  # waits for the follow-ups too
        kinds = [n.kind for n in rendered]
        # 19 alerts at once (the 20th send of the minute is kept for the summary), the
        # summary, then the five new errors with the most occurrences, in full
        assert kinds == ["alert"] * 19 + ["storm"] + ["alert"] * 5
        assert len(platform.requests) == 25

        summary = rendered[19].storm
        assert summary is not None
        assert summary.errors == 40
        assert summary.new_errors == 21  # e19 … e39: their alerts were folded
        assert summary.total == sum(counts) - 19  # every occurrence not alerted
        assert len(summary.shown) == 8
        assert len(summary.kinds) == 40
        assert (summary.hidden_kinds, summary.hidden_count) == (
            32,
            sum(k.count for k in summary.kinds[8:]),
        )
        # new first, by count: the five followed up, then e20, then the other new ones
        assert [k.title for k in summary.shown[:6]] == [
            f"ValueError: storm error {i:02d}" for i in (22, 27, 31, 35, 38, 20)
        ]
        assert all(k.is_new for k in summary.kinds[:21])
        assert not any(k.is_new for k in summary.kinds[21:])

        followups = rendered[20:]
        # the five biggest new ones (booked biggest first; a lane that finds one late on a
        # loaded machine books it again behind the others, so their order is not promised)
        assert sorted(n.event.title for n in followups) == [
            f"ValueError: storm error {i:02d}" for i in sorted(biggest_new)
        ]
        for notice in followups:
            assert notice.occurrences.is_new
            assert notice.occurrences.status == "new"
            assert notice.channels == (0,)
        bodies = platform.bodies()
        for body in bodies[20:]:  # mentions ring: the channel's phone and the owner's
            assert body["at"]["atMobiles"] == ["13800000000", OWNER]
            assert f"@{OWNER}" in body["markdown"]["text"]
        assert "at" not in bodies[19] or not bodies[19]["at"].get("atMobiles")

        # what the phone shows: where, in the notification's title; every error counted;
        # new ones first and marked; the list grouped and capped, the rest counted
        markdown = bodies[19]["markdown"]
        assert markdown["title"] == (
            f"🌪 [checkout·prod] Error storm: {summary.total} errors, 40 kinds"
        )
        text = markdown["text"]
        assert f"{summary.total} errors of 40 kinds in " in text
        assert "🆕 21 new errors: the full alerts of the 5 largest follow" in text
        items = [line for line in text.splitlines() if line.startswith("- ")]
        assert len(items) == 9  # 8 errors and the line that counts the rest
        assert items[0].startswith("- 🆕 **\u00d79** ValueError: storm error 22 · ")
        assert all(item.startswith("- 🆕 ") for item in items[:8])
        assert items[8] == f"- … and 32 more kinds ({summary.hidden_count} errors)"
        assert len(text.splitlines()) <= 25  # one phone screen, not a scroll through 40
        assert "checkout · production" in text

        # the platform's limit held: the follow-ups waited for the next minute
        assert max_in_any(platform.times, 60.0) <= 20
        assert platform.times[20] - platform.times[0] >= 60.0
        # nothing lost: alerts sent + the summary's occurrences = every occurrence
        assert 19 + summary.total == sum(counts)
    finally:
        alerter.close(1)


def test_storm_followups_zero_sends_only_the_summary(
    clock: VirtualClock, rendered: list[Notice]
) -> None:
    platform = Platform()
    alerter = erralert.Alerter(
        [DINGTALK], storm_followups=0, transport=httpx.MockTransport(platform)
    )
    try:
        raise_each(alerter, [1] * 25)
        clock.skip()
        assert alerter.flush(300)
        assert [n.kind for n in rendered] == ["alert"] * 19 + ["storm"]
        assert rendered[-1].storm is not None
        assert rendered[-1].storm.new_errors == 6
    finally:
        alerter.close(1)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "5"])
def test_storm_followups_must_be_a_count(bad: object) -> None:
    with pytest.raises(ConfigError, match="storm_followups"):
        erralert.Alerter(["console://"], storm_followups=bad)  # type: ignore[arg-type]


def test_storm_followups_can_be_set_in_the_configuration_file(tmp_path: Path) -> None:
    from erralert._core.config import file_options

    path = tmp_path / "erralert.toml"
    path.write_text("storm_followups = 2\n")
    assert file_options(path) == {"storm_followups": 2}
    path.write_text('storm_followups = "two"\n')
    with pytest.raises(ConfigError, match="storm_followups: expected an integer"):
        file_options(path)


# -- the outbox with each shared ledger, and with a spool ------------------------------------------


def new_alert(i: int, channel: Channel) -> Notice:
    sample = dataclasses.replace(
        event(f"storm error {i:02d}", exc_type=f"Error{i:02d}"), fingerprint=f"fp{i:02d}"
    )
    seen = sample.timestamp
    return Notice(
        "alert",
        sample,
        Occurrences(1, 1, seen, seen, 60.0, True),
        mentions=True,
        extra_mentions=((channel.key, (OWNER,)),),
    )


def digest(notice: Notice, count: int) -> Notice:
    seen = notice.event.timestamp
    return Notice("digest", notice.event, Occurrences(count, count + 1, seen, seen, 60.0, False))


class RecordingSpool(Spool):
    """A spool that remembers what was written to it, batch by batch."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[list[Notice]] = []

    def add(self, rows: Any) -> list[int]:
        self.batches.append([notice for _, notice in rows])
        return super().add(rows)


def run_outbox(
    clock: VirtualClock, ledger: Store, spool: Spool | None = None, *, slow_summary: float = 0.0
) -> tuple[list[Notice], Platform]:
    """24 new errors at once on DingTalk, four of them with repeats folded in too.
    ``slow_summary``: seconds the storm summary's render takes (a busy host)."""
    channel = parse_webhook(DINGTALK)
    renderer = Renderer()
    notices: list[Notice] = []

    def render(notice: Notice, target: Channel) -> Message:
        notices.append(notice)
        if notice.kind == "storm" and slow_summary:
            clock.advance(slow_summary)  # its slot has passed when it is ready
        return renderer.render(notice, target)

    platform = Platform()
    outbox = Outbox(
        [channel],
        render,
        transport=httpx.MockTransport(platform),
        ledger=ledger,
        spool=spool,
        storm_followups=3,
    )
    try:
        alerts = [new_alert(i, channel) for i in range(24)]
        for notice in alerts:
            outbox.submit(notice)
        for i, count in ((20, 4), (21, 9), (22, 2), (2, 50)):
            outbox.submit(digest(alerts[i], count))
        clock.skip()
        assert outbox.flush(300)
    finally:
        outbox.close(1)
    return notices, platform


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_the_outbox_follows_up_through_every_shared_ledger(
    kind: str, clock: VirtualClock, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ledger: Store
    if kind == "memory":
        ledger = MemoryStore()
    elif kind == "sqlite":
        ledger = SQLiteStore(str(tmp_path / "ledger.db"))
    else:
        ledger = RedisStore(request.getfixturevalue("redis_url"), namespace="outbox-followups")
    try:
        notices, platform = run_outbox(clock, ledger)
    finally:
        ledger.close()
    assert [n.kind for n in notices] == ["alert"] * 19 + ["storm"] + ["alert"] * 3
    summary = notices[19].storm
    assert summary is not None
    assert (summary.errors, summary.new_errors) == (6, 5)  # fp19 … fp23, and fp02's digest
    assert [n.event.fingerprint for n in notices[20:]] == ["fp21", "fp20", "fp22"]
    assert max_in_any(platform.times, 60.0) <= 20
    for body in platform.bodies()[20:]:
        assert body["at"]["atMobiles"] == ["13800000000", OWNER]


def test_a_summary_that_misses_its_slot_still_goes_before_its_follow_ups(
    clock: VirtualClock,
) -> None:
    """Its render took 5 s (a busy host): the summary is booked again, after the slot it
    missed — and the full alerts it announces wait for it, rather than go first."""
    notices, platform = run_outbox(clock, MemoryStore(), slow_summary=5.0)
    assert [n.kind for n in notices].count("storm") == 1
    texts = [json.dumps(body, ensure_ascii=False) for body in platform.bodies()]
    assert len(texts) == 23
    storm_at = next(i for i, text in enumerate(texts) if "🌪" in text)
    assert storm_at == 19  # after the 19 alerts the budget allowed, before the follow-ups
    for text, n in zip(texts[20:], (21, 20, 22), strict=True):
        assert f"storm error {n}" in text
    assert max_in_any(platform.times, 60.0) <= 20


def test_follow_ups_are_spooled_with_their_summary_and_removed_once_sent(
    clock: VirtualClock, tmp_path: Path
) -> None:
    spool = RecordingSpool(tmp_path / "spool.db")
    try:
        run_outbox(clock, MemoryStore(), spool)
        # one transaction: the summary, then its follow-ups (with their mention data)
        (batch,) = [b for b in spool.batches if any(n.kind == "storm" for n in b)]
        assert [n.kind for n in batch] == ["storm", "alert", "alert", "alert"]
        assert [n.event.fingerprint for n in batch[1:]] == ["fp21", "fp20", "fp22"]
        assert all(n.mentions and n.extra_mentions for n in batch[1:])
        assert len(spool) == 0  # all delivered
    finally:
        spool.close()

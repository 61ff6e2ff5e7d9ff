"""erralert.testing.capture_alerts(): each block counts from scratch, records what would be
sent and sends none of it — not during the test, not as a digest when the process exits;
and the README's "Testing your app" file passes as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from freezegun import freeze_time

import erralert
from erralert.testing import capture_alerts
from tests.receiver import Receiver

README = Path(__file__).resolve().parent.parent / "README.md"
HOOK = "webhook+https://alerts.example.com/hook"


def fail(n: int = 1) -> None:
    raise ValueError(f"card declined for order {n}")


def capture(alerter: erralert.Alerter, n: int = 1) -> None:
    try:
        fail(n)
    except ValueError as exc:
        alerter.capture_exception(exc)


class Webhook:
    """A chat that answers every request, and remembers each one's JSON."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(json.loads(request.content))
        return httpx.Response(200, text="ok")

    def kinds(self) -> list[tuple[object, object]]:
        return [(m["kind"], m["occurrences"]["count"]) for m in self.received]  # type: ignore[index]


def alerter_for(webhook: Webhook, **options: object) -> erralert.Alerter:
    return erralert.Alerter([HOOK], transport=httpx.MockTransport(webhook), **options)  # type: ignore[arg-type]


def test_each_block_alerts_the_same_error_again_and_sends_nothing() -> None:
    webhook = Webhook()
    alerter = alerter_for(webhook)
    for _ in range(2):  # two tests in a row
        with capture_alerts() as alerts:
            capture(alerter)
            capture(alerter)  # a repeat inside the block: counted, not alerted
        assert [a.kind for a in alerts] == ["alert"]
        assert alerts[0].payload["kind"] == "alert"
        assert alerts[0].request is not None
        assert str(alerts[0].request.url) == "https://alerts.example.com/hook"
    assert alerter.close(5)  # the end of the process: the blocks' repeats are not a digest
    assert webhook.received == []


def test_what_happens_outside_a_block_is_neither_seen_nor_changed_by_it() -> None:
    webhook = Webhook()
    alerter = alerter_for(webhook)
    capture(alerter)  # before the block: a real alert
    assert alerter.flush(5)
    assert webhook.kinds() == [("alert", 1)]
    with capture_alerts() as alerts:
        capture(alerter)  # already alerted outside: in the block, a fresh count
    assert [(a.kind, a.notice.occurrences.count) for a in alerts] == [("alert", 1)]
    capture(alerter)  # after the block: a repeat of the real window, as if there was none
    assert alerter.close(5)
    # the real window's digest counts the one repeat outside the block only
    assert webhook.kinds() == [("alert", 1), ("digest", 1)]


def test_a_block_for_one_alerter_leaves_the_others_sending() -> None:
    recorded, sent = Webhook(), Webhook()
    alerter, other = alerter_for(recorded), alerter_for(sent)
    with capture_alerts(alerter) as alerts:
        capture(alerter)
        capture(other)
        assert other.flush(5)
    assert [a.kind for a in alerts] == ["alert"]
    assert sent.kinds() == [("alert", 1)]
    assert alerter.close(5)
    assert other.close(5)
    assert recorded.received == []


def test_repeats_become_a_digest_in_the_block_when_flushed() -> None:
    webhook = Webhook()
    alerter = alerter_for(webhook, window=60)
    with freeze_time("2026-01-01 00:00:00") as frozen, capture_alerts() as alerts:
        for n in range(4):
            capture(alerter, n)
        frozen.tick(61)  # the window has ended
        alerter.flush(1)
        assert [(a.kind, a.notice.occurrences.count) for a in alerts] == [
            ("alert", 1),
            ("digest", 3),
        ]
        capture(alerter)  # the next window opened with the digest: repeats of it
        capture(alerter)
        alerter.flush(1, final=True)  # the process is about to end: open windows now
        assert [(a.kind, a.notice.occurrences.count) for a in alerts[2:]] == [("digest", 2)]
    assert alerter.close(5)
    assert webhook.received == []


def test_a_given_store_keeps_what_the_block_counted(tmp_path: Path) -> None:
    from erralert._stores.memory import MemoryStore

    store = MemoryStore()
    webhook = Webhook()
    alerter = alerter_for(webhook)
    with capture_alerts(store=store) as alerts:
        capture(alerter)
        capture(alerter)
    assert [a.kind for a in alerts] == ["alert"]
    (due,) = store.drain(10.0**10)
    assert due.occurrences.count == 1  # the repeat, left in the store given
    assert alerter.close(5)
    assert webhook.received == []  # the alerter's own store never saw them


@pytest.mark.e2e
def test_nothing_captured_is_posted_when_the_process_exits(receiver: Receiver) -> None:
    """The process's exit flush (atexit) posts the real alert made after the block, and
    nothing of what the block captured — its repeats made no digest."""
    script = textwrap.dedent(
        f"""
        import erralert
        from erralert.testing import capture_alerts

        erralert.init(webhooks=["webhook+{receiver.base}/hook"])

        def fail():
            raise ValueError("card declined")

        def fail_for_real():
            raise KeyError("order 1042")

        with capture_alerts() as alerts:
            for _ in range(3):
                try:
                    fail()
                except ValueError:
                    erralert.capture_exception()
        assert [a.kind for a in alerts] == ["alert"], alerts
        try:
            fail_for_real()
        except KeyError:
            erralert.capture_exception()
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    posted = [(r.json["kind"], r.json["event"]["title"]) for r in receiver.requests]
    assert posted == [("alert", "KeyError: 'order 1042'")]


@pytest.mark.e2e
def test_the_readme_testing_example_passes_as_written(tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("## Testing your app", 1)[1]
    found = re.search(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    assert found, "the README's testing example is gone"
    named = re.search(r"A complete test file, `([\w.]+)`", section)
    assert named, "the README no longer names the test file"
    (tmp_path / named.group(1)).write_text(found.group(1), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", named.group(1)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b2 passed\b", done.stdout), done.stdout

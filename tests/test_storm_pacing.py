"""A storm of distinct errors against a paced platform: the platform's rolling limit is
never exceeded, and every error reaches chat as an alert or inside a storm summary."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

import erralert
from tests.receiver import Answer, Receiver

pytestmark = pytest.mark.slow


def raise_distinct(alerter: erralert.Alerter, count: int) -> None:
    code = "\n".join(
        f"def f{i}():\n    raise ValueError('storm error {i:02d}')" for i in range(count)
    )
    namespace: dict[str, object] = {}
    exec(compile(code, "storm_source.py", "exec"), namespace)
    for i in range(count):
        try:
            namespace[f"f{i}"]()  # type: ignore[operator]
        except ValueError as exc:
            alerter.capture_exception(exc)


def max_in_any(times: list[float], period: float) -> int:
    """The most requests that arrived within any rolling ``period`` seconds."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < period) for i, start in enumerate(times))


STORMS = [
    # platform URL, success answer, the platform's limits, options
    # (on DingTalk the follow-up alerts of the new errors wait for the next rolling minute:
    # tests/test_storm_followups.py sends them in virtual time; here, real time, none)
    (
        "dingtalk+{base}/robot/send?access_token=t",
        {"errcode": 0, "errmsg": "ok"},
        [(20, 60.0)],
        {"storm_followups": 0},
    ),
    # 5 per second: with max_delay 4 s about 20 go out as alerts, the rest in one summary
    (
        "feishu+{base}/open-apis/bot/v2/hook/abc",
        {"code": 0, "msg": "success"},
        [(5, 1.0), (100, 60.0)],
        {"max_delay": 4.0},
    ),
]


@pytest.mark.parametrize(("url", "ok", "limits", "options"), STORMS)
def test_storm_respects_the_rolling_limit_and_loses_nothing(
    receiver: Receiver,
    url: str,
    ok: dict[str, object],
    limits: list[tuple[int, float]],
    options: dict[str, float],
) -> None:
    receiver.default = Answer(body=ok)
    alerter = erralert.Alerter([url.format(base=receiver.base)], **options)  # type: ignore[arg-type]
    raise_distinct(alerter, 60)
    assert alerter.flush(30)
    requests = receiver.requests
    times = [r.at for r in requests]
    for limit, period in limits:
        assert max_in_any(times, period) <= limit
    text = "\n".join(r.body.decode() for r in requests)
    # every error is alerted, listed in a summary, or counted in one ("… and 33 more
    # kinds"): a summary lists what a phone screen holds
    shown = [i for i in range(60) if f"storm error {i:02d}" in text]
    counted = sum(int(n) for n in re.findall(r"… and (\d+) more kinds? ", text))
    assert len(shown) + counted == 60
    assert "storm" in text.lower()
    alerter.close(0.5)


def test_a_send_that_arrives_late_still_keeps_the_next_ones_a_period_apart() -> None:
    # The platform counts each request when it arrives. The first one here is slow to get
    # there (a cold connection, a busy server: 0.6 s); sends booked a margin apart would
    # then land three within one second on a 2-per-second platform. The lane waits until
    # the sends it is counted with are a period behind by their answers.
    arrivals: list[float] = []
    lock = threading.Lock()

    def platform(request: httpx.Request) -> httpx.Response:
        with lock:
            if not arrivals:
                time.sleep(0.6)
            arrivals.append(time.monotonic())
        return httpx.Response(200, text="ok")

    alerter = erralert.Alerter(
        ["slack+http://chat.test/services/T/B/X?rate=2/1"],
        transport=httpx.MockTransport(platform),
        window=60,
    )
    raise_distinct(alerter, 5)
    assert alerter.flush(15)
    alerter.close(1)
    assert len(arrivals) == 5
    assert max_in_any(arrivals, 1.0) <= 2, [round(t - arrivals[0], 2) for t in arrivals]

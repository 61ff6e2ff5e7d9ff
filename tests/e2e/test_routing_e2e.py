"""Issue 9's acceptance, end to end through a Starlette app with ``ASGIMiddleware``:
payments errors go to the payments DingTalk room and mention the owner of the payments
code (``at.atMobiles``), once; their digest mentions nobody; every other error goes to the
Slack room only. And an error routed to two rooms (``continue``) is counted once and shows
up once in each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from freezegun import freeze_time
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import erralert
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Answer, Receiver
from tests.shop import catalog
from tests.shop.payments import charge

OWNER = "13800000000"


def shop_app(alerter: erralert.Alerter) -> TestClient:
    async def pay(request: Request) -> PlainTextResponse:
        charge.charge(int(request.path_params["order_id"]))
        return PlainTextResponse("paid")

    async def price(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(catalog.price_of(request.path_params["sku"])))

    app = Starlette(routes=[Route("/orders/{order_id}/pay", pay), Route("/prices/{sku}", price)])
    app.add_middleware(erralert.ASGIMiddleware, alerter=alerter)
    return TestClient(app, raise_server_exceptions=False)


def shop_alerter(ding: str, slack: str, **options: object) -> erralert.Alerter:
    return erralert.Alerter(
        [slack],  # the default route: everything that is not payments'
        routes=[
            {
                "name": "payments",
                "match": {"exception": "tests.shop.payments.PaymentError"},
                "webhooks": [ding],
            }
        ],
        owners={"shop/payments/**": [f"dingtalk:{OWNER}"]},
        window=300,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def frozen() -> Iterator[object]:
    with freeze_time("2026-11-27 09:00:00") as f:
        yield f


def by_platform(alerts: list[CapturedAlert]) -> list[tuple[str, str]]:
    return [(a.platform, a.kind) for a in alerts]


def test_payments_error_reaches_only_dingtalk_and_mentions_the_owner_once(frozen: object) -> None:
    alerter = shop_alerter("dingtalk://PAYMENTS_TOKEN", "slack://T000/B000/XXXX", store="memory://")
    client = shop_app(alerter)
    with capture_alerts(alerter) as alerts:
        assert client.get("/orders/7/pay").status_code == 500
        assert by_platform(alerts) == [("dingtalk", "alert")]
        first = alerts[0].payload
        assert first["at"]["atMobiles"] == [OWNER]
        assert f"@{OWNER}" in first["markdown"]["text"]  # DingTalk highlights it only so
        assert first["at"].get("isAtAll") in (None, False)

        assert client.get("/orders/8/pay").status_code == 500  # a repeat: counted
        assert client.get("/orders/9/pay").status_code == 500
        assert by_platform(alerts) == [("dingtalk", "alert")]
        frozen.tick(301)  # type: ignore[attr-defined]
        alerter.flush(5)
        assert by_platform(alerts) == [("dingtalk", "alert"), ("dingtalk", "digest")]
        digest = alerts[1]
        assert digest.notice.occurrences.count == 2
        assert not digest.payload.get("at", {}).get("atMobiles")  # digests mention nobody
        assert OWNER not in digest.payload["markdown"]["text"]

        assert client.get("/prices/coffee").status_code == 500
        assert by_platform(alerts)[2:] == [("slack", "alert")]
        assert OWNER not in str(alerts[2].payload)
        assert alerts[2].notice.event.title.startswith("KeyError")
    alerter.close(1)


def test_the_real_requests_go_to_their_own_room(receiver: Receiver) -> None:
    base = f"127.0.0.1:{receiver.port}"
    # each answers as its platform does when it accepts a message
    receiver.answer_for = lambda got: (
        Answer(body={"errcode": 0, "errmsg": "ok"}) if got.path == "/robot/send" else None
    )
    alerter = shop_alerter(
        f"dingtalk+http://{base}/robot/send?access_token=PAY",
        f"slack+http://{base}/services/T000/B000/XXXX",
    )
    client = shop_app(alerter)
    assert client.get("/orders/7/pay").status_code == 500
    assert client.get("/prices/coffee").status_code == 500
    assert alerter.flush(10)
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/robot/send", "/services/T000/B000/XXXX"]
    ding = next(r for r in got if r.path == "/robot/send")
    slack = next(r for r in got if r.path != "/robot/send")
    assert ding.query["access_token"] == "PAY"
    assert ding.json["at"]["atMobiles"] == [OWNER]
    assert "PaymentDeclined" in ding.json["markdown"]["title"] + ding.json["markdown"]["text"]
    assert "KeyError" in slack.text
    assert OWNER not in slack.text
    alerter.close(1)
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("store", ["memory://", "sqlite"])
def test_an_error_routed_to_two_rooms_is_counted_once_and_shown_once_in_each(
    frozen: object, store: str, tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/erralert.db" if store == "sqlite" else store
    alerter = erralert.Alerter(
        ["slack://T000/B000/XXXX"],
        routes=[
            {
                "match": {"exception": "PaymentError"},
                "webhooks": ["dingtalk://PAYMENTS_TOKEN"],
                "continue": True,
            },
            {"match": {"path": "shop/**"}, "webhooks": ["feishu://ops-hook-id"]},
        ],
        window=300,
        store=url,
    )
    client = shop_app(alerter)
    with capture_alerts(alerter) as alerts:
        for order in range(5):
            assert client.get(f"/orders/{order}/pay").status_code == 500
        assert by_platform(alerts) == [("dingtalk", "alert"), ("feishu", "alert")]
        # past the window, and past the guard a shared store keeps for other processes
        frozen.tick(305)  # type: ignore[attr-defined]
        alerter.flush(5)
        assert by_platform(alerts)[2:] == [("dingtalk", "digest"), ("feishu", "digest")]
        # one count for both rooms: each digest tells the same 4 repeats of 5 occurrences
        assert [a.notice.occurrences.count for a in alerts[2:]] == [4, 4]
        assert [a.notice.occurrences.total for a in alerts[2:]] == [5, 5]
        assert alerts[2].notice is alerts[3].notice  # one notice, two rooms
        assert not any(a.platform == "slack" for a in alerts)
    alerter.close(1)


def test_a_route_window_and_a_silence_rule(frozen: object) -> None:
    alerter = erralert.Alerter(
        ["slack://T000/B000/XXXX"],
        routes=[
            {
                "name": "quick",
                "match": {"exception": "PaymentError"},
                "webhooks": ["dingtalk://PAYMENTS_TOKEN"],
                "window": 60,
            },
            {"name": "unknown-sku", "match": {"exception": "KeyError"}, "webhooks": []},
        ],
        window=300,
    )
    client = shop_app(alerter)
    with capture_alerts(alerter) as alerts:
        for _ in range(3):
            assert client.get("/orders/1/pay").status_code == 500
            assert client.get("/prices/coffee").status_code == 500
        frozen.tick(61)  # type: ignore[attr-defined]
        alerter.flush(5)
        # the payments route's 60 s window has ended; the default 300 s would not have
        assert by_platform(alerts) == [("dingtalk", "alert"), ("dingtalk", "digest")]
        assert alerts[1].notice.occurrences.count == 2
    silenced = alerter.silenced()
    assert list(silenced) == ["unknown-sku"]
    assert silenced["unknown-sku"].count == 3
    alerter.close(1)


def test_a_message_is_routed_by_its_culprit_frame() -> None:
    alerter = erralert.Alerter(
        ["slack://T000/B000/XXXX"],
        routes=[{"match": {"path": "shop/catalog.py"}, "webhooks": ["feishu://catalog-hook"]}],
    )
    with capture_alerts(alerter) as alerts:
        catalog.warn_low_stock(alerter, "tea")  # culprit: tests/shop/catalog.py
        alerter.capture_message("disk almost full")  # culprit: this test file
    assert [a.platform for a in alerts] == ["feishu", "slack"]
    assert "stock of tea is low" in alerts[0].title
    assert "disk almost full" in alerts[1].title
    alerter.close(1)

"""Charging a card: the culprit frame of the payments errors in the routing tests."""

from tests.shop.payments import PaymentDeclined


def charge(order_id: int) -> None:
    raise PaymentDeclined(f"card declined for order {order_id}")

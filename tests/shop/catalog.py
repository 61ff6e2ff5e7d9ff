"""The catalog: the culprit frame of the errors that are not payments'."""

from typing import Any


def price_of(sku: str) -> int:
    prices = {"tea": 4}
    return prices[sku]  # KeyError for an unknown sku


def warn_low_stock(alerter: Any, sku: str) -> None:
    """Reports a message (no exception): its culprit frame is this one."""
    alerter.capture_message(f"stock of {sku} is low", level="warning")

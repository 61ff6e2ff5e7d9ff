"""A nightly job with erralert: it converts yesterday's orders to euros and fails on a
currency it has no rate for. Nothing in it catches the error: the process still dies
with its traceback on stderr and a non-zero exit status, and the team's chat hears about
it before the process is gone.

    ERRALERT_WEBHOOKS=slack://T000/B000/XXXX python integrations/cron_script.py

    # crontab: 15 2 * * *  ERRALERT_WEBHOOKS=... /usr/bin/python3 /srv/shop/cron_script.py
"""

from __future__ import annotations

import erralert

erralert.init(excepthooks=True)  # erralert: the one line

RATES_TO_EUR = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}
ORDERS = [(1001, 25.0, "EUR"), (1002, 40.0, "USD"), (1003, 12.5, "CHF")]


def to_eur(amount: float, currency: str) -> float:
    return amount * RATES_TO_EUR[currency]  # KeyError: 'CHF' — nobody added its rate


def nightly_total() -> float:
    return sum(to_eur(amount, currency) for _, amount, currency in ORDERS)


if __name__ == "__main__":
    print(f"total: {nightly_total():.2f} EUR")

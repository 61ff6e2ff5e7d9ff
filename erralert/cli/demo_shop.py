"""The demo's shop, as the source files of a small application.

``erralert demo`` writes these files into a scratch directory and imports them from there,
so that its errors come from an application's own files (``shop/payments.py``), not from
erralert's package: the alerts show what they show for a real app — the app's line as
code, library frames folded, project-relative paths that exist under that directory.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["PACKAGE", "SOURCES", "WAREHOUSES", "install"]

PACKAGE = "shop"
WAREHOUSES = 12  # distinct call paths to one failing function: a storm of near-identical errors

_PAYMENTS = '''\
"""Charging a card through the payment provider."""


class PaymentDeclined(Exception):
    """The provider declined the card."""


def charge(order_id: int, total: float) -> None:
    answer = {"status": "declined", "decline_code": "insufficient_funds"}
    if answer["status"] == "declined":
        raise PaymentDeclined(f"card declined for order {order_id}: {answer['decline_code']}")
'''

_PARTNERS = '''\
"""Quotes from the shipping partner, whose API sometimes answers with an HTML error page."""

import json


def parse_quote(body: str) -> dict[str, object]:
    quote: dict[str, object] = json.loads(body)
    return quote
'''

_REPORTS = '''\
"""The daily report."""


def average_order(revenue: float, orders: int) -> float:
    return revenue / orders
'''

_WAREHOUSE = '''\
"""Stock levels, asked of each warehouse."""


def check(site: int) -> int:
    raise ConnectionError(f"warehouse {site} is not answering")
'''

# one caller per warehouse: each its own call path (its own fingerprint) to the same culprit
_STOCK = '"""One stock check per warehouse."""\n\nfrom shop.warehouse import check\n' + "".join(
    f"\n\ndef stock_at_site_{site}() -> int:\n    return check({site})\n"
    for site in range(WAREHOUSES)
)

_VIEWS = '''\
"""The shop's request handlers."""

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from shop import partners, payments, reports, stock


async def pay(request: Request) -> PlainTextResponse:
    payments.charge(int(request.path_params["order_id"]), total=49.9)
    return PlainTextResponse("paid")


async def shipping_quote(request: Request) -> PlainTextResponse:
    quote = partners.parse_quote("<html>502 Bad Gateway</html>")
    return PlainTextResponse(str(quote))


async def daily_report(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"average order: {reports.average_order(1250.0, 0):.2f}")


async def stock_level(request: Request) -> PlainTextResponse:
    site = int(request.path_params["site"])
    return PlainTextResponse(str(getattr(stock, f"stock_at_site_{site}")()))
'''

SOURCES: dict[str, str] = {
    "__init__.py": '"""A small shop: the demo application."""\n',
    "payments.py": _PAYMENTS,
    "partners.py": _PARTNERS,
    "reports.py": _REPORTS,
    "warehouse.py": _WAREHOUSE,
    "stock.py": _STOCK,
    "views.py": _VIEWS,
}


def install(directory: Path) -> ModuleType:
    """Write the shop into ``directory/shop/`` and import its views from there (the
    directory goes first on ``sys.path``, as a project's root does). Returns
    ``shop.views``."""
    package = directory / PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    for name, source in SOURCES.items():
        (package / name).write_text(source, encoding="utf-8")
    root = str(directory)
    if root not in sys.path:
        sys.path.insert(0, root)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]  # a shop installed earlier in this process, elsewhere
    importlib.invalidate_caches()
    return importlib.import_module(f"{PACKAGE}.views")

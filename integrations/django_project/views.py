"""Views of the reference project: two failing views (one sync, one async) that alert, and
two answers (a 404, a 403) that don't."""

from __future__ import annotations

import asyncio

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

ORDERS = {42: {"espresso": 3, "croissant": 2}}


class PaymentDeclined(Exception):
    pass


def charge(order_id: int) -> None:
    raise PaymentDeclined(f"card declined for order {order_id}")


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("shop is open")


def order(request: HttpRequest, pk: int) -> JsonResponse:
    if pk not in ORDERS:
        raise Http404("no such order")  # an answer, not a failure: no alert
    return JsonResponse(ORDERS[pk])


def pay_order(request: HttpRequest, pk: int) -> HttpResponse:
    charge(pk)  # a sync view that fails: one alert
    return HttpResponse("paid")


async def build_report(request: HttpRequest, name: str) -> HttpResponse:
    await asyncio.sleep(0)
    raise TimeoutError(f"report {name} took too long")  # an async view that fails: one alert


def admin_only(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied  # 403, no alert

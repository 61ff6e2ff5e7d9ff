"""A Django project's settings line, and the middleware built as Django builds it from the
string (tests/test_typing.py checks that the string names the middleware)."""

from collections.abc import Callable
from typing import Any

from erralert.integrations.django import ErrAlertMiddleware as DjangoMiddleware

MIDDLEWARE = [..., "erralert.integrations.django.ErrAlertMiddleware"]


def django(get_response: Callable[[Any], Any]) -> DjangoMiddleware:
    return DjangoMiddleware(get_response)  # what Django does with the MIDDLEWARE string

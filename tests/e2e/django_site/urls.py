from __future__ import annotations

import asyncio
import os

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

DB = os.environ["DJANGO_SITE_DB"]


def log_in(request: HttpRequest, name: str) -> HttpResponse:
    user, _ = User.objects.get_or_create(username=name)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse(f"hello {user.pk}")


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view never reads request.user")


def fail_after_user(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"the view read the user: {request.user.is_authenticated}")


async def afail(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(0)
    raise LookupError("an async view that never reads request.user")


async def afail_after_user(request: HttpRequest) -> HttpResponse:
    user = await request.auser()  # type: ignore[attr-defined]  # AuthenticationMiddleware's
    raise LookupError(f"the async view read the user: {user.is_authenticated}")


def open_db_files(request: HttpRequest) -> JsonResponse:
    """The descriptors this process holds on the database (its file, journal, WAL)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(DB):
            names.append(target)
    return JsonResponse({"pid": os.getpid(), "files": sorted(names)})


urlpatterns = [
    path("login/<str:name>", log_in),
    path("fail", fail),
    path("fail-after-user", fail_after_user),
    path("afail", afail),
    path("afail-after-user", afail_after_user),
    path("open-db-files", open_db_files),
]

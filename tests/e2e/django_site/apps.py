from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class SiteConfig(AppConfig):
    name = "tests.e2e.django_site"

    def ready(self) -> None:
        if os.environ.get("DJANGO_SITE_QUERY_LOG"):
            connection_created.connect(_log_queries)


_lock = threading.Lock()


def _log_queries(sender: Any, connection: Any, **kwargs: Any) -> None:
    # sent again each time the connection reconnects: wrap it once
    if _log not in connection.execute_wrappers:
        connection.execute_wrappers.append(_log)


def _log(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    """Every statement of every connection, whichever thread runs it, to the query log."""
    with _lock, open(os.environ["DJANGO_SITE_QUERY_LOG"], "a") as file:
        file.write(" ".join(sql.split()) + "\n")
    return execute(sql, params, many, context)

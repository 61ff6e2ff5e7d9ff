"""A Celery app with the Celery integration (Celery ships no type information)."""

from celery import Celery  # type: ignore[import-untyped]

import erralert.integrations.celery


def celery() -> erralert.integrations.celery.CeleryIntegration:
    app = Celery("shop")
    return erralert.integrations.celery.init_celery(app)

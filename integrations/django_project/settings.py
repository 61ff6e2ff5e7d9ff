"""Settings of the reference Django project: no database, no apps, one erralert line.

erralert reads its configuration from ``ERRALERT = {...}`` here if present (a dict of
Alerter options), else from the environment (ERRALERT_WEBHOOKS, ERRALERT_WINDOW …), which
is what this project does.
"""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "reference-project-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}  # no database: the shop keeps its orders in a dict

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "erralert.integrations.django.ErrAlertMiddleware",  # erralert: the one line
]

ROOT_URLCONF = "integrations.django_project.urls"
WSGI_APPLICATION = "integrations.django_project.wsgi.application"
USE_TZ = True

# Optional: django.request errors also to erralert's logging handler. The middleware and
# the handler see the same exception object, so each error still reaches chat once.
if os.environ.get("DJANGO_LOG_TO_ERRALERT") == "1":
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"erralert": {"class": "erralert.LoggingHandler"}},
        "loggers": {"django.request": {"handlers": ["erralert"], "level": "ERROR"}},
    }

"""Settings of the test site. ``DJANGO_SITE_DB``: the SQLite file; ``DJANGO_SITE_ERRALERT=1``
adds erralert's middleware (the only difference between the two runs compared);
``DJANGO_SITE_QUERY_LOG``: a file every SQL statement of every thread is appended to."""

from __future__ import annotations

import os

SECRET_KEY = "erralert-e2e-site"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "tests.e2e.django_site",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DJANGO_SITE_DB"]}
}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
if os.environ.get("DJANGO_SITE_ERRALERT") == "1":
    MIDDLEWARE.append("erralert.integrations.django.ErrAlertMiddleware")

ROOT_URLCONF = "tests.e2e.django_site.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

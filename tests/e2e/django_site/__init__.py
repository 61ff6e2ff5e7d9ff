"""A Django site with a database, sessions and logins, for the end-to-end tests of what the
Django integration must never change (tests/e2e/test_django_transparency_e2e.py)."""

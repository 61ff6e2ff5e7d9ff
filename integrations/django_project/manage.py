#!/usr/bin/env python
"""The reference Django project with erralert.

    export ERRALERT_WEBHOOKS=slack://T000/B000/XXXX   # or console://stderr to try it
    python integrations/django_project/manage.py runserver      # or, from the repository root:
    gunicorn integrations.django_project.wsgi:application -w 2
    uvicorn integrations.django_project.asgi:application

Then:  curl localhost:8000/orders/42/fail         → 500, one alert (sync view)
       curl localhost:8000/reports/weekly/fail    → 500, one alert (async view)
       curl localhost:8000/orders/999/            → 404, no alert
       curl localhost:8000/admin-only/            → 403, no alert
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # the project is the package integrations.django_project of the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integrations.django_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

"""Options from the environment, and the webhook list parser they share with ``init()``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from erralert.errors import ConfigError

__all__ = ["env_options", "split_webhooks"]

_FALSE = frozenset({"0", "false", "no", "off", ""})

# a comma separates two webhooks only where the next one starts (a scheme), so that
# `?mention=13800000000,13900000000` inside one URL stays whole
_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def split_webhooks(text: str) -> list[str]:
    """``ERRALERT_WEBHOOKS``: URLs separated by whitespace or commas."""
    return [part.strip().rstrip(",") for part in _SEPARATOR.split(text) if part.strip(" ,")]


def env_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Alerter options the ``ERRALERT_*`` variables set (only those present)."""
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {}
    if webhooks := env.get("ERRALERT_WEBHOOKS", "").strip():
        options["webhooks"] = split_webhooks(webhooks)
    # locale and timezone are validated where they are used (normalise_locale and
    # load_timezone in erralert.render), with the same messages as the keyword options
    names = ("service", "environment", "release", "store", "template_dir", "spool")
    for name in (*names, "locale", "timezone"):
        value = env.get(f"ERRALERT_{name.upper()}", "").strip()
        if value:
            options[name] = value
    if (window := env.get("ERRALERT_WINDOW", "").strip()) != "":
        try:
            options["window"] = float(window)
        except ValueError:
            raise ConfigError(f"ERRALERT_WINDOW: expected seconds, got {window!r}") from None
    if "ERRALERT_ENABLED" in env:
        options["enabled"] = env["ERRALERT_ENABLED"].strip().lower() not in _FALSE
    return options

"""Options from the environment and from a TOML configuration file, and the webhook list
parser they share with ``init()``.

Precedence, highest first: keyword options (merged on top by every caller), the
``ERRALERT_*`` variables, the file ``ERRALERT_CONFIG`` names.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from erralert._core.errors import ConfigError
from erralert._core.links import parse_links
from erralert._core.proxy import check_proxy

__all__ = [
    "FILE_OPTIONS",
    "PYTHON_ONLY",
    "env_options",
    "file_options",
    "split_webhooks",
    "tag_names",
]

_FALSE = frozenset({"0", "false", "no", "off", ""})

# a comma separates two webhooks only where the next one starts (a scheme), so that
# `?mention=13800000000,13900000000` inside one URL stays whole
_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def split_webhooks(text: str) -> list[str]:
    """``ERRALERT_WEBHOOKS``: URLs separated by whitespace or commas."""
    return [part.strip().rstrip(",") for part in _SEPARATOR.split(text) if part.strip(" ,")]


def tag_names(value: object, where: str = "tags_to_show") -> tuple[str, ...]:
    """The tag names of ``tags_to_show``: a list of names, or one string of names separated
    by commas or whitespace (as ``ERRALERT_TAGS_TO_SHOW`` is). Names are stripped; a
    repeated one counts once, where it first appears. Raises :class:`ConfigError` naming
    ``where`` for anything but names."""
    if isinstance(value, str):
        return tuple(dict.fromkeys(n for n in re.split(r"[\s,]+", value) if n))
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise ConfigError(f"{where}: expected a list of tag names, got {type(value).__name__}")
    names: list[str] = []
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: expected tag names (non-empty strings), got {name!r}")
        names.append(name.strip())
    return tuple(dict.fromkeys(names))


def _env_links(text: str) -> dict[str, str]:
    """``ERRALERT_LINKS``: a JSON object of link names to URL templates, checked as the
    ``links`` option is."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"ERRALERT_LINKS: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            "ERRALERT_LINKS: expected a JSON object of link names to URL templates "
            f'(e.g. {{"logs": "https://logs.example/?q={{request_id}}"}}), got {_json_kind(value)}'
        )
    parse_links(value, where="ERRALERT_LINKS")
    return value


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def env_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Alerter options the ``ERRALERT_*`` variables set (only those present).

    With ``ERRALERT_CONFIG`` set, the options of that TOML file (:func:`file_options`)
    come first and each ``ERRALERT_*`` variable that is set replaces its option's value.
    """
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {}
    if path := env.get("ERRALERT_CONFIG", "").strip():
        options.update(file_options(path))
    if webhooks := env.get("ERRALERT_WEBHOOKS", "").strip():
        options["webhooks"] = split_webhooks(webhooks)
    # locale and timezone are validated where they are used (erralert._render.locale and
    # erralert._render.timezone), with the same messages as the keyword options
    names = ("service", "environment", "release", "store", "template_dir", "spool")
    for name in (*names, "locale", "timezone"):
        value = env.get(f"ERRALERT_{name.upper()}", "").strip()
        if value:
            options[name] = value
    if proxy := env.get("ERRALERT_PROXY", "").strip():
        options["proxy"] = check_proxy(proxy, "ERRALERT_PROXY")
    if ca_bundle := env.get("ERRALERT_CA_BUNDLE", "").strip():
        options["ca_bundle"] = os.path.expanduser(ca_bundle)  # read when the alerter is built
    if links := env.get("ERRALERT_LINKS", "").strip():
        options["links"] = _env_links(links)
    if tags := tag_names(env.get("ERRALERT_TAGS_TO_SHOW", ""), "ERRALERT_TAGS_TO_SHOW"):
        options["tags_to_show"] = list(tags)
    if (window := env.get("ERRALERT_WINDOW", "").strip()) != "":
        try:
            options["window"] = float(window)
        except ValueError:
            raise ConfigError(f"ERRALERT_WINDOW: expected seconds, got {window!r}") from None
    if "ERRALERT_ENABLED" in env:
        options["enabled"] = env["ERRALERT_ENABLED"].strip().lower() not in _FALSE
    return options


# -- the configuration file -------------------------------------------------------------------

# Alerter options that are Python objects: a file cannot hold them
PYTHON_ONLY: Mapping[str, str] = {
    "before_send": "a function",
    "fingerprint": "a function",
    "transport": "an httpx transport",
}


def _kind(value: object) -> str:
    """A TOML value's type, in TOML's words."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


class _Value:
    """One option's value as read from the file, with what to say when it is wrong."""

    def __init__(self, where: str, value: object, base: Path) -> None:
        self.where = where
        self.value = value
        self.base = base

    def wrong(self, expected: str) -> ConfigError:
        return ConfigError(f"{self.where}: expected {expected}, got {_kind(self.value)}")


def _text(item: _Value) -> str:
    if not isinstance(item.value, str):
        raise item.wrong("a string")
    return item.value


def _flag(item: _Value) -> bool:
    if not isinstance(item.value, bool):
        raise item.wrong("true or false")
    return item.value


def _seconds(item: _Value) -> float:
    if isinstance(item.value, bool) or not isinstance(item.value, int | float):
        raise item.wrong("a number of seconds")
    return float(item.value)


def _count(item: _Value) -> int:
    if isinstance(item.value, bool) or not isinstance(item.value, int):
        raise item.wrong("an integer")
    return item.value


def _strings(item: _Value) -> list[str]:
    value = item.value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise item.wrong("an array of strings")
    return list(value)


def _names(item: _Value) -> list[str]:
    value = item.value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise item.wrong(
            "an array of exception names such as 'myapp.errors.Retry' "
            "(exception classes are Python-only)"
        )
    return list(value)


def _webhooks(item: _Value) -> list[str]:
    if isinstance(item.value, str):
        return split_webhooks(item.value)
    if not isinstance(item.value, list) or not all(isinstance(v, str) for v in item.value):
        raise item.wrong("a string or an array of strings (webhook URLs)")
    return list(item.value)


def _path(item: _Value) -> str:
    if not isinstance(item.value, str) or not item.value.strip():
        raise item.wrong("a path (a non-empty string)")
    # relative to the file's directory: a service started elsewhere finds the same files
    return str(item.base / os.path.expanduser(item.value.strip()))


def _proxy(item: _Value) -> str:
    return check_proxy(_text(item), item.where)


def _links(item: _Value) -> dict[str, str]:
    if not isinstance(item.value, dict):
        raise item.wrong("a table of link names to URL templates ([links] section)")
    parse_links(item.value, where=item.where)
    return item.value


def _tags(item: _Value) -> list[str]:
    if not isinstance(item.value, str | list):
        raise item.wrong("an array of tag names")
    return list(tag_names(item.value, item.where))


def _routes(item: _Value) -> list[dict[str, Any]]:
    # checked where they are used (erralert._routing): here only their TOML shape
    value = item.value
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise item.wrong("an array of tables ([[routes]] sections)")
    return value


def _owners(item: _Value) -> dict[str, Any] | str:
    if isinstance(item.value, dict):
        return item.value  # glob -> ["platform:id", ...], checked where used
    if isinstance(item.value, str):
        return _path(item)  # an OWNERS-style file
    raise item.wrong("a table (glob = [owners]) or the path of an OWNERS file")


# every Alerter option a file may set, and how its value is checked
_CHECKS: Mapping[str, Callable[[_Value], object]] = {
    "webhooks": _webhooks,
    "service": _text,
    "environment": _text,
    "release": _text,
    "window": _seconds,
    "store": _text,  # a URL, left as written (sqlite:///relative.db is the process's)
    "template_dir": _path,
    "spool": _path,
    "include_locals": _flag,
    "scrub_keys": _strings,
    "scrub_patterns": _strings,
    "ignore": _names,
    "max_queue": _count,
    "timeout": _seconds,
    "enabled": _flag,
    "max_delay": _seconds,
    "storm_followups": _count,
    "shutdown_timeout": _seconds,
    "locale": _text,
    "timezone": _text,
    "routes": _routes,
    "owners": _owners,
    "links": _links,
    "tags_to_show": _tags,
    "proxy": _proxy,  # a URL or "direct"
    "ca_bundle": _path,  # a PEM file, relative to the file's directory
}
FILE_OPTIONS = frozenset(_CHECKS)


def file_options(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The Alerter options of the TOML file at ``path`` (``ERRALERT_CONFIG``).

    Top-level keys are the keyword options' names, e.g.::

        service = "checkout"
        webhooks = ["slack://T0/B0/xyz", "dingtalk://token"]
        window = 600
        template_dir = "alert-templates"

    ``webhooks`` may also be one string, split as ``ERRALERT_WEBHOOKS`` is. Relative paths
    in the file — ``template_dir``, ``spool``, ``ca_bundle`` and ``owners`` when it names a
    file — are relative to *the file's directory*, not the working directory, so that a
    service started from anywhere finds the same files; ``~`` is expanded. Store URLs are left as
    written. ``routes`` and ``owners`` are passed on as read; the Alerter checks them.
    ``proxy`` is checked here (a URL of a scheme httpx speaks, or ``direct``); whether the
    ``ca_bundle`` file can be read, when the alerter is built.

    Raises :class:`ConfigError`, naming the file, for a file that cannot be read, invalid
    TOML (with tomllib's line and column), an unknown key (with the nearest option's
    name), a Python-only option (``before_send``, ``fingerprint``, ``transport``) or a
    value of the wrong type.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"ERRALERT_CONFIG={name}: cannot read the file: {reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: not UTF-8 text ({exc.reason})") from None
    base = Path(os.path.abspath(name)).parent
    options: dict[str, Any] = {}
    for key, value in data.items():
        if key in PYTHON_ONLY:
            raise ConfigError(
                f"{name}: {key} is Python-only ({PYTHON_ONLY[key]}): "
                f"pass it to erralert.init() or Alerter() in code"
            )
        check = _CHECKS.get(key)
        if check is None:
            close = difflib.get_close_matches(key, _CHECKS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "the options: " + ", ".join(_CHECKS)
            raise ConfigError(f"{name}: unknown option {key!r} ({hint})")
        options[key] = check(_Value(f"{name}: {key}", value, base))
    return options

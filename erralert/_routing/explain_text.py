"""The error an ``erralert check --explain`` line describes, as routing facts."""

from __future__ import annotations

import re
import shlex

from erralert._core.frames import type_names
from erralert._routing.matchers import Facts, unknown

__all__ = ["facts_from_text"]


# -- explaining ------------------------------------------------------------------------------------
_EXPLAIN_KEYS = {
    "route": "route",
    "path": "path",
    "at": "path",
    "method": "method",
    "env": "environment",
    "environment": "environment",
    "level": "level",
    "logger": "logger",
    "module": "module",
}


def facts_from_text(text: str) -> Facts:
    """The facts an ``--explain`` line describes: ``'PaymentDeclined at app/pay.py
    route=/pay env=prod tag.tenant=acme'``. An importable dotted exception brings its
    bases (subclass rules then match as they would); otherwise only its name is known."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot read {text!r}: {exc}") from None
    values: dict[str, str] = {}
    tags: dict[str, str] = {}
    exception: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word == "at" and i + 1 < len(words):
            values["path"] = words[i + 1]
            i += 2
            continue
        key, eq, value = word.partition("=")
        if eq:
            if key.startswith(("tag.", "tags.")):
                tags[key.split(".", 1)[1]] = value
            elif key in _EXPLAIN_KEYS:
                values[_EXPLAIN_KEYS[key]] = value
            else:
                known = [*sorted(_EXPLAIN_KEYS), "tag.NAME"]
                raise ValueError(unknown("key", key, known))
        elif exception is None:
            exception = word
        else:
            raise ValueError(f"{word!r}: say what it is (e.g. route={word}, at {word})")
        i += 1
    path = values.get("path")
    if path is not None:
        path = re.sub(r":\d+$", "", path)  # "app/pay.py:42": the line does not matter
    types: tuple[tuple[str, str], ...] = ()
    klass: type | None = None
    if exception:
        klass = _import_class(exception)
        if klass is not None:
            types = tuple((m, q) for q, m in map(type_names, klass.__mro__))
        else:
            module, _, name = exception.rpartition(".")
            types = ((module or "", name),)
    return Facts(
        exception_types=types,
        exception_class=klass,
        module=values.get("module"),
        path=path,
        route=values.get("route"),
        url_path=values.get("route"),
        method=values.get("method", "").upper() or None,
        environment=values.get("environment"),
        level=values.get("level", "error").lower(),
        logger=values.get("logger"),
        tags=tags,
    )


def _import_class(dotted: str) -> type | None:
    import builtins
    import importlib

    if "." not in dotted:
        found = getattr(builtins, dotted, None)
        return found if isinstance(found, type) and issubclass(found, BaseException) else None
    module_name, _, name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        found = getattr(module, name, None)
    except Exception:  # not importable here: names only
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None

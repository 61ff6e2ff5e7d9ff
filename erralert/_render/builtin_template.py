"""The built-in template: the template of platforms without one of their own, and the
fallback when a template fails.

Plain lines (one paragraph each, so markdown keeps the breaks), escaped like any other
template: it can be rendered for any dialect. It lives in this package
(``erralert/_render/builtin/<locale>.j2``, read as package data), not in ``templates/``,
so no template_dir can shadow or break it. The Chinese one says in Chinese what happened
to a failed template; the reason itself is Python's (an exception and a line), as in the
logs.
"""

from __future__ import annotations

import importlib.resources
from types import CodeType

import jinja2

from erralert._render.locale import LOCALES

__all__ = ["compile_builtin"]


def _source(locale: str) -> str:
    folder = importlib.resources.files("erralert._render") / "builtin"
    return (folder / f"{locale}.j2").read_text(encoding="utf-8")


# the source of each locale's built-in template
_BUILTINS: dict[str, str] = {locale: _source(locale) for locale in LOCALES}
_BUILTIN_CODE: dict[str, CodeType] = {}  # per locale


def compile_builtin(env: jinja2.Environment, locale: str) -> jinja2.Template:
    """The built-in template of ``locale``, compiled once for the process."""
    code = _BUILTIN_CODE.get(locale)
    if code is None:  # a race compiles it twice, harmlessly
        code = _BUILTIN_CODE[locale] = env.compile(_BUILTINS[locale], "<built-in>", "<built-in>")
    return env.template_class.from_code(env, code, env.make_globals(None))

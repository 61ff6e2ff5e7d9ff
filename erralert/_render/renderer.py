"""Rendering a notice into one channel's message with Jinja templates.

Templates are looked up by name (``slack.j2``, or ``NAME.j2`` for ``?template=NAME``) in
the user's ``template_dir`` first and in erralert's own ``templates/`` second; with a
locale other than English, each folder's ``<locale>/NAME.j2`` comes before its
``NAME.j2`` (see ``Renderer``). Every ``{{ … }}`` output is escaped for the channel's
markup dialect (``erralert.channels.dialects``): error data is untrusted, and a request path like
``/<!channel>`` must not ping anyone. ``|safe`` (alias ``|raw``) is the explicit opt-out
(``erralert._render.escaping``). Templates run in a sandbox (``erralert._render.sandbox``)
under an allowance per render (``erralert._render.allowance``).

Rendering never raises: a template that fails at render time (an exception, a sandbox
refusal) is replaced by a built-in template (``erralert._render.builtin_template``) whose
body starts with the reason, so the alert still goes out and the team learns the template
is broken.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from erralert._core.config import tag_names
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.links import LinkTemplate, links_for
from erralert._core.notice import Notice, document
from erralert._core.safelog import safe_logger
from erralert._core.truncate import truncate
from erralert._render.allowance import Budget
from erralert._render.builtin_template import compile_builtin
from erralert._render.bytecode_cache import CACHE_LIMIT, COMPILED
from erralert._render.channel_info import ChannelInfo
from erralert._render.escaping import Prerendered
from erralert._render.locale import LOCALES, normalise_locale
from erralert._render.mode import MODE, Mode, spend
from erralert._render.sandbox import new_sandbox
from erralert._render.stack import display_stack
from erralert._render.timezone import load_timezone, zone_name
from erralert.channels import DIALECTS, Dialect
from erralert.channels.base import Channel, Message

__all__ = ["Renderer", "default_template_dir", "mentions_for"]

logger = safe_logger()

TITLE_LIMIT = 250  # characters of a title, after whitespace is collapsed
_NOTE_LIMIT = 300  # characters of the exception message quoted in a failure note
_LOGGED_LIMIT = 256  # distinct template failures remembered to log each once

# the templates each template file names in extends/include/import, with their lines
_REFERENCES: dict[tuple[str, str | None, str], list[tuple[str, int]]] = {}


def default_template_dir() -> Path:
    """erralert's own templates: ``erralert/templates`` in an installed wheel (pyproject
    force-includes them there), the repository's top-level ``templates/`` in a checkout."""
    # not resolve()d: a symlinked install finds the templates next to the link
    package = Path(__file__).parent.parent  # the directory of erralert/__init__.py
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


def mentions_for(notice: Notice, channel: Channel) -> tuple[str, ...]:
    """The entries a message of ``notice`` mentions on ``channel``: none unless the notice
    is an alert of a new error; then the channel's own ?mention= and what routing added for
    this channel."""
    if not notice.mentions:
        return ()
    extra = next((e for key, e in notice.extra_mentions if key == channel.key), ())
    return tuple(dict.fromkeys((*channel.options.mention, *extra)))


class Renderer:
    """Renders notices into messages, one channel at a time.

    Every template is compiled when the renderer is made, so a syntax error is a
    ``ConfigError`` at start-up rather than a broken alert at 3 a.m.; ``render`` itself
    never raises. A renderer is safe to share between threads.

    ``locale`` (``"en"`` or ``"zh"``, see ``normalise_locale``) picks the language of the
    templates; ``timezone`` (an IANA name, default ``"UTC"``) the zone ``|datetime``
    shows times in. Which file renders a channel, for each of its template names in turn
    (``?template=NAME``, the platform, its family) and with ``locale="zh"``::

        template_dir/zh/NAME.j2   template_dir/NAME.j2   erralert zh/NAME.j2   erralert NAME.j2

    The first that exists wins: a file of the user's always wins over erralert's own (a
    team that wrote its own ``dingtalk.j2`` keeps it when it switches the locale), and in
    each folder the locale's file wins over the plain one. With ``"en"`` the ``zh/``
    files are never chosen by this rule, though ``?template=zh/dingtalk`` names one
    outright: Chinese for that channel alone. ``|duration`` and ``|ago`` speak the
    language of the template's folder (a ``zh/`` file renders ``5 分钟``), else the
    renderer's locale; ``"default/zh/dingtalk.j2"`` names erralert's own file, for a
    user's template that extends it.
    """

    def __init__(
        self,
        template_dir: str | os.PathLike[str] | None = None,
        *,
        locale: str = "en",
        timezone: str | tzinfo = "UTC",
        links: Iterable[LinkTemplate] = (),
        tags_to_show: Iterable[str] | str = (),
    ) -> None:
        self.locale = normalise_locale(locale)
        self._zone = load_timezone(timezone)
        self.timezone = zone_name(self._zone)
        # the `links` option (parsed: erralert._core.links.parse_links) and the event tags every
        # alert shows, by name, in this order
        self.links = tuple(links)
        self.tags_to_show = tag_names(tags_to_show)
        self.defaults = default_template_dir()
        self.template_dir = None if template_dir is None else Path(template_dir)
        if self.template_dir is not None and not self.template_dir.is_dir():
            raise ConfigError(f"template_dir {str(self.template_dir)!r} is not a directory")
        loaders: list[jinja2.BaseLoader] = []
        user_names: list[str] = []
        if self.template_dir is not None:
            user_loader = jinja2.FileSystemLoader(self.template_dir)
            loaders.append(user_loader)
            user_names = user_loader.list_templates()
        loaders.append(jinja2.FileSystemLoader(self.defaults))
        # "default/slack.j2" always names erralert's own, so a replacement can extend it
        loaders.append(jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(self.defaults)}))
        self._env = new_sandbox(jinja2.ChoiceLoader(loaders), COMPILED)
        self._templates = self._compile_all()
        # the names template_dir provides: they win over erralert's at any name
        self._user_names = frozenset(name for name in user_names if name in self._templates)
        # every locale's: a zh/ file named by ?template= falls back in Chinese under "en"
        self._builtins = {language: compile_builtin(self._env, language) for language in LOCALES}
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------------
    def _compile_all(self) -> dict[str, jinja2.Template]:
        names = self._env.list_templates(filter_func=lambda name: name.endswith(".j2"))
        templates: dict[str, jinja2.Template] = {}
        for name in names:
            if name.startswith("default/"):
                continue  # the same files as the defaults' own names, compiled when used
            try:
                templates[name] = self._env.get_template(name)
                self._check_references(name)
            except jinja2.TemplateSyntaxError as exc:
                where = exc.filename or exc.name or name
                raise ConfigError(f"template {where}:{exc.lineno}: {exc.message}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"template {name}: {exc}") from None
            except (SyntaxError, RecursionError) as exc:
                # valid Jinja that Python cannot compile: hundreds of nested filters or
                # parentheses (Python's parser stops at about 200 levels)
                where = self._path_of(name)
                raise ConfigError(
                    f"template {where}: too deeply nested to compile ({exc})"
                ) from None
        return templates

    def _path_of(self, name: str) -> str:
        loader = self._env.loader
        assert loader is not None
        try:
            return loader.get_source(self._env, name)[1] or name
        except jinja2.TemplateNotFound:
            return name

    def _check_references(self, name: str) -> None:
        """A template that extends, includes or imports a missing file (by a constant
        name) is a configuration error too."""
        loader = self._env.loader
        assert loader is not None
        source, filename, _ = loader.get_source(self._env, name)
        key = (name, filename, hashlib.sha1(source.encode()).hexdigest())
        references = _REFERENCES.get(key)
        if references is None:
            references = []
            tree = self._env.parse(source, name, filename)
            statements = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
            for node in tree.find_all(statements):
                target = getattr(node, "template", None)
                if not isinstance(target, nodes.Const) or not isinstance(target.value, str):
                    continue  # a name computed at render time
                if isinstance(node, nodes.Include) and node.ignore_missing:
                    continue
                references.append((target.value, node.lineno))
            if len(_REFERENCES) >= CACHE_LIMIT:
                _REFERENCES.clear()
            _REFERENCES[key] = references
        for target_name, lineno in references:
            try:
                loader.get_source(self._env, target_name)
            except jinja2.TemplateNotFound:
                raise ConfigError(
                    f"template {filename or name}:{lineno}: template {target_name!r} not found"
                ) from None

    def check(self, name: str) -> None:
        """Raise ``ConfigError`` unless a template ``NAME`` exists for this locale (for
        ``?template=NAME``)."""
        if self._find(name) is None:
            where = [str(self.defaults)]
            if self.template_dir is not None:
                where.insert(0, str(self.template_dir))
            files = " or ".join(self._candidates(name))
            raise ConfigError(f"template {name!r} not found: no {files} in {', '.join(where)}")

    # -- rendering -------------------------------------------------------------------------
    def render(self, notice: Notice, channel: Channel) -> Message:
        """The message for ``channel``: title (plain text, one line), body (the channel's
        markup, escaped and cut to its length), and the payload of ``NAME.payload.j2``
        when there is one. Never raises."""
        now = time.time()
        dialect = self._dialect(channel)
        template, stem = self._pick(channel)
        locale = self._locale_of(template)
        mode = Mode(dialect, now=now, locale=locale, zone=self._zone)
        variables: dict[str, Any] = {
            "kind": notice.kind,
            "notice": notice,
            "event": notice.event,
            "stack": display_stack(notice.event),
            "occurrences": notice.occurrences,
            "storm": notice.storm,
            "channel": ChannelInfo(
                platform=channel.platform,
                name=channel.name,
                max_length=channel.max_length,
                length_unit=channel.length_unit,
                dialect=dialect.name,
            ),
            "now": now,
            "locale": locale,
            "timezone": self.timezone,
            # a storm summary stands for many errors: no one event's links or tags
            "links": () if notice.kind == "storm" else links_for(self.links, notice.event),
            "shown_tags": () if notice.kind == "storm" else self._shown_tags(notice.event),
        }
        builtin = self._builtins[locale]
        payload: dict[str, Any] | None = None
        error: str | None = None
        current = template
        try:
            title, body = self._render_text(template or builtin, variables, channel, mode)
            if template is not None:
                current = self._find(f"{stem}.payload")
                if current is not None:
                    payload = self._render_payload(current, variables, title, body, mode)
        except Exception as exc:
            error = self._describe(exc, current)
            self._log(error, channel)
            try:
                title, body = self._render_text(
                    builtin, {**variables, "template_error": error}, channel, mode
                )
            except Exception as again:  # a bug of erralert's own: still send something
                logger.warning("erralert: the built-in template failed: %r", again)
                title, body = _last_resort(notice, channel, dialect, error, locale)
            payload = None
        return Message(
            kind=notice.kind,
            title=title,
            body=body,
            level=notice.event.level,
            fingerprint=notice.event.fingerprint,
            event_id=notice.event.event_id,
            created_at=notice.created_at,
            mentions=mentions_for(notice, channel),
            links=variables["links"],
            payload=payload,
            data=document(notice) if channel.platform == "webhook" else None,
            template_error=error,
            locale=locale,
            zone=self._zone,
        )

    def _shown_tags(self, event: Event) -> tuple[tuple[str, str], ...]:
        """``(name, value)`` of each ``tags_to_show`` tag the event has, in that order."""
        tags = event.tags
        return tuple((name, tags[name]) for name in self.tags_to_show if name in tags)

    def _dialect(self, channel: Channel) -> Dialect:
        dialect = DIALECTS.get(channel.dialect)
        if dialect is None:
            # a channel class bug; plain still strips control characters
            logger.warning("erralert: %s has unknown dialect %r", channel.name, channel.dialect)
            return DIALECTS["plain"]
        return dialect

    def _pick(self, channel: Channel) -> tuple[jinja2.Template | None, str]:
        """The template for ``channel`` and the name it was found by (whose
        ``NAME.payload.j2`` completes it); None for a platform without a template: the
        built-in one renders it."""
        for name in channel.template_names:
            template = self._find(name)
            if template is not None:
                return template, name
        return None, ""

    def template_for(self, channel: Channel) -> str:
        """The name of the file that renders ``channel``'s messages, as the template folders
        know it (``dingtalk.j2``, ``zh/dingtalk.j2``), or ``built-in`` for a platform
        without one (``erralert check`` shows it)."""
        template, _ = self._pick(channel)
        return (template.name if template is not None else None) or "built-in"

    def _candidates(self, name: str) -> tuple[str, ...]:
        """The file names of template ``name``, the locale's first."""
        if self.locale == "en":
            return (f"{name}.j2",)
        return (f"{self.locale}/{name}.j2", f"{name}.j2")

    def _find(self, name: str) -> jinja2.Template | None:
        """Template ``name`` by the rule of the class docstring: template_dir's files
        first, then erralert's; in each, the locale's file first."""
        candidates = self._candidates(name)
        for file in candidates:
            if file in self._user_names:
                return self._templates[file]
        for file in candidates:
            # not one of template_dir's names, so erralert's own
            template = self._templates.get(file)
            if template is not None:
                return template
        return None

    def _locale_of(self, template: jinja2.Template | None) -> str:
        """The language a template is written in: its folder's (``zh/…``), else the
        renderer's."""
        folder = (template.name or "").partition("/")[0] if template is not None else ""
        return folder if folder in LOCALES else self.locale

    def _render_text(
        self,
        template: jinja2.Template,
        variables: dict[str, Any],
        channel: Channel,
        mode: Mode,
    ) -> tuple[str, str]:
        """The title (plain, one line) and the body (cut to the channel's limit)."""
        budget = Budget()
        token = MODE.set(dataclasses.replace(mode, budget=budget))
        try:
            context = template.new_context(dict(variables))
            # the whole template runs once: `{% extends %}` registers the parent's blocks
            # in context.blocks as it goes, and top-level `{% set %}`s take effect
            whole = _join_output(template.root_render_func(context))
            blocks = context.blocks
            body = _join_output(blocks["body"][0](context)) if "body" in blocks else whole
            title = ""
            if "title" in blocks:
                # the title is plain text
                MODE.set(dataclasses.replace(mode, dialect=DIALECTS["plain"], budget=budget))
                title = _join_output(blocks["title"][0](context))
        finally:
            MODE.reset(token)
        title = " ".join(title.split()) or " ".join(variables["event"].title.split())
        body = _BLANK_LINES.sub("\n\n", body).strip()
        title, body = _encodable(title), _encodable(body)
        return (
            truncate(title, TITLE_LIMIT),
            truncate(body, channel.max_length, channel.length_unit, locale=mode.locale),
        )

    def _render_payload(
        self,
        template: jinja2.Template,
        variables: dict[str, Any],
        title: str,
        body: str,
        mode: Mode,
    ) -> dict[str, Any]:
        token = MODE.set(dataclasses.replace(mode, json=True, budget=Budget()))
        try:
            context = template.new_context(
                {
                    **variables,
                    "title": title,  # plain text: escaped like any value
                    "body": Prerendered(body),  # markup already: only JSON-escaped
                    "document": document(variables["notice"]),
                }
            )
            text = _join_output(template.root_render_func(context))
        finally:
            MODE.reset(token)
        payload = json.loads(text)
        if not isinstance(payload, dict):
            raise ValueError(f"a payload must be a JSON object, not {type(payload).__name__}")
        return payload

    def _describe(self, exc: BaseException, template: jinja2.Template | None) -> str:
        """``custom template "slack.j2" failed: ZeroDivisionError: division by zero
        (line 3)``"""
        name = (template.name if template is not None else None) or "<built-in>"
        custom = (
            template is not None
            and template.filename is not None
            and self.template_dir is not None
            and Path(template.filename).resolve().is_relative_to(self.template_dir.resolve())
        )
        message = " ".join(str(exc).split())
        if len(message) > _NOTE_LIMIT:
            message = message[: _NOTE_LIMIT - 1] + "…"
        text = f"{'custom template' if custom else 'template'} {json.dumps(name)} failed: "
        text += f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        where, line = _template_line(exc)
        if line is not None:
            text += f" (line {line})" if where in (None, name) else f" ({where}, line {line})"
        return text

    def _log(self, error: str, channel: Channel) -> None:
        # one WARNING per distinct failure: a broken template would otherwise log with
        # every error the application raises
        with self._lock:
            first = error not in self._logged
            if first and len(self._logged) < _LOGGED_LIMIT:
                self._logged.add(error)
        level = logging.WARNING if first else logging.DEBUG
        logger.log(
            level, "erralert: %s (channel %s); sent with the built-in one", error, channel.name
        )


def _join_output(chunks: Iterable[str]) -> str:
    """A template's output, joined, each chunk counted as built: 10 000 outputs of one
    100 000-character string are 10 000 references while they are yielded, a gigabyte
    once joined."""
    parts: list[str] = []
    for chunk in chunks:
        spend(len(chunk))
        parts.append(chunk)
    return "".join(parts)


_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """``text`` with any lone surrogate as U+FFFD. Events are cleaned when they are built,
    but not what a caller builds by hand (a ``Request`` passed as it is) nor what a
    template lets through ``|safe``; a surrogate has no UTF-8 form, so every channel that
    measures its body in bytes, and the JSON it sends, would fail on it."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _template_line(exc: BaseException) -> tuple[str | None, int | None]:
    """The template and line an exception was raised at: Jinja's compiled code keeps a
    map from its own lines to the template's."""
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
        return exc.name, exc.lineno
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            found = template.name, template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return found


def _last_resort(
    notice: Notice, channel: Channel, dialect: Dialect, error: str | None, locale: str
) -> tuple[str, str]:
    event = notice.event
    lines: Iterator[str] = (
        line for line in (f"⚠ {error}" if error else None, event.title, event.culprit) if line
    )
    body = _encodable("\n\n".join(dialect.escape(line) for line in lines))
    title = _encodable(" ".join(event.title.split()))
    body = truncate(body, channel.max_length, channel.length_unit, locale=locale)
    return truncate(title, TITLE_LIMIT), body

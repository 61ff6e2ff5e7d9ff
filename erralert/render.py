"""Rendering a notice into one channel's message with Jinja templates.

Templates are looked up by name (``slack.j2``, or ``NAME.j2`` for ``?template=NAME``) in
the user's ``template_dir`` first and in erralert's own ``templates/`` second. Every
``{{ … }}`` output is escaped for the channel's markup dialect (``erralert.dialects``):
error data is untrusted, and a request path like ``/<!channel>`` must not ping anyone.
``|safe`` (alias ``|raw``) is the explicit opt-out.

Rendering never raises: a template that fails at render time (an exception, a sandbox
refusal) is replaced by a built-in template whose body starts with the reason, so the
alert still goes out and the team learns the template is broken.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
import jinja2.bccache
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.compiler import Frame as CompilerFrame
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from erralert.channels.base import Channel, LengthUnit, Message
from erralert.dialects import DIALECTS, Dialect
from erralert.errors import ConfigError
from erralert.event import Event, ExceptionInfo, Frame, Request
from erralert.notice import Notice, Occurrences, Storm, StormGroup, document
from erralert.truncate import truncate

__all__ = ["ChannelInfo", "Renderer", "default_template_dir"]

logger = logging.getLogger("erralert")

TITLE_LIMIT = 250  # characters of a title, after whitespace is collapsed
MAX_RANGE = 10_000  # items of one range() in a template
MAX_SEQUENCE = 100_000  # items (characters) of a sequence made by `*` in a template
MAX_DIGITS = 10_000  # decimal digits of an integer made by `**` in a template
_NOTE_LIMIT = 300  # characters of the exception message quoted in a failure note
_LOGGED_LIMIT = 256  # distinct template failures remembered to log each once


def default_template_dir() -> Path:
    """erralert's own templates: ``erralert/templates`` in an installed wheel (pyproject
    force-includes them there), the repository's top-level ``templates/`` in a checkout."""
    # not resolve()d: a symlinked install finds the templates next to the link
    package = Path(__file__).parent  # the directory of erralert/__init__.py
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What a template sees of the channel it renders for (``channel`` in the context)."""

    platform: str
    name: str
    max_length: int
    length_unit: LengthUnit
    dialect: str


# -- the escaping mode of the render in progress -------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Mode:
    dialect: Dialect
    json: bool = False  # inside a payload template: outputs are JSON string contents too
    now: float = 0.0


# A context variable, not a Jinja context variable: macros of an imported template run in
# the importing render but with the context of their (cached) module, and filters have no
# context at all. A ContextVar is right in all of them, and per thread.
_MODE: contextvars.ContextVar[_Mode | None] = contextvars.ContextVar(
    "erralert_render_mode", default=None
)
_PLAIN = _Mode(DIALECTS["plain"])  # outside a render (a filter called by hand)


def _mode() -> _Mode:
    return _MODE.get() or _PLAIN


class _Prerendered(str):
    """Text that is already markup of the dialect (the rendered body, offered to payload
    templates): escaping it again would show the escapes."""

    __slots__ = ()


def _text(value: Any) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return str(value)


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _escaped(value: Any) -> Markup:
    """``value`` escaped for the dialect of the render in progress."""
    mode = _mode()
    text = mode.dialect.escape(_text(value))
    return Markup(_json_string(text) if mode.json else text)


def _markup(value: Any) -> Markup:
    return value if isinstance(value, Markup) else _escaped(value)


# pass_context: Jinja would otherwise finalize constant outputs at compile time, outside
# any render, i.e. without knowing the dialect
@jinja2.pass_context
def _finalize(context: Context, value: Any) -> Markup:
    """Every ``{{ … }}`` output. With autoescape on, Jinja wraps this in ``escape()``, which
    passes Markup through: so escaped text, ``|safe`` text and macro output (Markup made of
    escaped parts) are never escaped twice."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, _Prerendered):
        return Markup(_json_string(value) if _mode().json else value)
    return _escaped(value)


# -- filters -------------------------------------------------------------------------------
#
# The filters that depend on the render in progress (its dialect, whether it makes JSON,
# its time) take the Jinja context: Jinja then never runs them at compile time on a
# constant ("a`b"|code), which would bake in the escaping of no dialect at all.


def _safe(value: Any) -> Markup:
    """``|safe`` and ``|raw``: the template author vouches for the value."""
    return Markup(_text(value))


@jinja2.pass_context
def _escape_filter(context: Context, value: Any) -> Markup:
    """``|e`` and ``|escape``: escaped for the dialect (Markup passes as it is)."""
    return _markup(value)


@jinja2.pass_context
def _forceescape(context: Context, value: Any) -> Markup:
    return _escaped(str(value) if isinstance(value, Markup) else value)


@jinja2.pass_context
def _code(context: Context, value: Any) -> Markup:
    """``|code``: the value made safe inside a code span or block of the dialect."""
    mode = _mode()
    text = mode.dialect.code(_text(value))
    return Markup(_json_string(text) if mode.json else text)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, jinja2.Undefined | bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _datetime(value: Any) -> str:
    """``|datetime``: UNIX seconds as ``2026-11-26 18:20:01 UTC``."""
    seconds = _number(value)
    if seconds is None:
        return _text(value)
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return _text(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(value: Any) -> str:
    """``|duration``: seconds as ``30 s``, ``5 min``, ``1 min 30 s``, ``1 h 5 min``,
    ``2 d 3 h``."""
    number = _number(value)
    if number is None:
        return _text(value)
    seconds = max(0, round(number))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@jinja2.pass_context
def _ago(context: Context, value: Any) -> str:
    """``|ago``: UNIX seconds as the time before the render, ``5 min ago``."""
    seconds = _number(value)
    if seconds is None:
        return _text(value)
    delta = _mode().now - seconds
    return "just now" if delta < 1 else f"{_duration(delta)} ago"


_BARS = "▁▂▃▄▅▆▇█"


def _sparkline(values: Any) -> str:
    """``|sparkline``: numbers as bars, ``[0, 1, 2, 4, 9]`` -> ``▁▂▃▅█``, scaled to the
    largest."""
    if values is None or isinstance(values, jinja2.Undefined):
        return ""
    numbers = [max(0.0, n) for n in map(_number, values) if n is not None]
    top = max(numbers, default=0.0)
    if top <= 0:
        return _BARS[0] * len(numbers)
    # zero is the lowest bar; anything above zero shows at least the second
    return "".join(_BARS[min(7, math.ceil(n / top * 7))] for n in numbers)


@jinja2.pass_context
def _join(
    context: Context,
    value: Iterable[Any],
    d: Any = "",
    attribute: str | int | None = None,
) -> str:
    """``|join``, escaping for the dialect where Jinja's escapes for HTML."""
    if attribute is not None:
        value = map(make_attrgetter(context.environment, attribute), value)
    items = list(value)
    if isinstance(d, Markup) or any(isinstance(item, Markup) for item in items):
        return Markup(_markup(d).join(_markup(item) for item in items))
    return str(d).join(map(_text, items))


def _json_default(value: Any) -> Any:
    if isinstance(value, Event):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, jinja2.Undefined):
        return None
    return str(value)


@jinja2.pass_context
def _tojson(context: Context, value: Any, indent: int | None = None) -> str:
    """``|tojson``: in a payload template, raw JSON (the way to put a number, a list or an
    unescaped string in the document); in a text template, text escaped like any other."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)
    return Markup(text) if _mode().json else text


# -- the sandbox ---------------------------------------------------------------------------


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` escaping for the dialect.

    Jinja joins ``a ~ b`` with markupsafe's HTML escaping when either side is Markup; in
    a markdown message that would both show ``&lt;`` and leave ``[x](http://…)`` active.
    """

    def visit_Concat(self, node: nodes.Concat, frame: CompilerFrame) -> None:
        self.write("environment.erralert_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (templates cannot reach Python internals nor change the
    event they render), with bounds on what a template can make the process compute."""

    code_generator_class = _CodeGenerator
    # intercepted operators are also never folded at compile time: `10 ** 10 ** 10` in a
    # template cannot hang erralert's start-up either
    intercepted_binops = frozenset({"+", "*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # Jinja returns an undefined value that only fails when used, and prints as
        # nothing: the template would silently show less. Fail now, with the reason.
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        # the data of erralert's own frozen dataclasses is what templates read all the
        # time: skip the sandbox's general checks for it (about half of a render's time);
        # methods and underscore names still take the checked way
        if type(obj) in _DATA_TYPES and not attribute.startswith("_"):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                pass
            else:
                if not callable(value):
                    return value
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+" and isinstance(left, str) and isinstance(right, str):
            if isinstance(left, Markup) != isinstance(right, Markup):
                # markupsafe would HTML-escape the plain side: escape it for the dialect
                return Markup(_markup(left) + _markup(right))
        elif operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        return super().call_binop(context, operator, left, right)

    def erralert_concat(self, values: Iterable[Any]) -> str:
        """``a ~ b ~ c``."""
        items = tuple(values)
        if any(isinstance(item, Markup) for item in items):
            return Markup("".join(_markup(item) for item in items))
        return "".join(map(_text, items))


_DATA_TYPES = frozenset(
    {Event, ExceptionInfo, Frame, Request, Notice, Occurrences, Storm, StormGroup, ChannelInfo}
)


def _check_repeat(sequence: Any, times: Any) -> None:
    if (
        isinstance(sequence, str | list | tuple)
        and isinstance(times, int)
        and len(sequence) * times > MAX_SEQUENCE
    ):
        raise SecurityError(f"a sequence of more than {MAX_SEQUENCE} items is refused")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log10(abs(base)) > MAX_DIGITS
    ):
        raise SecurityError(f"a number of more than {MAX_DIGITS} digits is refused")


def _range(*args: int) -> range:
    """``range()`` in a template: at most ``MAX_RANGE`` items."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() of more than {MAX_RANGE} items is refused")
    return numbers


# -- the built-in template -----------------------------------------------------------------

# The template of platforms without one of their own, and the fallback when a template
# fails. Plain lines (one paragraph each, so markdown keeps the breaks), escaped like any
# other template: it can be rendered for any dialect. It lives here, not in templates/,
# so no template_dir can shadow or break it.
_BUILTIN = """\
{% block title -%}
{% if kind == "storm" and storm %}Error storm: {{ storm.total }} errors, \
{{ storm.groups|length }} kinds
{%- elif kind == "digest" %}{{ event.title }} \u00d7{{ occurrences.count }} in \
{{ occurrences.window|duration }}
{%- else %}{{ event.title }}{% endif %}
{%- endblock %}
{% block body %}
{% if template_error %}
⚠ {{ template_error }}

{% endif %}
{% if kind == "storm" and storm %}
{{ storm.total }} errors of {{ storm.groups|length }} kinds \
from {{ storm.since|datetime }} to {{ storm.until|datetime }}

{% for group in storm.groups %}
- {{ group.count }}\u00d7 {{ group.title }}{% if group.culprit %} ({{ group.culprit }}){% endif %}

{% endfor %}
{% else %}
{{ event.title }}

{% if kind == "digest" %}
{{ occurrences.count }} more times in the last {{ occurrences.window|duration }} \
(first {{ occurrences.first_seen|datetime }}, last {{ occurrences.last_seen|datetime }}), \
{{ occurrences.total }} in total

{% endif %}
{% if event.culprit %}
Culprit: {{ event.culprit }}

{% endif %}
{% if event.request %}
Request: {{ event.request.line }}

{% endif %}
{% for frame in event.frames[-5:] %}
- {{ frame.filename }}:{{ frame.lineno }} in {{ frame.function }}\
{% if frame.context_line %}: {{ frame.context_line }}{% endif %}

{% endfor %}
{% endif %}
{% endblock %}
"""


# -- the renderer --------------------------------------------------------------------------


class _CompiledCache(jinja2.BytecodeCache):
    """Compiled templates, shared by every renderer of the process: an application (or a
    test suite) making many alerters compiles each template once. Jinja keys an entry by
    template name and file, and drops it when the source's checksum changed; every
    renderer compiles with the same settings, so the code is the same for all."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            if len(self._store) >= _CACHE_LIMIT:
                self._store.clear()  # template files made on the fly (tests): start over
            self._store[bucket.key] = bucket.bytecode_to_string()


_CACHE_LIMIT = 1024
_BUILTIN_CODE: CodeType | None = None
_COMPILED = _CompiledCache()
# the templates each template file names in extends/include/import, with their lines
_REFERENCES: dict[tuple[str, str | None, str], list[tuple[str, int]]] = {}


class Renderer:
    """Renders notices into messages, one channel at a time.

    Every template is compiled when the renderer is made, so a syntax error is a
    ``ConfigError`` at start-up rather than a broken alert at 3 a.m.; ``render`` itself
    never raises. A renderer is safe to share between threads.
    """

    def __init__(self, template_dir: str | os.PathLike[str] | None = None) -> None:
        self.defaults = default_template_dir()
        self.template_dir = None if template_dir is None else Path(template_dir)
        if self.template_dir is not None and not self.template_dir.is_dir():
            raise ConfigError(f"template_dir {str(self.template_dir)!r} is not a directory")
        loaders: list[jinja2.BaseLoader] = []
        if self.template_dir is not None:
            loaders.append(jinja2.FileSystemLoader(self.template_dir))
        loaders.append(jinja2.FileSystemLoader(self.defaults))
        # "default/slack.j2" always names erralert's own, so a replacement can extend it
        loaders.append(jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(self.defaults)}))
        env = _Sandbox(
            loader=jinja2.ChoiceLoader(loaders),
            bytecode_cache=_COMPILED,
            autoescape=True,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # compiled once: no stat() of the file on every render
        )
        env.filters.update(
            {
                "safe": _safe,
                "raw": _safe,
                "e": _escape_filter,
                "escape": _escape_filter,
                "forceescape": _forceescape,
                "code": _code,
                "datetime": _datetime,
                "ago": _ago,
                "duration": _duration,
                "sparkline": _sparkline,
                "join": _join,
                "tojson": _tojson,
            }
        )
        env.globals["range"] = _range
        env.globals.pop("lipsum", None)  # lipsum(n=10**6): text nobody needs in an alert
        self._env = env
        self._templates = self._compile_all()
        self._builtin = self._compile_builtin()
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
        return templates

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
            if len(_REFERENCES) >= _CACHE_LIMIT:
                _REFERENCES.clear()
            _REFERENCES[key] = references
        for target_name, lineno in references:
            try:
                loader.get_source(self._env, target_name)
            except jinja2.TemplateNotFound:
                raise ConfigError(
                    f"template {filename or name}:{lineno}: template {target_name!r} not found"
                ) from None

    def _compile_builtin(self) -> jinja2.Template:
        global _BUILTIN_CODE
        if _BUILTIN_CODE is None:  # a race compiles it twice, harmlessly
            _BUILTIN_CODE = self._env.compile(_BUILTIN, "<built-in>", "<built-in>")
        return self._env.template_class.from_code(
            self._env, _BUILTIN_CODE, self._env.make_globals(None)
        )

    def check(self, name: str) -> None:
        """Raise ``ConfigError`` unless ``NAME.j2`` exists (for ``?template=NAME``)."""
        if f"{name}.j2" not in self._templates:
            where = [str(self.defaults)]
            if self.template_dir is not None:
                where.insert(0, str(self.template_dir))
            raise ConfigError(f"template {name!r} not found: no {name}.j2 in {', '.join(where)}")

    # -- rendering -------------------------------------------------------------------------
    def render(self, notice: Notice, channel: Channel) -> Message:
        """The message for ``channel``: title (plain text, one line), body (the channel's
        markup, escaped and cut to its length), and the payload of ``NAME.payload.j2``
        when there is one. Never raises."""
        now = time.time()
        dialect = self._dialect(channel)
        variables: dict[str, Any] = {
            "kind": notice.kind,
            "notice": notice,
            "event": notice.event,
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
        }
        template = self._pick(channel)
        payload: dict[str, Any] | None = None
        error: str | None = None
        current = template
        try:
            title, body = self._render_text(
                template or self._builtin, variables, channel, dialect, now
            )
            if template is not None:
                current = self._templates.get(_payload_name(template.name))
                if current is not None:
                    payload = self._render_payload(current, variables, title, body, dialect, now)
        except Exception as exc:
            error = self._describe(exc, current)
            self._log(error, channel)
            try:
                title, body = self._render_text(
                    self._builtin, {**variables, "template_error": error}, channel, dialect, now
                )
            except Exception as again:  # a bug of erralert's own: still send something
                logger.warning("erralert: the built-in template failed: %r", again)
                title, body = _last_resort(notice, channel, dialect, error)
            payload = None
        return Message(
            kind=notice.kind,
            title=title,
            body=body,
            level=notice.event.level,
            fingerprint=notice.event.fingerprint,
            event_id=notice.event.event_id,
            created_at=notice.created_at,
            mention=notice.mentions,
            payload=payload,
            data=document(notice) if channel.platform == "webhook" else None,
            template_error=error,
        )

    def _dialect(self, channel: Channel) -> Dialect:
        dialect = DIALECTS.get(channel.dialect)
        if dialect is None:
            # a channel class bug; plain still strips control characters
            logger.warning("erralert: %s has unknown dialect %r", channel.name, channel.dialect)
            return DIALECTS["plain"]
        return dialect

    def _pick(self, channel: Channel) -> jinja2.Template | None:
        for name in channel.template_names:
            template = self._templates.get(f"{name}.j2")
            if template is not None:
                return template
        return None  # a platform without a template: the built-in one

    def _render_text(
        self,
        template: jinja2.Template,
        variables: dict[str, Any],
        channel: Channel,
        dialect: Dialect,
        now: float,
    ) -> tuple[str, str]:
        """The title (plain, one line) and the body (cut to the channel's limit)."""
        token = _MODE.set(_Mode(dialect, now=now))
        try:
            context = template.new_context(dict(variables))
            # the whole template runs once: `{% extends %}` registers the parent's blocks
            # in context.blocks as it goes, and top-level `{% set %}`s take effect
            whole = "".join(template.root_render_func(context))
            blocks = context.blocks
            body = "".join(blocks["body"][0](context)) if "body" in blocks else whole
            title = ""
            if "title" in blocks:
                _MODE.set(_Mode(DIALECTS["plain"], now=now))  # the title is plain text
                title = "".join(blocks["title"][0](context))
        finally:
            _MODE.reset(token)
        title = " ".join(title.split()) or " ".join(variables["event"].title.split())
        body = _BLANK_LINES.sub("\n\n", body).strip()
        return (
            truncate(title, TITLE_LIMIT),
            truncate(body, channel.max_length, channel.length_unit),
        )

    def _render_payload(
        self,
        template: jinja2.Template,
        variables: dict[str, Any],
        title: str,
        body: str,
        dialect: Dialect,
        now: float,
    ) -> dict[str, Any]:
        token = _MODE.set(_Mode(dialect, json=True, now=now))
        try:
            context = template.new_context(
                {
                    **variables,
                    "title": title,  # plain text: escaped like any value
                    "body": _Prerendered(body),  # markup already: only JSON-escaped
                    "document": document(variables["notice"]),
                }
            )
            text = "".join(template.root_render_func(context))
        finally:
            _MODE.reset(token)
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


_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def _payload_name(name: str | None) -> str:
    if name is None:
        return ""
    return f"{name.removesuffix('.j2')}.payload.j2"


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
    notice: Notice, channel: Channel, dialect: Dialect, error: str | None
) -> tuple[str, str]:
    event = notice.event
    lines: Iterator[str] = (
        line for line in (f"⚠ {error}" if error else None, event.title, event.culprit) if line
    )
    body = "\n\n".join(dialect.escape(line) for line in lines)
    title = " ".join(event.title.split())
    return truncate(title, TITLE_LIMIT), truncate(body, channel.max_length, channel.length_unit)

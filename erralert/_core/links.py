"""Links an alert carries: the source at the release, the logs of the request, a runbook.

The ``links`` option maps a name to a URL template with ``{placeholder}`` fields
(``str.format`` syntax, ``{{`` and ``}}`` for literal braces)::

    links = {
        "source": "https://github.com/org/shop/blob/{release}/{path}#L{lineno}",
        "logs": "https://grafana.example/explore?q={request_id}",
        "runbook": "https://wiki.example/runbooks/{exception}",
    }

Templates are checked when the alerter is made (:func:`parse_links`): an unknown
placeholder, a format spec, a conversion, attribute or index access, a scheme other than
http(s) or a name that is empty raise :class:`~erralert.ConfigError` naming the link.
:func:`links_for` fills them from one event: every value URL-encoded, and a link whose
placeholder has no value for that event (a message has no culprit frame, a job no
request id) left out rather than sent with a hole.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from erralert._core.errors import ConfigError
from erralert._core.event import Event

__all__ = ["PLACEHOLDERS", "Link", "LinkTemplate", "link_values", "links_for", "parse_links"]

PLACEHOLDERS: tuple[str, ...] = (
    "service",
    "environment",
    "release",
    "exception",
    "module",
    "function",
    "path",
    "lineno",
    "fingerprint",
    "event_id",
    "request_id",
    "trace_id",
    "route",
)
"""The fields a link template may use, in the order the documentation lists them."""

_SCHEME = re.compile(r"https?://", re.IGNORECASE)
# What a template's literal text keeps as written: the URL syntax characters and "%" (a
# template may be percent-encoded already). Everything else — spaces, quotes, "<>", "()",
# backticks, "|", braces, non-ASCII — is percent-encoded, so that the URL stays one token
# in markdown, HTML and Slack's <url|text> alike.
_LITERAL_SAFE = "!#$%&*+,-./:;=?@[]~"


@dataclass(frozen=True, slots=True)
class Link:
    """One link of one alert: a name (the button's label) and a URL safe to put in
    markdown or HTML as it is."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class LinkTemplate:
    """One configured link: ``template`` as written, and its parts (literal text, already
    URL-safe, each followed by a placeholder or None at the end)."""

    name: str
    template: str
    parts: tuple[tuple[str, str | None], ...] = dataclasses.field(repr=False)

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The placeholders the template uses, in order of appearance."""
        return tuple(field for _, field in self.parts if field is not None)

    def fill(self, values: Mapping[str, str]) -> str | None:
        """The URL with ``values`` URL-encoded into it, or None when one of its
        placeholders has no value (missing or empty)."""
        out: list[str] = []
        for literal, field in self.parts:
            out.append(literal)
            if field is None:
                continue
            value = values.get(field)
            if not value:
                return None
            # a path keeps its "/" (a source link names a file in a tree); nothing else does
            out.append(quote(value, safe="/" if field == "path" else ""))
        return "".join(out)


def parse_links(
    spec: Mapping[str, str] | None, *, where: str = "links"
) -> tuple[LinkTemplate, ...]:
    """The link templates of ``spec`` (name -> URL template), in order.

    ``where`` names the option in error messages (``"ERRALERT_LINKS"``, or a TOML file's
    ``"erralert.toml: links"``). Raises :class:`ConfigError`, e.g.
    ``links['source']: unknown placeholder {relase} (did you mean {release}?)``.
    """
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping of link names to URL templates, got {type(spec).__name__}"
        )
    return tuple(_parse_one(name, template, where) for name, template in spec.items())


def _parse_one(name: object, template: object, where: str) -> LinkTemplate:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: a link name must be a non-empty string, got {name!r}")
    here = f"{where}[{name!r}]"
    if not isinstance(template, str):
        raise ConfigError(
            f"{here}: expected a URL template (a string), got {type(template).__name__}"
        )
    # the scheme must be written out: "{base}/x" could become javascript: or file: links
    scheme = _SCHEME.match(template)
    if scheme is None or scheme.end() == len(template):
        raise ConfigError(
            f"{here}: {template!r} is not an http:// or https:// URL "
            "(the scheme must be written at the start of the template)"
        )
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # "Single '}' encountered in format string" and the like
        raise ConfigError(
            f"{here}: {exc} in {template!r} (write {{{{ and }}}} for braces)"
        ) from None
    parts: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None:
            _check_field(here, field, spec, conversion)
        parts.append((quote(literal, safe=_LITERAL_SAFE), field))
    return LinkTemplate(name, template, tuple(parts))


def _check_field(here: str, field: str, spec: str | None, conversion: str | None) -> None:
    # the placeholder as written, for the message
    written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
    written += "}"
    if not field:
        raise ConfigError(f"{here}: an empty placeholder {written} (name one: {_known()})")
    name = re.split(r"[.\[]", field, maxsplit=1)[0]
    if name != field:
        raise ConfigError(
            f"{here}: {written}: attribute or index access is not allowed; "
            f"a placeholder is a plain name ({_known()})"
        )
    if name not in PLACEHOLDERS:
        close = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
        hint = f"did you mean {{{close[0]}}}?" if close else f"the placeholders: {_known()}"
        raise ConfigError(f"{here}: unknown placeholder {written} ({hint})")
    if conversion or spec:
        raise ConfigError(
            f"{here}: {written}: conversions and format specs are not allowed; "
            f"write {{{name}}} (values are URL-encoded as they are)"
        )


def _known() -> str:
    return ", ".join(PLACEHOLDERS)


def link_values(event: Event) -> dict[str, str]:
    """The placeholders' values for ``event``; a placeholder without a value is absent.

    ``exception`` is the raised exception's qualified type (``shop.payments.PaymentDeclined``,
    a builtin by its plain name); ``module``, ``function``, ``path`` and ``lineno`` are those
    of the culprit frame (``Event.culprit_frame``; ``path`` its display ``filename``);
    ``request_id`` and ``route`` come from the request, ``trace_id`` from the event.
    """
    request = event.request
    frame = event.culprit_frame
    exception = event.exception
    values = {
        "service": event.service,
        "environment": event.environment,
        "release": event.release,
        "exception": exception.qualified_type if exception is not None else None,
        "module": frame.module if frame is not None else None,
        "function": frame.function if frame is not None else None,
        "path": frame.filename if frame is not None else None,
        "lineno": str(frame.lineno) if frame is not None else None,
        "fingerprint": event.fingerprint,
        "event_id": event.event_id,
        "request_id": request.request_id if request is not None else None,
        "trace_id": event.trace_id,
        "route": request.route if request is not None else None,
    }
    return {name: value for name, value in values.items() if value}


def links_for(templates: Iterable[LinkTemplate], event: Event) -> tuple[Link, ...]:
    """The links of ``event``, in the configured order; a link whose placeholders are not
    all known for this event is left out."""
    templates = tuple(templates)
    if not templates:
        return ()
    values = link_values(event)
    links: list[Link] = []
    for template in templates:
        url = template.fill(values)
        if url is not None:
            links.append(Link(template.name, url))
    return tuple(links)

"""Property-based tests: generated exceptions, messages and requests thrown at the whole
pipeline (capture -> scrub -> fingerprint -> throttle -> render -> every platform's
request), checking what must hold for *any* input:

- nothing escapes a capture, and erralert logs no failure of its own;
- exactly one alert per distinct fingerprint, per channel;
- every payload is valid UTF-8 JSON, within its platform's limits;
- no secret placed where erralert promises to scrub (headers, query, cookies, locals,
  extra, tags, ``key=value`` text, bearer tokens, URL passwords, JWTs) reaches a payload,
  nor any credential of a format erralert recognises with no key in front of it (AWS,
  GitHub, Slack, Stripe, OpenAI … tokens, webhook URLs, private keys, card numbers) in a
  message, a local, the request's headers, query and path, ``extra`` or tags;
- untrusted text cannot mention anyone (``@all``, ``<!channel>``, DingTalk's ``isAtAll``…)
  nor become a link.

CI runs a bounded, derandomized number of examples (``SETTINGS``): the same examples on
every run, so a failure is reproducible and the suite's time is predictable.
``ERRALERT_HYPOTHESIS_EXAMPLES=N`` searches deeper, at random, on a developer's machine
(``ERRALERT_HYPOTHESIS_NO_SHRINK=1`` reports the first failure as found, unshrunk).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import erralert
from erralert._core.event import Request
from erralert.channels import (
    dingtalk,
    discord,
    feishu,
    googlechat,
    mattermost,
    rocketchat,
    slack,
    teams,
    telegram,
    wecom,
)
from erralert.channels.base import Channel
from erralert.channels.registry import PLATFORMS
from erralert.testing import CapturedAlert, capture_alerts
from tests.channels.conformance import assert_inert
from tests.credential_samples import Credential, credential
from tests.test_security import native_urls

# CI: a bounded number of examples, derandomized (the same ones on every run). A deeper,
# random search on a developer's machine: ERRALERT_HYPOTHESIS_EXAMPLES=2000 pytest …
_DEEP = int(os.environ.get("ERRALERT_HYPOTHESIS_EXAMPLES", "0"))
_NO_SHRINK = bool(os.environ.get("ERRALERT_HYPOTHESIS_NO_SHRINK"))
SETTINGS = settings(
    max_examples=_DEEP or 60,
    deadline=None,
    derandomize=not _DEEP,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.generate] if _NO_SHRINK else list(Phase),
)

# -- strategies -------------------------------------------------------------------------------

# the syntax of every dialect that could ping, link or break the markup
MARKUP = [
    "<",
    ">",
    "&",
    "&amp;",
    "*",
    "**",
    "_",
    "__",
    "`",
    "```",
    "~~",
    "|",
    "||",
    "#",
    "> ",
    "- ",
    "1. ",
    "\\",
    '"',
    "'",
    "@all",
    "@everyone",
    "@here",
    "@channel",
    "<!channel>",
    "<!here>",
    "<@U123ABC>",
    "<users/all>",
    '<at user_id="all">all</at>',
    "<at id=all></at>",
    "[x](http://evil.example)",
    "![i](https://evil.example/p.png)",
    "<https://evil.example|click>",
    "https://evil.example/login",
    "www.evil.example",
    "<b>",
    "</pre>",
    "<a href='x'>",
    "{{ event }}",
    "{% if %}",
    "%s",
    "{0}",
    "\x00",
    "\r",
    "\n",
    "\t",
    "\u202e",
    "\u200b",
    "\ud800",
    "\udfff",
    "漢字",
    "🔥",
    "\U0001f600" * 3,
]

# any character at all: surrogates, NUL and the other controls included
any_char = st.characters(exclude_categories=())
hostile_text = st.lists(
    st.one_of(st.sampled_from(MARKUP), st.text(any_char, max_size=12)), max_size=12
).map("".join)
# now and then, text long enough to be cut (repeated to up to ~100 000 characters)
long_text = st.builds(lambda text, times: text * times, hostile_text, st.integers(1, 4000))
message_text = st.one_of(hostile_text, hostile_text, long_text)

# secret values: letters and digits only, so that no escaping of any dialect (which never
# touches them) could hide a leak from the search
SECRET_VALUES = [
    "hunter2",
    "S3cr3tV4lueQ",
    "Tok3nXyZ987",
    "Pa55w0rdLmN",
    "K3yApiRsT42",
    "C00kieSidUv",
    "Sess10nWxYz",
]
SENSITIVE_KEYS = [
    "password",
    "passwd",
    "Password",
    "PASSWORD",
    "db_password",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh-token",
    "auth",
    "auth_token",
    "api_key",
    "apikey",
    "X-Api-Key",
    "session",
    "sessionid",
    "csrf",
    "csrftoken",
    "private_key",
    "credential",
    "credentials",
]
secret = st.sampled_from(SECRET_VALUES)
sensitive_key = st.sampled_from(SENSITIVE_KEYS)


@st.composite
def secret_in_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    """``(text, evidence)``: a secret in one of the forms the scrubber promises to find in
    free text, set apart by spaces from whatever surrounds it, and the strings that must
    not reach a payload."""
    value = draw(secret)
    key = draw(sensitive_key)
    form = draw(st.integers(0, 10))
    if form >= 9:  # a credential with no key in front of it
        found = draw(credential())
        context = draw(st.sampled_from(["call failed: {}", "({})", "'{}'", "{}", "= {};"]))
        return f" {context.format(found.text)} ", found.evidence()
    if form == 0:
        text = f"{key}={value}"
    elif form == 1:
        text = f"{key}: {value}"
    elif form == 2:
        text = f'"{key}": "{value}"'
    elif form == 3:
        text = f"{{'{key}': '{value}'}}"
    elif form == 4:
        text = f"Authorization: Bearer {value}"
    elif form == 5:
        text = f"bearer {value}"
    elif form == 6:
        text = f"https://admin:{value}@db.internal:5432/app"
    elif form == 7:
        text = f"redis://:{value}@cache.internal/0"
    else:
        value = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI{value}In0.{value}Sig"
        text = f"token {value}"
    return f" {text} ", [value]


@st.composite
def message_with_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Hostile text with zero to three secrets inside."""
    pieces = [draw(message_text)]
    secrets: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        text, evidence = draw(secret_in_text())
        pieces.append(text)
        pieces.append(draw(hostile_text))
        secrets += evidence
    return "".join(pieces), secrets


def _encodable(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


class _BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ of this exception fails")


@st.composite
def exception_type(draw: st.DrawFn) -> type[BaseException]:
    """A builtin, a class whose ``__str__`` raises, or a new class whose name and module
    are hostile text."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.sampled_from([ValueError, KeyError, RuntimeError, OSError, TypeError]))
    if kind == 1:
        return _BadStr
    # type() takes any name Python can encode: no NUL, no lone surrogate
    name = draw(hostile_text.filter(_encodable)) or "E"
    cls = type(name, (Exception,), {})
    cls.__module__ = draw(hostile_text)
    return cls


@st.composite
def exception_chain(draw: st.DrawFn) -> tuple[BaseException, list[str]]:
    """One to four exceptions chained by ``raise … from`` or raised while handling, the
    last raised for real (it has a traceback); now and then inside an ExceptionGroup."""
    secrets: list[str] = []
    exc: BaseException | None = None
    for _ in range(draw(st.integers(1, 4))):
        text, found = draw(message_with_secrets())
        secrets += found
        new = draw(exception_type())(text)
        if exc is not None:
            if draw(st.booleans()):
                new.__cause__ = exc
            else:
                new.__context__ = exc
        exc = new
    assert exc is not None
    if draw(st.integers(0, 4)) == 0:
        text, found = draw(message_with_secrets())
        secrets += found
        exc = ExceptionGroup(text, [exc, ValueError("sibling")])
    return exc, secrets


header_name = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True)
latin1_text = st.text(st.characters(max_codepoint=255), max_size=40)


@st.composite
def request_with_secrets(draw: st.DrawFn) -> tuple[Any, list[str]]:
    """A WSGI environ, an ASGI scope or a ``Request`` built by hand, with hostile paths,
    headers and query values and secrets in the headers, cookies and query."""
    secrets: list[str] = []
    headers = draw(st.dictionaries(header_name, latin1_text, max_size=5))
    query = draw(st.lists(st.tuples(header_name, latin1_text), max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        value = draw(secret)
        secrets.append(value)
        where = draw(st.integers(0, 4))
        if where == 0:
            headers["Authorization"] = draw(st.sampled_from(["Bearer ", "Token ", ""])) + value
        elif where == 1:
            headers["Cookie"] = f"theme=dark; {draw(st.sampled_from(['sid', 'x']))}={value}"
        elif where == 2:
            headers[draw(st.sampled_from(["X-Api-Key", "X-Auth-Token", "X-CSRF-Token"]))] = value
        else:
            query.append((draw(sensitive_key), value))
    path = "/" + draw(hostile_text)
    for _ in range(draw(st.integers(0, 2))):  # credentials under names that say nothing
        found = draw(credential().filter(lambda c: "\n" not in c.text))
        secrets += found.evidence()
        where = draw(st.integers(0, 2))
        if where == 0:
            headers[draw(st.sampled_from(["X-Upstream", "Referer", "X-Debug"]))] = found.text
        elif where == 1:
            query.append((draw(st.sampled_from(["ref", "next", "q"])), found.text))
        else:
            path += "/" + found.text
    query_string = "&".join(f"{k}={v}" for k, v in query)
    form = draw(st.integers(0, 2))
    if form == 0:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path.encode("utf-8", "surrogatepass").decode("latin-1"),
            "QUERY_STRING": query_string,
            "wsgi.url_scheme": "https",
            "SERVER_NAME": "shop.example",
            "SERVER_PORT": "443",
        }
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        return environ, secrets
    if form == 1:
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "https",
            "path": path,
            "query_string": query_string.encode("utf-8", "surrogatepass"),
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
            "server": ("shop.example", 443),
        }
        return scope, secrets
    request = Request(
        method="PUT",
        url=f"https://shop.example{path}?{query_string}",
        path=path,
        query=dict(query),
        headers={k.lower(): v for k, v in headers.items()},
        user_agent=draw(hostile_text),
    )
    return request, secrets


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), hostile_text, st.binary(max_size=8)
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def extra_and_tags(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    extra = draw(st.dictionaries(hostile_text, json_value, max_size=4))
    tags = draw(st.dictionaries(hostile_text, hostile_text, max_size=4))
    secrets: list[str] = []
    if draw(st.booleans()):
        value = draw(secret)
        secrets.append(value)
        nest = draw(st.integers(0, 2))
        target: dict[str, Any] = extra
        for _ in range(nest):
            target = target.setdefault(draw(st.sampled_from(["config", "ctx"])), {})
            if not isinstance(target, dict):  # the key held a value already
                break
        else:
            target[draw(sensitive_key)] = value
        if not isinstance(target, dict):
            extra[draw(sensitive_key)] = value
    if draw(st.booleans()):
        value = draw(secret)
        secrets.append(value)
        tags[draw(sensitive_key)] = value
    if draw(st.booleans()):  # credentials under keys that say nothing
        found = draw(credential())
        secrets += found.evidence()
        extra[draw(st.sampled_from(["upstream", "config", "note"]))] = {"said": found.text}
    if draw(st.booleans()):
        found = draw(credential().filter(lambda c: "\n" not in c.text))
        secrets += found.evidence()
        tags[draw(st.sampled_from(["upstream", "deploy"]))] = found.text
    return extra, tags, secrets


# -- running the pipeline ---------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def erralert_records() -> Iterator[list[logging.LogRecord]]:
    """erralert's own log records while the block runs (pytest's caplog is per test, not
    per example)."""
    handler = _Records()
    logger = logging.getLogger("erralert")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def new_alerter(**options: Any) -> erralert.Alerter:
    return erralert.Alerter(list(native_urls().values()), **options)


def raise_with_locals(
    exc: BaseException, password: str, api_key: str, note: str, detail: str
) -> None:
    """Raises ``exc`` from a frame whose locals hold secrets (and hostile text)."""
    raise exc


def run(
    alerter: erralert.Alerter, capture: Callable[[erralert.Alerter], str | None]
) -> tuple[list[str | None], list[CapturedAlert], list[logging.LogRecord]]:
    """``capture(alerter)``, then ``close()`` (which sends the counts of open windows as
    digests), every message recorded: nothing is sent anywhere."""
    results: list[str | None] = []
    with erralert_records() as records, capture_alerts(alerter) as alerts:
        try:
            results.append(capture(alerter))
        finally:
            alerter.close(0.1)
    return results, alerts, records


# -- what every payload must satisfy ----------------------------------------------------------


def channel_of(alerter: erralert.Alerter, alert: CapturedAlert) -> Channel:
    return next(c for c in alerter.channels if c.name == alert.channel)


def text_of(alert: CapturedAlert) -> str:
    """Everything the platform would get (or the console would print)."""
    if alert.request is None:
        return f"{alert.title}\n{alert.body}"
    raw = alert.request.content.decode("utf-8")  # valid UTF-8, or this raises
    return raw + json.dumps(alert.payload, ensure_ascii=False)


# Fields each platform shows as plain text, parsing neither mentions nor links nor markup
# (the title, mostly): untrusted text in them is shown as it is, harmlessly.
PLAIN_FIELDS: dict[str, tuple[str, ...]] = {
    "slack": ("blocks.0.text.text",),  # the header block's plain_text
    "googlechat": ("fallbackText", "cardsV2.0.card.header.title"),  # notification, header
    "dingtalk": ("markdown.title",),  # the preview line in the conversation list
    "feishu": ("card.header.title.content",),  # plain_text ("<" is broken there anyway)
    "lark": ("card.header.title.content",),
    "teams": ("attachments.0.content.$schema",),  # the card's schema: a URL, not text
}


def walk(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted path, string)`` for every string inside a JSON value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}.{index}" if path else str(index))


def check_payload(channel: Channel, alert: CapturedAlert) -> None:
    """Valid JSON within the platform's limits; no mention or link from untrusted text."""
    body = alert.message.body
    size = len(body.encode()) if channel.length_unit == "bytes" else len(body)
    assert size <= channel.max_length, (channel.platform, size)
    if alert.request is None:
        return
    content = alert.request.content
    payload = json.loads(content.decode("utf-8"))
    assert isinstance(payload, dict)
    chars = len(content.decode("utf-8"))
    platform = channel.platform
    # the strings the platform reads as markup: all but its plain-text fields
    parsed = [text for path, text in walk(payload) if path not in PLAIN_FIELDS.get(platform, ())]
    if platform == "slack":
        assert chars <= 13_000  # Slack refused payloads near 13k characters
        header = payload["blocks"][0]["text"]["text"]
        assert len(header) <= slack.HEADER_LIMIT
        sections = [b["text"]["text"] for a in payload.get("attachments", []) for b in a["blocks"]]
        assert all(len(s) <= slack.SECTION_LIMIT for s in sections)
        assert len(payload["blocks"]) + len(sections) <= 50
        assert not any("<!" in s or "<@" in s for s in parsed)
    elif platform == "discord":
        embed = payload["embeds"][0]
        assert len(embed["title"]) <= discord.TITLE_LIMIT
        assert len(embed.get("description", "")) <= discord.DESCRIPTION_LIMIT
        total = (
            len(embed["title"]) + len(embed.get("description", "")) + len(embed["footer"]["text"])
        )
        assert total <= discord.EMBED_TOTAL_LIMIT
        assert payload["allowed_mentions"] == {"parse": []}  # nobody can be pinged
        assert "content" not in payload
    elif platform == "teams":
        assert len(content) <= teams.BODY_LIMIT
        card = payload["attachments"][0]["content"]
        assert "entities" not in card["msteams"]
        # Teams parses TextBlocks only; TextRuns (title and body) are shown as written. No
        # mention here, so no TextBlock at all, and every run carries text
        assert [b for b in card["body"] if b["type"] != "RichTextBlock"] == []
        assert all(run["text"] for b in card["body"] for run in b["inlines"])
        parsed = []
    elif platform == "googlechat":
        assert len(content) <= googlechat.MESSAGE_LIMIT
        assert not any("<users/" in s for s in parsed)
    elif platform == "mattermost":
        assert chars <= mattermost.POST_LIMIT
    elif platform == "rocketchat":
        assert chars <= rocketchat.MESSAGE_LIMIT
    elif platform == "telegram":
        assert telegram.visible_length(payload["text"]) <= telegram.TEXT_LIMIT
        assert payload["text"] == telegram.repair_html(payload["text"])  # parses as is
    elif platform == "dingtalk":
        assert len(content) <= dingtalk.BODY_LIMIT
        assert payload["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    elif platform == "wecom":
        assert len(payload["markdown"]["content"].encode()) <= wecom.CONTENT_LIMIT
        assert "mentioned_list" not in json.dumps(payload)
    elif platform in ("feishu", "lark"):
        assert len(content) <= feishu.BODY_LIMIT
        assert not any("<at" in s for s in parsed)
        # the header is plain_text, shown as it is: Feishu parses no <at> there
        assert payload["card"]["header"]["title"]["tag"] == "plain_text"
    elif platform == "webhook":
        assert len(payload["text"]) <= channel.max_length
        return  # a JSON document for programs: nothing in it is chat markup
    # mrkdwn has no escape for a backtick: an untrusted one can end a code span early and
    # leave a bare URL to Slack's autolinking (a link showing its own address; mentions
    # stay impossible, every "<" being &lt;). A known limit, asserted everywhere else.
    untrusted = alert.notice.event.to_dict()
    links = platform != "slack" or "`" not in json.dumps(untrusted, ensure_ascii=False)
    assert_inert(parsed, platform, links=links)


def check_no_secret(alert: CapturedAlert, secrets: list[str]) -> None:
    text = text_of(alert)
    leaks = {s: text[max(0, text.find(s) - 300) : text.find(s) + 60] for s in secrets if s in text}
    assert not leaks, (alert.platform, leaks)


# -- the properties ---------------------------------------------------------------------------


@SETTINGS
@given(
    chain=exception_chain(),
    request=st.one_of(st.none(), request_with_secrets()),
    context=extra_and_tags(),
    local_secret=secret,
    note=hostile_text,
    local_credential=credential(),
)
@pytest.mark.slow
def test_any_exception_becomes_one_valid_alert_per_platform(
    chain: tuple[BaseException, list[str]],
    request: tuple[Any, list[str]] | None,
    context: tuple[dict[str, Any], dict[str, Any], list[str]],
    local_secret: str,
    note: str,
    local_credential: Credential,
) -> None:
    exc, secrets = chain
    extra, tags, context_secrets = context
    secrets = [*secrets, *context_secrets, local_secret, *local_credential.evidence()]
    detail = f"upstream answered {local_credential.text}"
    request_like = None
    if request is not None:
        request_like, request_secrets = request
        secrets += request_secrets

    def capture(alerter: erralert.Alerter) -> str | None:
        try:
            raise_with_locals(exc, local_secret, local_secret, note, detail)
        except BaseException as raised:
            return alerter.capture_exception(raised, request=request_like, extra=extra, tags=tags)
        raise AssertionError("unreachable")

    alerter = new_alerter(include_locals=True)
    results, alerts, records = run(alerter, capture)
    assert results[0] is not None  # captured, not dropped by an internal failure
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
    assert sorted(a.platform for a in alerts) == sorted(PLATFORMS)  # one alert each
    for alert in alerts:
        check_payload(channel_of(alerter, alert), alert)
        check_no_secret(alert, secrets)


@SETTINGS
@given(message=message_with_secrets(), request=st.one_of(st.none(), request_with_secrets()))
@pytest.mark.slow
def test_any_message_becomes_one_valid_alert_per_platform(
    message: tuple[str, list[str]], request: tuple[Any, list[str]] | None
) -> None:
    text, secrets = message
    request_like = None
    if request is not None:
        request_like, request_secrets = request
        secrets = [*secrets, *request_secrets]
    alerter = new_alerter()
    results, alerts, records = run(
        alerter, lambda a: a.capture_message(text, "warning", request=request_like)
    )
    assert results[0] is not None
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
    assert sorted(a.platform for a in alerts) == sorted(PLATFORMS)
    for alert in alerts:
        check_payload(channel_of(alerter, alert), alert)
        check_no_secret(alert, secrets)


# three call sites: the default fingerprint is the exception type and the in-app frames
def _site_a(exc: BaseException) -> None:
    raise exc


def _site_b(exc: BaseException) -> None:
    raise exc


def _site_c(exc: BaseException) -> None:
    _site_a(exc)  # a different stack from _site_a alone


SITES = (_site_a, _site_b, _site_c)
TYPES = (ValueError, KeyError, RuntimeError)


@SETTINGS
@given(
    captures=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), hostile_text), min_size=1, max_size=12
    )
)
@pytest.mark.slow
def test_one_alert_per_distinct_fingerprint(captures: list[tuple[int, int, str]]) -> None:
    """However often and with whatever message each error is raised, each (call site,
    exception type) alerts exactly once per channel within the window."""

    def capture(alerter: erralert.Alerter) -> str | None:
        for site, kind, text in captures:
            try:
                SITES[site](TYPES[kind](text))
            except Exception as exc:
                alerter.capture_exception(exc)
        return "done"

    alerter = new_alerter()
    _, alerts, records = run(alerter, capture)
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
    raised: dict[tuple[int, int], int] = {}
    for site, kind, _ in captures:
        raised[site, kind] = raised.get((site, kind), 0) + 1
    repeated = {key: count - 1 for key, count in raised.items() if count > 1}
    for platform in PLATFORMS:
        mine = [a for a in alerts if a.platform == platform and a.kind == "alert"]
        assert len(mine) == len(raised)  # one alert per (call site, type)
        fingerprints = {a.message.fingerprint for a in mine}
        assert len(fingerprints) == len(mine)
        # every repeat was counted, and reported in the digest of its window (close()
        # sends the counts of windows still open)
        digests = [a for a in alerts if a.platform == platform and a.kind == "digest"]
        assert {d.message.fingerprint for d in digests} <= fingerprints
        assert sorted(d.notice.occurrences.count for d in digests) == sorted(repeated.values())
    for alert in alerts:
        check_payload(channel_of(alerter, alert), alert)

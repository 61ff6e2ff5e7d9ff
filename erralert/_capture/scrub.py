"""Secret scrubbing, applied to every event before anything leaves the process.

Three mechanisms: values under *sensitive keys* (headers, query parameters, locals, extra,
``key=value`` pairs in text) are replaced by ``[Filtered]``; secret-shaped text (URL
passwords, ``Bearer``/``Basic`` credentials, JWTs) is filtered wherever it appears; and
credentials are recognised by their issuer's format with no key in front of them (AWS,
GitHub, Slack, Stripe, OpenAI, Google keys, chat webhook URLs, PEM private keys, card
numbers: :mod:`erralert._capture.credentials`, plus a team's own ``scrub_patterns``).

Most strings hold nothing to scrub, so :meth:`Scrubber.text` first looks for fragments of
anything that could start a secret and returns the string untouched when there are none.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus

from erralert._capture.credentials import (
    CREDENTIAL_PATTERNS,
    FILTERED,
    CredentialPattern,
    CredentialPatterns,
    user_pattern,
)
from erralert._capture.traceback_text import format_traceback
from erralert._core.event import Event, ExceptionInfo, Frame, Request

__all__ = ["FILTERED", "SENSITIVE_KEYS", "Scrubber"]

SENSITIVE_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "auth",
    "cookie",
    "session",
    "csrf",
    "api_key",
    "apikey",
    "private_key",
    "credential",
)

# Fragments covering every SENSITIVE_KEYS entry (in "_" and "-" spellings), "://" for URL
# passwords, "eyj" for JWTs, the authorization schemes and the "..." of a cut.
_PRECHECK = (
    "pass",
    "secret",
    "token",
    "auth",
    "cookie",
    "session",
    "csrf",
    "api",
    "private",
    "credential",
    "://",
    "eyj",
    "bearer",
    "basic",
    "...",  # a cut ("{'Auth...ization': 'abc'}") may have taken the key's sensitive word
)

_MAX_DEPTH = 10  # nesting followed by mapping(); deeper values are replaced, not walked
_KEY_CACHE_MAX = 10_000
_LINE_CACHE_MAX = 10_000

# `scheme://user:password@host`: the password may itself contain "@" (unencoded), so it
# runs to the last "@" before the host ends. A repr cut short by reprlib ("...") may have
# lost the "@": a `user:` followed by the cut is still a password.
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?:[^\s/?#]*(?P<at>@)|[^\s/?#@]*?(?=\.\.\.))"
)
# (the signature may be empty, or cut off: never taking a dot of the "..." of a cut)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+(?:\.(?!\.)[A-Za-z0-9_\-]*)?")
_AUTH_SCHEME = re.compile(
    r"\b(?P<scheme>(?i:bearer|basic))(?P<sp>[\x20\t]+)(?P<cred>[A-Za-z0-9\-._~+/]+=*)"
)
# A Cookie header's value is a list of pairs whose names are arbitrary ("sid=..."): the
# whole rest of the line goes.
_COOKIE_HEADER = re.compile(r"(?P<head>\b(?i:set-cookie|cookie)[\x20\t]*:[\x20\t]*)[^\r\n]+")
# "TokenExpiredError: ..." is an exception's type and message, not a secret's key and value
_EXCEPTION_NAME = re.compile(r"[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt|Failure)$")
_QUERY_SEPARATORS = re.compile(r"([&;])")
# "user:password@host" at the start of a header value without a scheme (a Host or
# X-Forwarded-Host header a client filled in from a URL with credentials); the request URL
# is built from it and scrubbed as a URL, the header must not keep what the URL lost
_AUTHORITY_USERINFO = re.compile(r"^(?P<user>[^:@/\s]*):[^@/\s]*@(?=[^@/\s]+$)")

# The value of a `key=value` / `key: value` pair: a quoted string (optionally a bytes
# literal), an authorization value ("Bearer xyz" as one value), or a bare token. The bare
# token is possessive and must not be followed by "(" or "[" so that source code such as
# `token = get_token()` or `password = form["password"]` is left alone ("[Filtered]", put
# by an earlier pass, is no index). A quoted string
# may have its quotes escaped: the repr of a string holding both kinds of quotes escapes
# its single quotes (a local's repr, an exception's repr inside a local), and JSON inside
# a string escapes its double quotes (a cut may leave a plain quote to close it). It may
# also have lost its closing quote: a repr cut short ("{'token': 'abc...") ends the text or
# the line inside the value; or the cut may come first ("{'token': ...'abc'}"): the value
# is the cut and what follows it.
_QUOTED = r"""
        \\"(?:[^"\\\n]|\\[^"\n])*(?:\\?"|\Z|(?=\n))
      | \\'(?:[^'\\\n]|\\[^'\n])*(?:\\?'|\Z|(?=\n))
      | [bB]?"(?:[^"\\\n]|\\.)*(?:"|\Z|(?=\n))
      | [bB]?'(?:[^'\\\n]|\\.)*(?:'|\Z|(?=\n))
"""
# an authorization value is "Bearer xyz" as one value
_SCHEME = r"(?:(?i:bearer|basic|token|digest|negotiate|apikey)[\x20\t]+)"
_VALUE = rf"""
    (?P<value>
        \.{{3,}}[\x20\t]*(?:{_QUOTED}|{_SCHEME}?[^\s,;&'"()\[\]{{}}<>]+)?
      | {_QUOTED}
      | {_SCHEME}?
        [^\s,;&'"()\[\]{{}}<>]++(?!\(|\[(?!Filtered\]))
    )
"""
# "key": value and 'key': value (JSON, Python dict reprs)
_QUOTED_PAIR = re.compile(
    r"""(?P<q>\\?["'])(?P<key>[^"'\\\s]{1,100})(?P=q)(?P<sep>\s*[:=]\s*)""" + _VALUE,
    re.VERBOSE,
)
# ("authorization", "Bearer x"), (b"cookie", b"sid=x"), ["token", "x"]: a header list as
# ASGI scopes and many HTTP clients keep them, in the repr of a local (a quoted value only:
# `headers.get("token", default)` in a source line is code, not a secret)
_TUPLE_PAIR = re.compile(
    r"""[(\[]\s*[bB]?(?P<q>\\?["'])(?P<key>[^"'\\\s]{1,100})(?P=q)(?P<sep>\s*,\s*)"""
    rf"""(?P<value>{_QUOTED})""",
    re.VERBOSE,
)
# the "..." of a repr cut in the middle ("head...tail"), not the one reprlib puts for the
# items it leaves out ("[1, 2, ...]", "{...}") nor the one of a cut at the end
_MID_CUT = re.compile(r"\.{3,}(?![\])}>]|\Z)")
# key=value and key: value (logs, query strings, headers, kwargs reprs)
# (the key may end in a quote whose opening one is gone, and start with the "..." of a
# cut: a repr cut short in the middle, "{'Auth...ization': 'abc'}" or "{'x': 'y...ization':
# 'abc'}", keeps the end of a key and its value)
_BARE_PAIR = re.compile(
    r"""(?<![\w.\-])(?P<key>(?:\.\.\.)?[A-Za-z_][\w.\-]{0,99})"""
    r"""(?P<sep>(?:\\?["'])?[\x20\t]*(?:=|:(?!//))[\x20\t]*)""" + _VALUE,
    re.VERBOSE,
)


def _normalise_key(key: str) -> str:
    return key.lower().replace("-", "_")


def _quoted(value: str) -> str:
    """``[Filtered]`` in the quoting style of the value it replaces."""
    prefix = ""
    if value[:1] in "bB\\" and value[1:2] in ("'", '"'):
        prefix, value = value[0], value[1:]
        if prefix == "\\" and value.endswith("\\" + value[0]):  # \'secret\'
            return f"\\{value[0]}{FILTERED}\\{value[0]}"
    if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
        return f"{prefix}{value[0]}{FILTERED}{value[0]}"
    return FILTERED


def _credentials(match: re.Match[str]) -> str:
    password = match[0][len(match["head"]) + 1 : len(match[0]) - len(match["at"] or "")]
    if _MASKED.fullmatch(password):
        return match[0]  # masked already ("redis://:***@host" in a log line): keep it
    return f"{match['head']}:{FILTERED}{match['at'] or ''}"


# what erralert writes instead of a secret: filtering it again would only change the look
_MASKED = re.compile(r"\*{3,}|\[Filtered\]")


def _userinfo(match: re.Match[str]) -> str:
    return f"{match['user']}:{FILTERED}@"


def _own_pattern(pattern: str | re.Pattern[str] | CredentialPattern) -> CredentialPattern:
    if isinstance(pattern, CredentialPattern):
        return pattern
    return user_pattern(pattern)


def _looks_like_basic_credential(cred: str) -> bool:
    # "Basic" is also an English word: only filter what looks like base64
    # ("Basic dXNlcjpwYXNz"), not "Basic Information".
    if len(cred) < 8:
        return False
    return any(c.isdigit() or c in "+/=" for c in cred) or any(c.isupper() for c in cred[1:])


class Scrubber:
    """Filters secrets out of strings, mappings, URLs, requests and whole events.

    A key is sensitive when, lower-cased with ``-`` read as ``_``, it contains one of
    :data:`SENSITIVE_KEYS` or one of ``extra_keys`` (normalised the same way).
    ``extra_patterns`` are a team's own credential formats: regular expressions (strings
    or compiled) whose match, or its group ``secret``, is filtered in any text, next to
    the formats of :data:`erralert._capture.credentials.CREDENTIAL_PATTERNS`. A pattern that does
    not compile raises ``re.error``; one that matches the empty string, ``ValueError``."""

    def __init__(
        self,
        extra_keys: Iterable[str] = (),
        extra_patterns: Iterable[str | re.Pattern[str] | CredentialPattern] = (),
        *,
        formats: Sequence[CredentialPattern] = CREDENTIAL_PATTERNS,
    ) -> None:
        # formats=(): the key rules alone (benchmarks.scrubbing measures what formats cost)
        own = tuple(_own_pattern(p) for p in extra_patterns)
        self._credentials = CredentialPatterns((*formats, *own))
        extra = tuple(_normalise_key(str(k)) for k in extra_keys if str(k))
        self._needles: tuple[str, ...] = tuple(dict.fromkeys(SENSITIVE_KEYS + extra))
        self._key_cache: dict[str, bool] = {}
        self._line_cache: dict[str, str] = {}  # source line -> scrubbed (itself when clean)
        # Lower-case fragments of anything that can start a secret: a sensitive word (a
        # pair's key), a URL, a JWT, an authorization scheme. Strings without any of them are
        # returned as they are. (Substring tests on the lower-cased text: a regex alternation
        # is ten times slower here.)
        extra_forms = {form for k in extra for form in (k, k.replace("_", "-"))}
        self._precheck: tuple[str, ...] = tuple(dict.fromkeys((*_PRECHECK, *extra_forms)))

    def is_sensitive(self, key: str) -> bool:
        """Whether the value under ``key`` must be filtered."""
        cached = self._key_cache.get(key)
        if cached is not None:
            return cached
        normalised = _normalise_key(key)
        result = any(needle in normalised for needle in self._needles)
        if len(self._key_cache) >= _KEY_CACHE_MAX:
            self._key_cache.clear()
        self._key_cache[key] = result
        return result

    # -- text ----------------------------------------------------------------------------------
    def text(self, s: str) -> str:
        """``s`` with URL passwords, ``Bearer``/``Basic`` credentials, JWTs, the values
        of sensitive ``key=value`` / ``key: value`` / ``"key": "value"`` pairs and the
        credentials recognised by their format filtered (``s`` itself when nothing was)."""
        if not s:
            return s
        lower = s.lower()
        for needle in self._precheck:
            if needle in lower:
                s = self._named(s)
                break
        return self._credentials.redact(s)

    def _named(self, s: str) -> str:
        """The rules that find a secret by what is in front of it: a key, a scheme, a URL's
        user name, a JWT's header."""
        s = _URL_CREDENTIALS.sub(_credentials, s)
        s = _JWT.sub(FILTERED, s)
        s = _COOKIE_HEADER.sub(r"\g<head>" + FILTERED, s)
        s = self._pairs(_TUPLE_PAIR, s)
        s = self._pairs(_QUOTED_PAIR, s)
        s = self._pairs(_BARE_PAIR, s)
        return _AUTH_SCHEME.sub(self._auth, s)

    def _pairs(self, pattern: re.Pattern[str], s: str) -> str:
        """``pattern.sub(self._pair, s)``, except that the value of a pair left alone is
        searched for pairs too: in ``ValueError: password=hunter2`` the first pair's value
        is ``password=hunter2``, and ``re.sub`` would resume after it, never filtering it."""
        pieces: list[str] = []
        pos = 0
        filtered = False
        while (match := pattern.search(s, pos)) is not None:
            replaced = self._pair(match)
            if replaced == match[0]:  # not a secret: go on from the start of its value
                end = match.start("value")
                pieces.append(s[pos:end])
            else:
                filtered = True
                end = match.end()
                pieces.append(s[pos : match.start()])
                pieces.append(replaced)
            pos = end
        if not filtered:
            return s  # the very string: callers tell "nothing to scrub" by identity
        pieces.append(s[pos:])
        return "".join(pieces)

    def _pair(self, match: re.Match[str]) -> str:
        """The pair with its value filtered, or as it is when it is no secret."""
        whole = match[0]
        key = match["key"]
        # a key with the "..." of a cut in it may have lost the word that made it sensitive
        # ("Auth...ization"): its value is filtered all the same
        if not (self.is_sensitive(key) or "..." in key) or _MASKED.fullmatch(match["value"]):
            return whole
        sep = match["sep"]
        if ":" in sep:
            if _EXCEPTION_NAME.match(key.rpartition(".")[2]):
                return whole
            # "app/auth.py:42" and "session.cache.local:6379" are a place, not a secret
            if sep == ":" and "." in key and match["value"].isdigit():
                return whole
        start = match.start("value") - match.start()
        return whole[:start] + _quoted(match["value"])

    @staticmethod
    def _auth(match: re.Match[str]) -> str:
        cred = match["cred"]
        if match["scheme"].lower() == "basic" and not _looks_like_basic_credential(cred):
            return match[0]
        return f"{match['scheme']}{match['sp']}{FILTERED}"

    # -- structures ----------------------------------------------------------------------------
    def mapping(self, d: Mapping[Any, Any]) -> dict[Any, Any]:
        """A copy of ``d`` with values under sensitive keys filtered and other strings
        text-scrubbed, recursing into nested mappings, lists and tuples (cycle-safe; below
        10 levels a container is replaced by ``"[...]"``)."""
        result = self._value(d, 0, set())
        return result if isinstance(result, dict) else {}

    def _value(self, value: Any, depth: int, active: set[int]) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if not isinstance(value, Mapping | list | tuple):
            return value
        if id(value) in active:
            return "[Circular]"
        if depth >= _MAX_DEPTH:
            return "[...]"
        active.add(id(value))
        try:
            if isinstance(value, Mapping):
                return {
                    k: FILTERED if self._sensitive_any(k) else self._value(v, depth + 1, active)
                    for k, v in value.items()
                }
            items = [self._value(v, depth + 1, active) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        finally:
            active.discard(id(value))

    def _sensitive_any(self, key: object) -> bool:
        if isinstance(key, str):
            return self.is_sensitive(key)
        if isinstance(key, bytes):
            return self.is_sensitive(key.decode("latin-1"))
        return False

    def _strings(self, d: Mapping[str, str]) -> dict[str, str]:
        return {k: FILTERED if self.is_sensitive(k) else self.text(v) for k, v in d.items()}

    def url(self, u: str) -> str:
        """``u`` with its password and the values of sensitive query parameters filtered
        (the rest of the URL is text-scrubbed too: a JWT in a path is still a JWT)."""
        if not u:
            return u
        base, hash_, fragment = u.partition("#")
        path, question, query = base.partition("?")
        if question:
            pairs: list[str] = []
            for pair in _QUERY_SEPARATORS.split(query):
                key, eq, _value = pair.partition("=")
                if eq and self.is_sensitive(unquote_plus(key)):
                    pairs.append(f"{key}={FILTERED}")
                else:
                    pairs.append(pair)
            query = "".join(pairs)
        return self.text(f"{path}{question}{query}{hash_}{fragment}")

    def request(self, r: Request) -> Request:
        """A copy of ``r`` with the URL, query, headers and user agent scrubbed; headers
        such as ``Cookie`` and ``Authorization`` are filtered by their name."""
        return dataclasses.replace(
            r,
            url=self.url(r.url) if r.url else r.url,
            path=self.text(r.path) if r.path else r.path,
            query=self._strings(r.query),
            headers={
                k: _AUTHORITY_USERINFO.sub(_userinfo, v)
                for k, v in self._strings(r.headers).items()
            },
            user_agent=self.text(r.user_agent) if r.user_agent else r.user_agent,
            # a client may send any value as its request id
            request_id=self.text(r.request_id) if r.request_id else r.request_id,
        )

    def frame(self, f: Frame) -> Frame:
        """A copy of ``f`` with its source line and locals scrubbed (sensitive names
        filtered, other values text-scrubbed)."""
        locals_ = f.locals
        context_line = f.context_line
        if context_line:
            # source lines come back with every error raised at the same place
            scrubbed = self._line_cache.get(context_line)
            if scrubbed is None:
                scrubbed = self.text(context_line)
                if len(self._line_cache) >= _LINE_CACHE_MAX:
                    self._line_cache.clear()
                self._line_cache[context_line] = scrubbed
            if scrubbed != context_line:
                context_line = scrubbed
        if locals_ is None and context_line is f.context_line:
            return f
        return dataclasses.replace(
            f,
            context_line=context_line,
            locals=None if locals_ is None else self._locals(locals_),
        )

    def _locals(self, locals_: Mapping[str, str]) -> dict[str, str]:
        """Locals are bounded reprs, cut in the middle (``head...tail``) when long, and the
        cut can take a key and leave its value: ``'{"password": "hunter2"}'`` becomes
        ``'{"pass...: "hunter2"}'``, ``'{"password":... "hunter2"}'``, ``'{...hunter2"}'``
        or any other split. No rule can tell a secret from the rest in such a tail, so
        the tail goes: ``head...[Filtered]`` (the head keeps a pair whole, key first)."""
        result: dict[str, str] = {}
        for name, value in locals_.items():
            if self.is_sensitive(name):
                result[name] = FILTERED
                continue
            cut = _MID_CUT.search(value) if "..." in value else None
            if cut is not None:  # before the text rules, which may take the "..." in a value
                value = value[: cut.end()] + FILTERED
            result[name] = self.text(value)
        return result

    def exception(self, e: ExceptionInfo) -> ExceptionInfo:
        """A copy of ``e`` with its message and frames scrubbed (``e`` itself when there was
        nothing to scrub)."""
        message = self.text(e.message)
        frame = self.frame
        frames = [frame(f) for f in e.frames]
        if message is e.message and all(map(operator.is_, frames, e.frames)):
            return e
        return dataclasses.replace(e, message=message, frames=tuple(frames))

    def event(self, e: Event) -> Event:
        """A copy of ``e`` with every text field scrubbed. The traceback is re-rendered from
        the scrubbed exceptions, so it cannot keep what the parts lost."""
        exceptions = tuple([self.exception(x) for x in e.exceptions])
        unchanged = all(map(operator.is_, exceptions, e.exceptions))
        if not exceptions:
            traceback = self.text(e.traceback)
        elif unchanged:
            traceback = e.traceback  # built from these very parts: nothing to re-render
        else:
            traceback = format_traceback(exceptions)
        title = self.text(e.title)
        message = self.text(e.message) if e.message else e.message
        culprit = self.text(e.culprit)
        if (
            unchanged
            and traceback is e.traceback
            and title is e.title
            and message is e.message
            and culprit is e.culprit
            and e.request is None
            and not e.tags
            and not e.extra
        ):
            return e  # nothing held a secret: no copy (the first alert of every error)
        return dataclasses.replace(
            e,
            title=title,
            message=message,
            culprit=culprit,
            exceptions=exceptions,
            traceback=traceback,
            request=self.request(e.request) if e.request is not None else None,
            tags=self._strings(e.tags),
            extra=self.mapping(e.extra),
        )

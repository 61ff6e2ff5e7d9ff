"""Credentials recognised by their own shape, wherever they appear in text.

The key rules of :mod:`erralert._capture.scrub` filter a value because of the name in front of it
(``password=…``). A credential in an exception message (``call failed:
AKIAIOSFODNN7EXAMPLE``), a local's repr or a header nobody named ``token`` has no such
name: it is recognised here by the format its issuer gave it. Each pattern below names
where that format is published — the rules of gitleaks' default configuration
(``config/gitleaks.toml``, cited by rule id), GitHub secret scanning's list of supported
patterns, or the issuer's own documentation.

What is replaced is the secret part: a recognisable, harmless prefix stays (``ghp_``,
``sk_live_``, ``https://hooks.slack.com/services/``), so the person reading the alert knows
*which* credential leaked and can rotate it; the rest becomes ``[Filtered]``.

Cost: :meth:`CredentialPatterns.redact` first asks two cheap questions of the whole
string, each one regular-expression search in C: is there a run of 20 token characters
(every credential here has one: the shortest, an AWS access key id, is 20 characters), and
is there a run of digits that could start a card number. Most strings answer no to both
and are returned untouched; the keyword checks and the patterns run only for the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CREDENTIAL_PATTERNS",
    "FILTERED",
    "CredentialPattern",
    "CredentialPatterns",
    "luhn_valid",
    "user_pattern",
]

FILTERED = "[Filtered]"


# the characters of a token: letters, digits, "_" and "-"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class CredentialPattern:
    """One credential format.

    ``regex`` matches the credential; its group ``secret``, when it has one, is the part
    replaced (the rest of the match stays), else the whole match is. ``keywords`` are
    lower-case fragments one of which every match contains (None: the pattern always
    runs). ``check``, when given, must accept the matched secret too (a card number's Luhn
    digit). ``source`` says where the format is published."""

    name: str
    regex: re.Pattern[str]
    source: str
    keywords: tuple[str, ...] | None
    check: Callable[[str], bool] | None = None
    # characters that must not come right before a match (a token character: the match
    # would be the end of a longer word). Checked here, not by a lookbehind in the regex,
    # so that a regex starting with a literal or a class keeps re's fast scan for it.
    not_after: frozenset[str] = frozenset()

    def redact(self, text: str) -> str:
        """``text`` with every match's secret replaced (``text`` itself when none)."""
        return self.regex.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        begin = match.start()
        if begin and match.string[begin - 1] in self.not_after:
            return match[0]  # the end of a longer word, not a credential
        if "secret" in self.regex.groupindex and match["secret"] is not None:
            start, end = match.span("secret")
        else:
            start, end = match.span()
        secret = match.string[start:end]
        if not secret or secret == FILTERED:
            return match[0]
        if self.check is not None and not self.check(secret):
            return match[0]
        offset = match.start()
        return match[0][: start - offset] + FILTERED + match[0][end - offset :]


def luhn_valid(number: str) -> bool:
    """Whether the digits of ``number`` (separators ignored) end in a valid Luhn check
    digit (ISO/IEC 7812-1)."""
    digits = [int(c) for c in number if c.isdigit()]
    if not digits:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


# Issuer identification numbers of the card networks whose numbers appear in payment code
# (ISO/IEC 7812; the networks' published ranges) and the lengths each issues. A number
# outside them is left alone even when its Luhn digit happens to be valid (one number in
# ten): ids, millisecond timestamps and order numbers are not card numbers.
_CARD_PREFIXES: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = (
    (re.compile(r"4"), frozenset({13, 16, 19})),  # Visa
    (re.compile(r"5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)"), frozenset({16})),  # MC
    (re.compile(r"3[47]"), frozenset({15})),  # American Express
    (re.compile(r"6(?:011|5|4[4-9])"), frozenset({16, 17, 18, 19})),  # Discover
    (re.compile(r"35(?:2[89]|[3-8])"), frozenset({16, 17, 18, 19})),  # JCB
    (re.compile(r"3(?:0[0-5]|[689])"), frozenset({14, 15, 16, 17, 18, 19})),  # Diners Club
    (re.compile(r"62"), frozenset({16, 17, 18, 19})),  # UnionPay
)


def _card_number(candidate: str) -> bool:
    digits = "".join(c for c in candidate if c.isdigit())
    for prefix, lengths in _CARD_PREFIXES:
        if len(digits) in lengths and prefix.match(digits):
            return luhn_valid(digits)
    return False


def _pattern(
    name: str,
    regex: str,
    source: str,
    keywords: Iterable[str] | None,
    check: Callable[[str], bool] | None = None,
    *,
    not_after: Iterable[str] = "",
) -> CredentialPattern:
    words = None if keywords is None else tuple(k.lower() for k in keywords)
    return CredentialPattern(name, re.compile(regex), source, words, check, frozenset(not_after))


# the end of a token: not followed by another token character
_END = r"(?![A-Za-z0-9_\-])"

CREDENTIAL_PATTERNS: tuple[CredentialPattern, ...] = (
    _pattern(
        "aws-access-key-id",
        r"(?P<prefix>A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)(?P<secret>[A-Z2-7]{16})" + _END,
        "gitleaks rule aws-access-token",
        ["a3t", "akia", "asia", "abia", "acca"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "github-token",
        r"gh[pousr]_(?P<secret>[A-Za-z0-9]{36,251})" + _END,
        "gitleaks rules github-pat, github-oauth, github-app-token, github-refresh-token; "
        "GitHub docs, 'About authentication to GitHub' (token prefixes)",
        ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "github-fine-grained-token",
        r"github_pat_(?P<secret>[A-Za-z0-9_]{22,255})" + _END,
        "gitleaks rule github-fine-grained-pat",
        ["github_pat_"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "gitlab-token",
        r"gl(?:pat|ptt|rt|dt|oas|cbt|imt|ft|soat)-(?P<secret>[A-Za-z0-9_\-]{20,})",
        "gitleaks rules gitlab-pat, gitlab-ptt, gitlab-rrt, gitlab-deploy-token …",
        ["glpat-", "glptt-", "glrt-", "gldt-", "gloas-", "glcbt-", "glimt-", "glft-", "glsoat-"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "slack-token",
        r"(?:xox[abposre]|xoxe\.xox[bp])-(?P<secret>[A-Za-z0-9\-]{10,})",
        "gitleaks rules slack-bot-token, slack-user-token, slack-legacy-token, "
        "slack-config-access-token",
        ["xox"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "slack-app-token",
        r"xapp-(?P<secret>\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]+)",
        "gitleaks rule slack-app-token",
        ["xapp-"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "slack-webhook-url",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9+/_\-]{20,})",
        "gitleaks rule slack-webhook-url",
        ["hooks.slack.com"],
    ),
    _pattern(
        "stripe-key",
        r"(?:sk|rk)_(?:live|test|prod)_(?P<secret>[A-Za-z0-9]{12,247})" + _END,
        "gitleaks rule stripe-access-token",
        ["sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "stripe-webhook-secret",
        r"whsec_(?P<secret>[A-Za-z0-9]{24,})" + _END,
        "GitHub secret scanning: Stripe webhook signing secret (whsec_)",
        ["whsec_"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "openai-api-key",
        r"sk-(?:proj|svcacct|admin)-(?P<secret>[A-Za-z0-9_\-]{20,})" + _END,
        "gitleaks rule openai-api-key; OpenAI's project, service-account and admin key prefixes",
        ["sk-proj-", "sk-svcacct-", "sk-admin-"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "openai-legacy-api-key",
        r"sk-(?P<secret>[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})" + _END,
        "gitleaks rule openai-api-key (T3BlbkFJ is 'OpenAI' in base64)",
        ["t3blbkfj"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "anthropic-api-key",
        r"sk-ant-[a-z]+\d*-(?P<secret>[A-Za-z0-9_\-]{20,})",
        "gitleaks rules anthropic-api-key, anthropic-admin-api-key",
        ["sk-ant-"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "google-api-key",
        r"AIza(?P<secret>[A-Za-z0-9_\-]{35})" + _END,
        "gitleaks rule gcp-api-key",
        ["aiza"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "npm-token",
        r"npm_(?P<secret>[A-Za-z0-9]{36})" + _END,
        "gitleaks rule npm-access-token",
        ["npm_"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "pypi-token",
        r"pypi-(?P<secret>AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})",
        "gitleaks rule pypi-upload-token",
        ["pypi-ageichlwas5vcmc"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "sendgrid-api-key",
        r"SG\.(?P<secret>[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})" + _END,
        "gitleaks rule sendgrid-api-token",
        ["sg."],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "huggingface-token",
        r"hf_(?P<secret>[A-Za-z]{34})" + _END,
        "gitleaks rule huggingface-access-token",
        ["hf_"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "telegram-bot-token",
        # "<bot id>:<secret>": the colon first, so that re scans for it fast
        r":(?<=\d{5}:)(?P<secret>A[A-Za-z0-9_\-]{32,40})" + _END,
        "gitleaks rule telegram-bot-api-token; Telegram Bot API, 'Authorizing your bot'",
        [":a"],
    ),
    _pattern(
        "discord-webhook-url",
        r"discord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d+/(?P<secret>[A-Za-z0-9_\-]{20,})",
        "Discord developer docs, Webhook resource (/webhooks/{webhook.id}/{webhook.token})",
        ["/webhooks/"],
    ),
    _pattern(
        "teams-webhook-url",
        r"\.webhook\.office\.com/webhookb2/(?P<secret>[A-Za-z0-9@/._\-]{20,})",
        "Microsoft Learn, 'Create an Incoming Webhook' (Teams connector URLs)",
        ["webhook.office.com"],
    ),
    _pattern(
        "signed-url-signature",
        r"[?&](?:amp;)?sig=(?P<secret>[A-Za-z0-9%_\-+/=]{20,})",
        "Microsoft Learn: Azure shared access signatures and Power Automate workflow "
        "URLs carry their signature in the sig parameter",
        ["sig="],
    ),
    _pattern(
        "feishu-lark-webhook-url",
        r"/open-apis/bot/v2/hook/(?P<secret>[A-Za-z0-9\-]{20,})",
        "Feishu/Lark open platform, custom bot guide (webhook address)",
        ["/bot/v2/hook/"],
    ),
    _pattern(
        "wecom-webhook-key",
        r"/cgi-bin/webhook/send\?(?:[^\s#]*&)?key=(?P<secret>[A-Za-z0-9\-]{20,})",
        "WeCom developer docs, group robot configuration (webhook key)",
        ["/cgi-bin/webhook/send"],
    ),
    _pattern(
        "dingtalk-signing-secret",
        r"SEC(?P<secret>[a-f0-9]{64})" + _END,
        "DingTalk open platform, custom robot security settings (signing secret: SEC…)",
        ["sec"],
        not_after=_TOKEN_CHARS,
    ),
    _pattern(
        "private-key",
        # the body runs to the END line. A repr shows its line breaks as \n (the repr of
        # a repr as \\n); a cut may have taken the END line: then the body runs as far
        # as base64 and PEM header characters go
        r"(?P<head>-----BEGIN[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----)"
        r"(?P<secret>(?:[A-Za-z0-9+/=\s:,\-]|\\+[rn])+?)"
        r"(?=-----END[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
        r"|[^A-Za-z0-9+/=\s:,\\\-]|\\+(?![\\rn])|\Z)",
        "gitleaks rule private-key",
        ["private key"],
    ),
    _pattern(
        "card-number",
        r"(?P<secret>\d(?:[ \-]?\d){11,18})(?![\d\-])",
        "ISO/IEC 7812: issuer identification numbers and the Luhn check digit",
        None,
        check=_card_number,
        not_after="0123456789.-",
    ),
)

# Every credential above has a run of 20 token characters (the shortest, an AWS access
# key id, is 20 long; a PEM body's base64 lines are 64), and its keyword inside that run or
# at most 100 characters before it. The runs are found by mapping each character to "a" (a
# token character) or " " (any other) and searching the result for 20 "a" — one pass in
# C, ten times faster than a regular expression's scan — and only the text around them is
# searched for keywords. Characters beyond Latin-1 become "?" first: no token character,
# and one character still, so positions stay those of the text.
_RUN_TABLE = bytes(ord("a") if chr(b) in _TOKEN_CHARS else ord(" ") for b in range(256))
_RUN = b"a" * 20
_KEYWORD_REACH = 100
# A card number starts with 8 digits, possibly split in two groups of 4: digits map to
# "0", the separators to "-", and the rest to " " for the same kind of search.
_DIGIT_TABLE = bytes(
    ord("0") if chr(b).isdigit() else ord("-") if chr(b) in " -" else ord(" ") for b in range(256)
)
_CARD_START = re.compile(rb"0000-?0000")
# A long message is cut before it is scrubbed ("… [truncated, …]"), a long repr in the
# middle ("head...tail"): a credential the cut went through has lost the end its pattern
# needs. The run of token characters right before a cut is filtered whole when it carries
# a credential's keyword, and so are the digits right before it that may start a card.
_CUTS = ("...", "…")
_FRAGMENT_BEFORE_CUT = re.compile(r"(?<![A-Za-z0-9_\-+/=.:])[A-Za-z0-9_\-+/=.:]{10,}\Z")
_DIGITS_BEFORE_CUT = re.compile(r"(?<![\d.\-])\d(?:[ \-]?\d){7,17}\Z")


def _token_runs(data: bytes) -> list[tuple[int, int]]:
    """The spans of the runs of 20 token characters or more in ``data`` (a text mapped
    through ``_RUN_TABLE``)."""
    spans: list[tuple[int, int]] = []
    start = data.find(_RUN)
    while start != -1:
        end = data.find(b" ", start + len(_RUN))
        if end == -1:
            end = len(data)
        spans.append((start, end))
        start = data.find(_RUN, end)
    return spans


def user_pattern(source: str | re.Pattern[str]) -> CredentialPattern:
    """A team's own pattern (``scrub_patterns``): a regular expression (text or compiled)
    whose match, or its group ``secret``, is filtered wherever it appears. ``re.error`` is
    raised for a pattern that does not compile, and ``ValueError`` for one that matches the
    empty string (it would filter between every two characters)."""
    compiled = re.compile(source)
    if compiled.search("") is not None:
        raise ValueError("matches the empty string")
    name = f"scrub_patterns: {compiled.pattern}"
    return CredentialPattern(name, compiled, "scrub_patterns", None)


@dataclass(frozen=True)
class CredentialPatterns:
    """The patterns a scrubber applies: erralert's list and a team's own."""

    patterns: Sequence[CredentialPattern] = CREDENTIAL_PATTERNS
    _gated: tuple[CredentialPattern, ...] = field(init=False, repr=False)
    _cards: tuple[CredentialPattern, ...] = field(init=False, repr=False)
    _always: tuple[CredentialPattern, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cards = tuple(p for p in self.patterns if p.name == "card-number")
        object.__setattr__(self, "_cards", cards)
        gated = tuple(p for p in self.patterns if p.keywords is not None)
        object.__setattr__(self, "_gated", gated)
        always = tuple(p for p in self.patterns if p.keywords is None and p not in cards)
        object.__setattr__(self, "_always", always)

    def redact(self, text: str) -> str:
        """``text`` with every credential's secret replaced by ``[Filtered]`` (``text``
        itself, the same object, when there was none)."""
        if not self.patterns:
            return text
        result = text
        data = text.encode("latin-1", "replace")
        runs = _token_runs(data.translate(_RUN_TABLE)) if self._gated else []
        if runs:
            near = "\n".join(text[max(0, a - _KEYWORD_REACH) : b].lower() for a, b in runs)
            for pattern in self._gated:
                for keyword in pattern.keywords or ():
                    if keyword in near:
                        result = pattern.redact(result)
                        break
        cards = bool(self._cards) and _CARD_START.search(data.translate(_DIGIT_TABLE))
        if cards:
            for pattern in self._cards:
                result = pattern.redact(result)
        for pattern in self._always:
            result = pattern.redact(result)
        for cut in _CUTS:
            if cut in result:
                result = self._before_cuts(result, cut, digits=bool(cards))
        return result if result != text else text

    def _before_cuts(self, text: str, cut: str, *, digits: bool) -> str:
        """``text`` with the fragment right before each ``cut`` filtered when it is the
        head of a credential."""
        pieces: list[str] = []
        done = 0
        at = text.find(cut)
        while at != -1:
            head = text[max(done, at - 300) : at]
            fragment = _FRAGMENT_BEFORE_CUT.search(head)
            if fragment is not None and not self._names_a_credential(fragment[0]):
                fragment = None
            if fragment is None and digits:
                fragment = _DIGITS_BEFORE_CUT.search(head)
            if fragment is not None:
                begin = at - len(head) + fragment.start()
                pieces += [text[done:begin], FILTERED]
                done = at
            at = text.find(cut, at + len(cut))
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _names_a_credential(self, fragment: str) -> bool:
        lower = fragment.lower()
        for pattern in self._gated:
            for keyword in pattern.keywords or ():
                # the shortest keywords ("sec", ":a") are too common to decide alone
                if len(keyword) >= 4 and keyword in lower:
                    return True
        return False

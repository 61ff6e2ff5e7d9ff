"""Credentials in their issuers' formats, for the scrubbing tests: a Hypothesis strategy
that builds one of each format with a random body, and a Luhn-valid card number builder.

Every value is built here at run time from random characters: none is a real credential
(and none is a fixed example a secret scanner would flag in this repository).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from hypothesis import strategies as st

ALNUM = string.ascii_letters + string.digits
UPPER_BASE32 = string.ascii_uppercase + "234567"
HEX = "0123456789abcdef"
BASE64 = ALNUM + "+/"


@dataclass(frozen=True)
class Credential:
    """``text``: the credential as it would appear; ``secret``: the part that must never
    reach chat (``text`` without its harmless prefix)."""

    kind: str
    text: str
    secret: str

    def evidence(self) -> list[str]:
        """What a payload must not contain: the secret's letter-and-digit runs of 10 or
        more characters (no dialect escapes letters or digits, so an escaped leak is
        still found), or for a card number its digits."""
        if self.kind == "card-number":
            return [self.text, re.sub(r"\D", "", self.text)]
        return [run for run in re.findall(r"[A-Za-z0-9]+", self.secret) if len(run) >= 10]


def luhn_complete(payload: str) -> str:
    """``payload`` followed by its Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the check digit will sit to its right
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return payload + str((10 - total % 10) % 10)


# issuer prefixes and a length each network issues (the scrubber's table has them all)
CARD_PREFIXES = [
    ("4", 16),
    ("4", 13),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 19),
    ("3530", 16),
    ("36", 14),
    ("62", 18),
]


def _chars(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=size, max_size=size)


@st.composite
def card_number(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from(CARD_PREFIXES))
    digits = luhn_complete(prefix + draw(_chars(string.digits, length - len(prefix) - 1)))
    separator = draw(st.sampled_from(["", " ", "-"]))
    if not separator:
        return digits
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@st.composite
def credential(draw: st.DrawFn) -> Credential:
    """One credential of a format erralert recognises, with a random body."""
    kind = draw(
        st.sampled_from(
            [
                "aws",
                "github",
                "github-fine-grained",
                "gitlab",
                "slack-token",
                "slack-webhook",
                "stripe",
                "openai",
                "anthropic",
                "google",
                "npm",
                "telegram",
                "discord-webhook",
                "private-key",
                "card-number",
            ]
        )
    )
    if kind == "aws":
        prefix = draw(st.sampled_from(["AKIA", "ASIA"]))
        secret = draw(_chars(UPPER_BASE32, 16))
        return Credential(kind, prefix + secret, secret)
    if kind == "github":
        prefix = draw(st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]))
        secret = draw(_chars(ALNUM, 36))
        return Credential(kind, prefix + secret, secret)
    if kind == "github-fine-grained":
        secret = draw(_chars(ALNUM, 22)) + "_" + draw(_chars(ALNUM, 59))
        return Credential(kind, "github_pat_" + secret, secret)
    if kind == "gitlab":
        secret = draw(_chars(ALNUM, 20))
        return Credential(kind, "glpat-" + secret, secret)
    if kind == "slack-token":
        prefix = draw(st.sampled_from(["xoxb-", "xoxp-", "xoxa-"]))
        secret = "-".join(
            [
                draw(_chars(string.digits, 12)),
                draw(_chars(string.digits, 13)),
                draw(_chars(ALNUM, 24)),
            ]
        )
        return Credential(kind, prefix + secret, secret)
    if kind == "slack-webhook":
        secret = f"T{draw(_chars(ALNUM, 10))}/B{draw(_chars(ALNUM, 10))}/{draw(_chars(ALNUM, 24))}"
        return Credential(kind, "https://hooks.slack.com/services/" + secret, secret)
    if kind == "stripe":
        prefix = draw(st.sampled_from(["sk_live_", "rk_live_", "sk_test_"]))
        secret = draw(_chars(ALNUM, 24))
        return Credential(kind, prefix + secret, secret)
    if kind == "openai":
        prefix = draw(st.sampled_from(["sk-proj-", "sk-svcacct-"]))
        secret = draw(_chars(ALNUM, 48))
        return Credential(kind, prefix + secret, secret)
    if kind == "anthropic":
        secret = draw(_chars(ALNUM, 93)) + "AA"
        return Credential(kind, "sk-ant-api03-" + secret, secret)
    if kind == "google":
        secret = draw(_chars(ALNUM, 35))
        return Credential(kind, "AIza" + secret, secret)
    if kind == "npm":
        secret = draw(_chars(ALNUM, 36))
        return Credential(kind, "npm_" + secret, secret)
    if kind == "telegram":
        secret = "AA" + draw(_chars(ALNUM, 33))
        bot = draw(_chars(string.digits, 10))
        return Credential(kind, f"https://api.telegram.org/bot{bot}:{secret}/sendMessage", secret)
    if kind == "discord-webhook":
        secret = draw(_chars(ALNUM, 68))
        hook = draw(_chars(string.digits, 18))
        return Credential(kind, f"https://discord.com/api/webhooks/{hook}/{secret}", secret)
    if kind == "private-key":
        lines = [draw(_chars(BASE64, 64)) for _ in range(draw(st.integers(1, 4)))]
        label = draw(st.sampled_from(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"]))
        body = "\n".join(lines)
        text = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
        return Credential(kind, text, body)
    number = draw(card_number())
    return Credential("card-number", number, number)

"""Credentials recognised by their format, with no key name in front of them (issue 17):
each format of erralert._capture.credentials filtered with its harmless prefix kept, near misses
left alone, a team's own scrub_patterns, and the alerts of four platforms.

The example credentials are assembled from pieces at run time: none is a real one, and
the source holds none whole (a secret scanner reading this repository finds nothing).
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

import erralert
from erralert._capture.credentials import CREDENTIAL_PATTERNS, FILTERED, luhn_valid
from erralert._capture.scrub import Scrubber
from erralert._core.errors import ConfigError
from erralert._core.event import Request
from erralert.testing import capture_alerts
from tests.channels.test_golden import SAMPLE_URLS
from tests.credential_samples import luhn_complete
from tests.samples import alerts_for

A20 = (string.ascii_letters + string.digits)[:20]  # "abcdefghijklmnopqrst"
B36 = (string.ascii_letters + string.digits)[10:46]
PEM_LINE = "MIIEpAIBAAKCAQEA" + "q" * 48


def pem(label: str, body: str, newline: str = "\n") -> str:
    return f"-----BEGIN {label}-----{newline}{body}{newline}-----END {label}-----"


# (pattern name, text, what the scrubber makes of it)
EXAMPLES: list[tuple[str, str, str]] = [
    ("aws-access-key-id", "call failed: AKIA" + "IOSFODNN7EXAMPLE", f"call failed: AKIA{FILTERED}"),
    ("aws-access-key-id", "ASIA" + "Y34FZKBOKMUTVV7A!", f"ASIA{FILTERED}!"),
    ("github-token", "bad credentials ghp_" + B36, f"bad credentials ghp_{FILTERED}"),
    ("github-token", "ghs_" + B36 + ".", f"ghs_{FILTERED}."),
    ("github-fine-grained-token", "github_pat_" + A20 + "01_" + B36, f"github_pat_{FILTERED}"),
    ("gitlab-token", "glpat-" + A20, f"glpat-{FILTERED}"),
    (
        "slack-token",
        "slack said: xox" + "b-123456789012-1234567890123-" + A20,
        f"slack said: xoxb-{FILTERED}",
    ),
    ("slack-app-token", "xapp-1-A0" + "7654321-9876543210-" + "abc123" * 4, f"xapp-{FILTERED}"),
    (
        "slack-webhook-url",
        "POST https://hooks.slack.com/services/T0AB1CD2E/B0FG3HI4J/" + A20 + "wxyz failed",
        f"POST https://hooks.slack.com/services/{FILTERED} failed",
    ),
    (
        "stripe-key",
        "Invalid API Key provided: sk_" + "live_" + A20 + "1234",
        f"Invalid API Key provided: sk_live_{FILTERED}",
    ),
    ("stripe-key", "rk_" + "test_" + A20, f"rk_test_{FILTERED}"),
    ("stripe-webhook-secret", "whsec_" + A20 + "abcd", f"whsec_{FILTERED}"),
    ("openai-api-key", "key sk-" + "proj-" + B36 + A20, f"key sk-proj-{FILTERED}"),
    ("openai-legacy-api-key", "sk-" + A20 + "T3Blbk" + "FJ" + A20, f"sk-{FILTERED}"),
    ("anthropic-api-key", "sk-" + "ant-api03-" + B36 * 2 + "AA", f"sk-ant-api03-{FILTERED}"),
    (
        "google-api-key",
        "maps said 403 for AIza" + "Sy" + B36[:33],
        f"maps said 403 for AIza{FILTERED}",
    ),
    ("npm-token", "npm_" + B36, f"npm_{FILTERED}"),
    ("pypi-token", "pypi-" + "AgEIcHlwaS5vcmc" + B36 * 2, f"pypi-{FILTERED}"),
    ("sendgrid-api-key", "SG." + A20 + "ab." + B36 + "abcdefg", f"SG.{FILTERED}"),
    ("huggingface-token", "hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH", f"hf_{FILTERED}"),
    (
        "telegram-bot-token",
        "https://api.telegram.org/bot123456789:" + "AAH" + B36[:32] + "/sendMessage",
        f"https://api.telegram.org/bot123456789:{FILTERED}/sendMessage",
    ),
    (
        "discord-webhook-url",
        "https://discord.com/api/webhooks/123456789012345678/" + B36 + A20,
        f"https://discord.com/api/webhooks/123456789012345678/{FILTERED}",
    ),
    (
        "teams-webhook-url",
        "https://contoso.webhook.office.com/webhookb2/"
        + "0a1b2c3d-4e5f@0a1b2c3d/IncomingWebhook/"
        + A20,
        f"https://contoso.webhook.office.com/webhookb2/{FILTERED}",
    ),
    (
        "signed-url-signature",
        "https://prod-12.westus.logic.azure.com/workflows/0a/triggers?sp=run&sig=" + A20 + "%3D x",
        f"https://prod-12.westus.logic.azure.com/workflows/0a/triggers?sp=run&sig={FILTERED} x",
    ),
    (
        "feishu-lark-webhook-url",
        "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        f"https://open.feishu.cn/open-apis/bot/v2/hook/{FILTERED}",
    ),
    (
        "wecom-webhook-key",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2afa5aaa0",
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={FILTERED}",
    ),
    ("dingtalk-signing-secret", "secret SEC" + "0123456789abcdef" * 4, f"secret SEC{FILTERED}"),
    (
        "private-key",
        "key:\n" + pem("RSA PRIVATE KEY", PEM_LINE + "\n" + PEM_LINE[:40] + "==") + "\nloaded",
        f"key:\n-----BEGIN RSA PRIVATE KEY-----{FILTERED}-----END RSA PRIVATE KEY-----\nloaded",
    ),
    (  # a local's repr: the line breaks are "\n"
        "private-key",
        repr(pem("PRIVATE KEY", PEM_LINE)),
        f"'-----BEGIN PRIVATE KEY-----{FILTERED}-----END PRIVATE KEY-----'",
    ),
    (  # the repr of a local holding that repr
        "private-key",
        repr(repr(pem("PRIVATE KEY", PEM_LINE))),
        "\"'-----BEGIN PRIVATE KEY-----" + FILTERED + "-----END PRIVATE KEY-----'\"",
    ),
    (  # a message cut before the END line
        "private-key",
        pem("OPENSSH PRIVATE KEY", PEM_LINE)[:70] + "… [truncated, 99 more characters]",
        f"-----BEGIN OPENSSH PRIVATE KEY-----{FILTERED}… [truncated, 99 more characters]",
    ),
    ("card-number", "card 4111 1111 1111 1111 declined", f"card {FILTERED} declined"),
    ("card-number", "pan=5555555555554444;", f"pan={FILTERED};"),
    ("card-number", "amex 3782-822463-10005", f"amex {FILTERED}"),
]


@pytest.mark.parametrize(("name", "text", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_each_format_is_filtered_with_its_prefix_kept(name: str, text: str, expected: str) -> None:
    assert Scrubber().text(text) == expected


def test_every_pattern_has_a_source_an_example_and_keywords_the_example_contains() -> None:
    names = [p.name for p in CREDENTIAL_PATTERNS]
    assert len(names) == len(set(names))
    for pattern in CREDENTIAL_PATTERNS:
        assert pattern.source.strip(), pattern.name
        mine = [text for name, text, _ in EXAMPLES if name == pattern.name]
        assert mine, f"{pattern.name} has no example"
        for text in mine:
            assert pattern.regex.search(text), (pattern.name, text)
            if pattern.keywords is not None:  # the keyword gate lets each example through
                assert pattern.keywords == tuple(k.lower() for k in pattern.keywords)
                assert any(k in text.lower() for k in pattern.keywords), (pattern.name, text)


NEAR_MISSES = [
    "KeyError: 'cart-7'",
    "AKIAiosfodnn7example is lower case",  # not the format (upper case base32)
    "XAKIA" + "IOSFODNN7EXAMPLE",  # part of a longer word
    "ghp_tooshort",
    "request 6f1c2a9e-0b7d-4c2e-9a31-8d5e7f4b2c10 failed",  # a UUID
    "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",  # a git hash
    "at 1796658959644 ms",  # a millisecond timestamp: no card network issues 1…
    "order 4111111111111112",  # a Visa prefix whose Luhn digit is wrong
    "phone +1 415 555 2671",
    "2026-12-07 16:56:16,123 took 250 ms",
    "task-queue-abcdefghijklmnopqrstuvwxyz",  # "sk-" inside a word
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
    'File "/srv/app/site-packages/starlette/middleware/errors.py", line 165, in __call__',
    "-----BEGIN CERTIFICATE-----\nMIIB" + "x" * 60 + "\n-----END CERTIFICATE-----",
    "seconds elapsed... retrying",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_what_only_resembles_a_credential_is_left_as_it_is(text: str) -> None:
    assert Scrubber().text(text) is text  # the very string: nothing was copied


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("")
    assert luhn_complete("7992739871") == "79927398713"


def test_a_credential_cut_short_is_filtered_up_to_the_cut() -> None:
    scrub = Scrubber().text
    cut = "AKIA" + "IOSFODN"  # a message cut after 11 of the key's 20 characters
    assert scrub(f"call failed: {cut}… [truncated, 9 more characters]") == (
        f"call failed: {FILTERED}… [truncated, 9 more characters]"
    )
    assert scrub("{'k': 'ghp_" + B36[:12] + "...'}") == "{'k': '" + FILTERED + "...'}"
    assert scrub("card 4111 1111 11… [truncated]") == f"card {FILTERED}… [truncated]"
    assert scrub("waited 3 seconds...") == "waited 3 seconds..."


def test_credentials_in_locals_request_tags_and_extra() -> None:
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    scrubber = Scrubber()
    request = Request(
        url=f"https://shop.example/cb?ref={key}",
        path=f"/cb/{key}",
        query={"ref": key},
        headers={"x-upstream": key},
        user_agent=f"bot {key}",
        request_id=key,
    )
    scrubbed = scrubber.request(request)
    shown = json.dumps([scrubbed.url, scrubbed.path, scrubbed.query, scrubbed.headers])
    shown += json.dumps([scrubbed.user_agent, scrubbed.request_id])
    assert key[4:] not in shown
    assert scrubber.mapping({"upstream": {"said": [key]}}) == {
        "upstream": {"said": [f"AKIA{FILTERED}"]}
    }


# -- a team's own patterns -------------------------------------------------------------------


def test_scrub_patterns_filter_a_teams_own_formats() -> None:
    alerter = erralert.Alerter(
        ["webhook+https://alerts.example.com/hook"],
        scrub_patterns=[r"INV-\d{8}", re.compile(r"iban:(?P<secret>[A-Z]{2}\d{2}[A-Z0-9]{10,30})")],
    )
    [alert] = alerts_for(
        alerter, ValueError("invoice INV-20261207 for iban:DE89370400440532013000 refused")
    )
    assert alert.payload["event"]["exceptions"][-1]["message"] == (
        f"invoice {FILTERED} for iban:{FILTERED} refused"
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "scrub_patterns",
            ["INV-(\\d+"],
            "scrub_patterns: 'INV-(\\\\d+' missing ), unterminated subpattern",
        ),
        ("scrub_patterns", ["x*"], "scrub_patterns: 'x*' matches the empty string"),
        ("scrub_patterns", "INV-\\d+", "scrub_patterns must be a list, got a single 'INV-\\\\d+'"),
        ("scrub_keys", "iban", "scrub_keys must be a list, got a single 'iban'"),
    ],
)
def test_a_pattern_that_cannot_work_is_refused_by_name(
    option: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        erralert.Alerter([], **{option: value})  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_scrub_patterns_from_the_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "erralert.toml"
    config.write_text(
        'webhooks = ["webhook+https://alerts.example.com/hook"]\n'
        "scrub_patterns = ['INV-[0-9]{8}']\n"
    )
    monkeypatch.setenv("ERRALERT_CONFIG", str(config))
    alerter = erralert.init()
    try:
        with capture_alerts(alerter) as alerts:
            alerter.capture_message("invoice INV-20261207 refused")
        assert alerts[0].payload["event"]["message"] == f"invoice {FILTERED} refused"
    finally:
        alerter.close(0.1)


# -- what four platforms receive -------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_no_platform_receives_the_credential(name: str, text: str, expected: str) -> None:
    platforms = ("slack", "dingtalk", "telegram", "webhook")
    alerter = erralert.Alerter([SAMPLE_URLS[p] for p in platforms], include_locals=True)
    upstream = f"the upstream said {text}"  # a local holding it too
    alerts = alerts_for(
        alerter, RuntimeError(f"call failed: {text}"), tags={"upstream": upstream.splitlines()[0]}
    )
    assert sorted(a.platform for a in alerts) == sorted(platforms)
    evidence = lost_runs(name, text, expected)
    for alert in alerts:
        sent = alert.request.content.decode() if alert.request is not None else ""
        shown = json.dumps(alert.payload, ensure_ascii=False)
        for secret in evidence:
            assert secret not in sent, (alert.platform, secret)
            assert secret not in shown, (alert.platform, secret)


def lost_runs(name: str, text: str, expected: str) -> list[str]:
    """What the scrubbed form lost: the runs of letters and digits of ``text`` (8 or more)
    missing from ``expected``, or a card number's digits, as written and run together."""
    if name == "card-number":
        number = re.search(r"\d[\d -]{11,}\d", text)
        assert number is not None
        return [number[0], re.sub(r"\D", "", number[0])]
    lost = [run for run in re.findall(r"[A-Za-z0-9]{8,}", text) if run not in expected]
    assert lost, text
    return lost

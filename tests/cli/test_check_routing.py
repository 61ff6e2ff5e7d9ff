"""`erralert check` with routes and owners (from an ERRALERT_CONFIG file): the routing table,
the owners, the silenced counts a shared store holds, `--explain`, and a broken rule named."""

from __future__ import annotations

from pathlib import Path

import pytest

import erralert
from erralert.cli import main

CONFIG = """
service = "shop"
environment = "production"
webhooks = ["slack://T0AB1CD2E/B0FG3HI4J/abcDEF123ghiJKL456mnoPQR"]
store = "sqlite:///{db}"

[[routes]]
name = "payments"
match = {{ exception = "tests.shop.payments.PaymentError" }}
webhooks = ["dingtalk://PAYTOKEN0123?secret=SECpay&name=payments-dingtalk"]
mention = ["dingtalk:13800000000"]
window = 600

[[routes]]
name = "client-gone"
match = {{ exception = "ConnectionResetError" }}
webhooks = []

[owners]
"shop/payments/**" = ["dingtalk:13900000000"]
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "erralert.toml"
    path.write_text(CONFIG.format(db=tmp_path / "erralert.db"))
    monkeypatch.setenv("ERRALERT_CONFIG", str(path))
    return path


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out + err


def test_the_routing_table_owners_and_silenced_counts(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the app, sharing the SQLite store, silenced three connection resets
    alerter = erralert.Alerter(**erralert._core.config.env_options())
    for _ in range(3):
        try:
            raise ConnectionResetError("peer went away")
        except ConnectionResetError as exc:
            alerter.capture_exception(exc)
    alerter.close(1)

    code, out = check(capsys)
    assert code == 0, out
    lines = out.splitlines()
    start = lines.index("routing (first matching rule wins unless it says continue):")
    header = lines[start + 1].split()
    assert header == ["#", "rule", "match", "goes", "to", "mention", "window", "then"]
    payments = lines[start + 3]
    assert payments.split()[:3] == ["0", "payments", "exception=tests.shop.payments.PaymentError"]
    assert "payments-dingtalk" in payments
    assert "dingtalk:13800000000" in payments
    assert payments.split()[-2:] == ["s", "stop"]
    assert "600 s" in payments
    silence = lines[start + 4]
    assert "client-gone" in silence
    assert "silenced (counted, not sent) — 3 silenced so far" in silence
    default = lines[start + 5]
    assert "default" in default
    assert "(no rule matched)" in default
    assert "hooks.slack.com/services/***" in default
    owners = lines.index("owners:")
    assert lines[owners + 3].split() == ["shop/payments/**", "dingtalk:13900000000"]
    for secret in ("PAYTOKEN0123", "SECpay", "abcDEF123ghiJKL456mnoPQR"):
        assert secret not in out


def test_explain_says_which_rule_matches_and_why(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(
        capsys,
        "--explain",
        "tests.shop.payments.PaymentDeclined at /srv/app/shop/payments/charge.py:7 route=/pay",
    )
    assert code == 0, out
    explained = out[out.index("error: ") :].splitlines()
    assert explained[0] == (
        "error: tests.shop.payments.PaymentDeclined, at /srv/app/shop/payments/charge.py, "
        "route /pay, env production, level error"
    )
    assert explained[1] == '  routes[0] "payments": matches'
    assert explained[2] == (
        "      ✓ exception: tests.shop.payments.PaymentDeclined (bases: PaymentError, "
        "Exception) — the rule wants tests.shop.payments.PaymentError"
    )
    assert explained[3] == '  routes[1] "client-gone": not tried (a rule above stopped the search)'
    assert explained[4].startswith('→ routes[0] "payments": payments-dingtalk')
    assert (
        explained[5] == "→ window 600 s: repeats are counted and summed up in one digest per window"
    )
    assert explained[6] == (
        "→ its first alert (a new error) mentions 13800000000, 13900000000 on payments-dingtalk"
    )

    code, out = check(capsys, "--explain", "KeyError at shop/catalog.py")
    assert code == 0
    assert '  routes[0] "payments": does not match' in out
    assert "      ✗ exception: KeyError (bases: LookupError, Exception) — the rule wants" in out
    assert "→ the default route (no rule matched): slack:" in out
    assert "→ its first alert mentions nobody beyond the channels' own ?mention=" in out

    code, out = check(capsys, "--explain", "ConnectionResetError")
    assert '→ silenced by routes[1] "client-gone": counted, not sent' in out


def test_a_broken_rule_is_named_and_exits_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(
        config.read_text().replace('exception = "ConnectionResetError"', 'exeption = "X"')
    )
    code, out = check(capsys)
    assert code == 1
    assert (
        "✗ routes[1] \"client-gone\": unknown matcher 'exeption' (did you mean 'exception'?)" in out
    )


def test_a_bad_explain_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        check(capsys, "--explain", "KeyError rout=/x")
    assert exited.value.code == 2
    assert "unknown key 'rout' (did you mean 'route'?)" in capsys.readouterr().err

"""`erralert preview`: golden output for every platform and kind, the --json form, a
script's own exception, and a broken template's file:line with a non-zero exit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from freezegun import freeze_time

from erralert.channels.registry import PLATFORMS
from erralert.cli import main

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ERRALERT_UPDATE_GOLDEN") == "1"
NOW = "2026-11-26 18:20:01"
CASES = [(p, k) for p in sorted(PLATFORMS) for k in ("alert", "digest", "storm")]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with freeze_time(NOW):
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("platform", "kind"), CASES)
def test_preview_output_is_golden(
    capsys: pytest.CaptureFixture[str], platform: str, kind: str
) -> None:
    code, out, err = run(capsys, "preview", "--platform", platform, "--kind", kind)
    assert (code, err) == (0, "")
    path = GOLDEN / f"preview-{platform}-{kind}.txt"
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(out, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path.name} did not exist; written now, review and commit it")
    assert out == path.read_text(encoding="utf-8")


def test_preview_shows_the_sample_where_a_phone_reader_needs_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "preview", "--platform", "dingtalk")
    assert code == 0
    title, body = out.split("── body ──\n")[0], out.split("── body ──\n")[1]
    # where, in the notification; the culprit's path and code line as written
    assert "title: 🔴 [checkout·prod·1.4.3] PaymentDeclined: card declined for order 1042" in title
    assert "- at: shop/payments/gateway.py:140 in Gateway._raise_for\n" in body
    assert '\nraise PaymentDeclined(f"card declined for order {answer.order_id}: ' in body
    assert "\u200b" not in out
    assert "POST /api/orders/1042/pay" in body
    assert "── request: POST https://oapi.dingtalk.com/robot/send?access_token=" in out


def test_preview_json_is_the_exact_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "preview", "--platform", "slack", "--kind", "digest", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["platform"] == "slack"
    assert shown["kind"] == "digest"
    assert shown["title"] == (
        "🔁 [checkout·prod·1.4.3] PaymentDeclined: card declined for order 1042: "
        "insufficient_funds \u00d7138 in 5 min"
    )
    assert shown["template_error"] is None
    request = shown["request"]
    assert request["method"] == "POST"
    assert request["headers"]["x-erralert-kind"] == "digest"
    # the fake token of the stand-in URL is masked like a real one
    assert "abcDEF123ghiJKL456mnoPQR" not in out
    assert request["json"]["text"] == shown["title"]


def test_preview_of_a_webhook_url_uses_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    url = "dingtalk://tok3n?keyword=ALERT&mention=13800000000"
    code, out, _ = run(capsys, "preview", "--webhook", url, "--json")
    assert code == 0
    payload = json.loads(out)["request"]["json"]
    assert "ALERT" in payload["markdown"]["text"]
    assert payload["at"]["atMobiles"] == ["13800000000"]  # an alert of a new error


def test_preview_of_a_script_that_raises(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "billing.py"
    script.write_text(
        "def invoice(customer):\n"
        "    raise LookupError(f'no invoice address for customer {customer}')\n"
        "\n"
        "invoice(77)\n"
    )
    code, out, _ = run(
        capsys, "preview", "--platform", "slack", "--exception-from", str(script), "--json"
    )
    assert code == 0
    shown = json.loads(out)
    assert shown["title"] == "🔴 LookupError: no invoice address for customer 77"
    assert "invoice" in shown["body"]
    assert "billing.py:2" in shown["body"]


def test_preview_of_a_script_that_does_not_raise(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "fine.py"
    script.write_text("x = 1\n")
    code, _, err = run(capsys, "preview", "--platform", "slack", "--exception-from", str(script))
    assert code == 1
    assert "ran to the end without raising" in err


def test_a_template_that_fails_at_run_time_exits_1_naming_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "slack.j2").write_text(
        '{% extends "_base.j2" %}\n{% block body %}\nfine\n'
        "{{ event.title.nope() }}\n{% endblock %}\n"
    )
    code, out, err = run(capsys, "preview", "--platform", "slack", "--template-dir", str(tmp_path))
    assert code == 1
    assert 'custom template "slack.j2" failed' in err
    assert "line 4" in err
    assert "title: " in out  # the built-in template's message is still shown


def test_a_template_that_does_not_compile_exits_1_with_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "slack.j2").write_text("{% if %}\n")
    code, _, err = run(capsys, "preview", "--platform", "slack", "--template-dir", str(tmp_path))
    assert code == 1
    assert f"{tmp_path / 'slack.j2'}:1" in err


def test_preview_needs_a_platform_or_a_webhook(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["preview"])
    assert exited.value.code == 2
    assert "--platform" in capsys.readouterr().err

"""The ``links`` and ``tags_to_show`` options from keywords, ``ERRALERT_LINKS`` /
``ERRALERT_TAGS_TO_SHOW`` and the TOML file (keyword > environment > file), their errors
named, and ``erralert check`` showing the links."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import erralert
from erralert._core.config import env_options, file_options, tag_names
from erralert.cli.checkup import check_configuration, renderer_for
from erralert.testing import capture_alerts

WEBHOOK = "webhook+https://alerts.example.com/erralert"
LOGS = "https://logs.example/?q={request_id}"
RUNBOOK = "https://wiki.example/runbooks/{exception}"


def write(folder: Path, text: str) -> Path:
    path = folder / "erralert.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sent_links(alerter: erralert.Alerter) -> list[str]:
    """The names of the links of one alert of ``alerter`` (through the generic webhook)."""
    with capture_alerts(alerter) as alerts:
        try:
            raise LookupError("warehouse 7 down")
        except LookupError as exc:
            alerter.capture_exception(exc, tags={"tenant": "acme", "plan": "pro"})
        alerter.close(0.1)
    (alert,) = alerts
    return [link["name"] for link in alert.payload["links"]]


# -- the file -----------------------------------------------------------------------------------


def test_the_file_has_a_links_table_and_tags_to_show(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'tags_to_show = ["tenant", "plan"]\n[links]\nlogs = "{LOGS}"\nrunbook = "{RUNBOOK}"\n',
    )
    assert file_options(path) == {
        "links": {"logs": LOGS, "runbook": RUNBOOK},
        "tags_to_show": ["tenant", "plan"],
    }
    # one string is split as the environment variable is
    assert file_options(write(tmp_path, 'tags_to_show = "tenant, plan"\n')) == {
        "tags_to_show": ["tenant", "plan"]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'links = "https://x.example"',
            "links: expected a table of link names to URL templates ([links] section), "
            "got a string",
        ),
        ("[links]\nlogs = 3", "links['logs']: expected a URL template (a string), got int"),
        (
            '[links]\nlogs = "https://logs.example/?q={requestid}"',
            "links['logs']: unknown placeholder {requestid} (did you mean {request_id}?)",
        ),
        (
            '[links]\nsrc = "file:///srv/{path}"',
            "links['src']: 'file:///srv/{path}' is not an http:// or https:// URL",
        ),
        ("tags_to_show = 3", "tags_to_show: expected an array of tag names, got an integer"),
        (
            "tags_to_show = [1]",
            "tags_to_show: expected tag names (non-empty strings), got 1",
        ),
        (
            'tags_to_show = ["tenant", " "]',
            "tags_to_show: expected tag names (non-empty strings), got ' '",
        ),
    ],
)
def test_file_errors_name_the_file_the_key_and_the_link(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(erralert.ConfigError) as raised:
        file_options(path)
    assert str(raised.value).startswith(f"{path}: {expected}"), str(raised.value)


# -- the environment ----------------------------------------------------------------------------


def test_the_environment_variables() -> None:
    environ = {
        "ERRALERT_LINKS": f'{{"logs": "{LOGS}", "runbook": "{RUNBOOK}"}}',
        "ERRALERT_TAGS_TO_SHOW": " tenant, plan  region,,tenant ",
    }
    assert env_options(environ) == {
        "links": {"logs": LOGS, "runbook": RUNBOOK},
        "tags_to_show": ["tenant", "plan", "region"],
    }
    # empty: not set, so the file's value stays
    assert env_options({"ERRALERT_LINKS": " ", "ERRALERT_TAGS_TO_SHOW": " , "}) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{logs: 1}", "ERRALERT_LINKS: not valid JSON: Expecting property name enclosed in"),
        (
            '["https://x.example"]',
            'ERRALERT_LINKS: expected a JSON object of link names to URL templates (e.g. {"logs":'
            ' "https://logs.example/?q={request_id}"}), got an array',
        ),
        ('"https://x.example"', "ERRALERT_LINKS: expected a JSON object of link names"),
        ("3", "ERRALERT_LINKS: expected a JSON object of link names to URL templates (e.g."),
        ('{"logs": 3}', "ERRALERT_LINKS['logs']: expected a URL template (a string), got int"),
        (
            '{"logs": "https://x.example/{trace}"}',
            "ERRALERT_LINKS['logs']: unknown placeholder {trace} (did you mean {trace_id}?)",
        ),
        ('{"": "https://x.example"}', "ERRALERT_LINKS: a link name must be a non-empty string"),
    ],
)
def test_environment_errors_name_the_variable(value: str, expected: str) -> None:
    with pytest.raises(erralert.ConfigError) as raised:
        env_options({"ERRALERT_LINKS": value})
    assert str(raised.value).startswith(expected), str(raised.value)


# -- precedence ---------------------------------------------------------------------------------


def test_keyword_beats_environment_beats_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        f'webhooks = ["{WEBHOOK}"]\ntags_to_show = ["plan"]\n[links]\nfile = "{RUNBOOK}"\n',
    )
    monkeypatch.setenv("ERRALERT_CONFIG", str(path))
    assert sent_links(erralert.init()) == ["file"]
    monkeypatch.setenv("ERRALERT_LINKS", f'{{"env": "{RUNBOOK}"}}')
    assert sent_links(erralert.init()) == ["env"]
    assert sent_links(erralert.init(links={"keyword": RUNBOOK})) == ["keyword"]
    assert sent_links(erralert.init(links={})) == []  # a keyword may turn them off

    monkeypatch.setenv("ERRALERT_TAGS_TO_SHOW", "tenant")
    assert renderer_for(env_options()).tags_to_show == ("tenant",)
    assert renderer_for({**env_options(), "tags_to_show": ["plan", "tenant"]}).tags_to_show == (
        "plan",
        "tenant",
    )
    monkeypatch.delenv("ERRALERT_TAGS_TO_SHOW")
    assert renderer_for(env_options()).tags_to_show == ("plan",)


def test_a_bad_environment_fails_init_never_a_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", WEBHOOK)
    monkeypatch.setenv("ERRALERT_LINKS", "{not json")
    with pytest.raises(erralert.ConfigError, match=r"^ERRALERT_LINKS: not valid JSON"):
        erralert.init()
    assert erralert.capture_message("no alerter, no exception") is None


def test_tag_names_from_a_string_or_a_list() -> None:
    assert tag_names("tenant,plan region\tzone\n") == ("tenant", "plan", "region", "zone")
    assert tag_names(["tenant", " plan ", "tenant"]) == ("tenant", "plan")
    assert tag_names(()) == ()
    with pytest.raises(erralert.ConfigError, match=r"^tags_to_show: expected a list of tag names"):
        tag_names({"tenant": 1})
    with pytest.raises(erralert.ConfigError, match=r"^X: expected tag names .*got None"):
        tag_names(["a", None], "X")


# -- erralert check -----------------------------------------------------------------------------


def test_check_reports_the_links_and_a_bad_one(tmp_path: Path) -> None:
    report = check_configuration({"webhooks": [WEBHOOK], "links": {"logs": LOGS}})
    assert report.ok, report.problems
    assert [(link.name, link.template) for link in report.links] == [("logs", LOGS)]
    report = check_configuration(
        {"webhooks": [WEBHOOK], "links": {"logs": "https://x.example/{trace}"}}
    )
    assert report.problems == (
        "links['logs']: unknown placeholder {trace} (did you mean {trace_id}?)",
    )
    # the templates were still rendered: the channel names its template
    assert report.channels[0].template == "webhook.j2"


def check(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    env["ERRALERT_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "erralert", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.e2e
def test_erralert_check_prints_the_links(tmp_path: Path) -> None:
    path = write(tmp_path, f'webhooks = ["{WEBHOOK}"]\n[links]\nlogs = "{LOGS}"\n')
    done = check(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"links:\n  logs: {LOGS}\n" in done.stdout


def test_erralert_check_names_a_bad_link(tmp_path: Path) -> None:
    path = write(tmp_path, f'webhooks = ["{WEBHOOK}"]\n[links]\nlogs = "https://x/{{trace}}"\n')
    done = check(path)
    assert done.returncode == 1
    assert (
        f"✗ {path}: links['logs']: unknown placeholder {{trace}} (did you mean {{trace_id}}?)"
        in done.stdout
    )

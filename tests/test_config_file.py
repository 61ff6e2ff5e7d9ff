"""ERRALERT_CONFIG: every Alerter option from a TOML file; keyword options beat the
environment, which beats the file."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import erralert
from erralert._core.config import FILE_OPTIONS, PYTHON_ONLY, env_options, file_options

SLACK = "slack://T0AB1CD2E/B0FG3HI4J/abcDEF123ghiJKL456mnoPQR"
DINGTALK = "dingtalk://t0k?mention=13800000000,13900000000"


def write(folder: Path, text: str, name: str = "erralert.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- loading -----------------------------------------------------------------------------------


def test_every_option_type_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
webhooks = ["{SLACK}", "{DINGTALK}"]
service = "checkout"
environment = "production"
release = "2026.11.3"
window = 600
store = "sqlite:////var/lib/erralert.db"
template_dir = "/srv/alert-templates"
spool = "/var/spool/erralert.sqlite3"
include_locals = true
scrub_keys = ["iban", "otp"]
scrub_patterns = ['INV-[0-9]{{8}}']
ignore = ["myapp.errors.Retry", "KeyboardInterrupt"]
max_queue = 500
timeout = 2.5
enabled = false
max_delay = 30
shutdown_timeout = 1
locale = "zh-CN"
timezone = "Asia/Shanghai"
""",
    )
    assert file_options(path) == {
        "webhooks": [SLACK, DINGTALK],
        "service": "checkout",
        "environment": "production",
        "release": "2026.11.3",
        "window": 600.0,
        "store": "sqlite:////var/lib/erralert.db",
        "template_dir": "/srv/alert-templates",
        "spool": "/var/spool/erralert.sqlite3",
        "include_locals": True,
        "scrub_keys": ["iban", "otp"],
        "scrub_patterns": ["INV-[0-9]{8}"],
        "ignore": ["myapp.errors.Retry", "KeyboardInterrupt"],
        "max_queue": 500,
        "timeout": 2.5,
        "enabled": False,
        "max_delay": 30.0,
        "shutdown_timeout": 1.0,
        "locale": "zh-CN",
        "timezone": "Asia/Shanghai",
    }


def test_an_empty_file_sets_nothing(tmp_path: Path) -> None:
    assert file_options(write(tmp_path, "# nothing yet\n")) == {}


def test_webhooks_may_be_one_string_split_like_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, f'webhooks = "{SLACK}, {DINGTALK}"\n')
    # the comma inside the DingTalk URL's mention list does not split it
    assert file_options(path)["webhooks"] == [SLACK, DINGTALK]


def test_routes_and_owners_are_passed_on_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[routes]]
name = "payments"
match = { module = "shop.payments.*", level = "error" }
webhooks = ["dingtalk://pay"]
mention = ["dingtalk:13800000000"]
window = 60
rate = "10/60"
continue = true

[[routes]]
name = "the rest"
match = {}
webhooks = ["slack://T/B/X"]

[owners]
"shop/payments/*" = ["dingtalk:13800000000", "slack:U024BE7LH"]
"shop/*" = ["feishu:ou_123"]
""",
    )
    options = file_options(path)
    assert options["routes"] == [
        {
            "name": "payments",
            "match": {"module": "shop.payments.*", "level": "error"},
            "webhooks": ["dingtalk://pay"],
            "mention": ["dingtalk:13800000000"],
            "window": 60,
            "rate": "10/60",
            "continue": True,
        },
        {"name": "the rest", "match": {}, "webhooks": ["slack://T/B/X"]},
    ]
    assert options["owners"] == {
        "shop/payments/*": ["dingtalk:13800000000", "slack:U024BE7LH"],
        "shop/*": ["feishu:ou_123"],
    }


def test_relative_paths_are_relative_to_the_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "shop"
    folder.mkdir(parents=True)
    path = write(
        folder,
        'template_dir = "alert-templates"\nspool = "../spool/erralert.sqlite3"\n'
        'owners = "OWNERS"\nstore = "sqlite:///relative.db"\n',
    )
    monkeypatch.chdir(tmp_path)  # the service starts somewhere else
    options = file_options(os.path.relpath(path))
    assert options["template_dir"] == str(folder / "alert-templates")
    assert options["spool"] == str(folder / ".." / "spool" / "erralert.sqlite3")
    assert options["owners"] == str(folder / "OWNERS")
    assert options["store"] == "sqlite:///relative.db"  # a URL is left as written


def test_absolute_and_home_paths_stay_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, 'template_dir = "/srv/templates"\nspool = "~/erralert.sqlite3"\n')
    options = file_options(path)
    assert options["template_dir"] == "/srv/templates"
    assert options["spool"] == str(tmp_path / "home" / "erralert.sqlite3")


def test_every_alerter_option_is_loadable_or_python_only() -> None:
    parameters = set(inspect.signature(erralert.Alerter).parameters)
    assert parameters <= FILE_OPTIONS | set(PYTHON_ONLY)
    # the routing options may not have reached the Alerter yet; nothing else is extra
    assert (FILE_OPTIONS | set(PYTHON_ONLY)) - parameters <= {"routes", "owners"}


# -- precedence --------------------------------------------------------------------------------


def test_keyword_beats_environment_beats_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, f'webhooks = ["{SLACK}"]\nwindow = 100\nservice = "from-file"\n')
    monkeypatch.setenv("ERRALERT_CONFIG", str(path))
    assert erralert.init().window == 100

    monkeypatch.setenv("ERRALERT_WINDOW", "200")
    options = env_options()
    assert options["window"] == 200
    assert options["service"] == "from-file"  # what the environment leaves out
    alerter = erralert.init()
    assert alerter.window == 200
    assert alerter.service == "from-file"

    alerter = erralert.init(window=300)
    assert alerter.window == 300
    assert [c.platform for c in alerter.channels] == ["slack"]


def test_every_environment_variable_beats_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'webhooks = ["{SLACK}"]\nservice = "a"\nenvironment = "a"\nrelease = "a"\n'
        'store = "memory://"\ntemplate_dir = "t"\nspool = "s"\nlocale = "en"\n'
        'timezone = "UTC"\nwindow = 1\nenabled = true\ntags_to_show = ["a"]\n'
        '[links]\na = "https://a.example/{service}"\n',
    )
    environ = {
        "ERRALERT_CONFIG": str(path),
        "ERRALERT_WEBHOOKS": DINGTALK,
        "ERRALERT_SERVICE": "b",
        "ERRALERT_ENVIRONMENT": "b",
        "ERRALERT_RELEASE": "b",
        "ERRALERT_STORE": "sqlite:///b.db",
        "ERRALERT_TEMPLATE_DIR": "tb",
        "ERRALERT_SPOOL": "sb",
        "ERRALERT_LOCALE": "zh",
        "ERRALERT_TIMEZONE": "Asia/Shanghai",
        "ERRALERT_WINDOW": "2",
        "ERRALERT_ENABLED": "0",
        "ERRALERT_LINKS": '{"b": "https://b.example/{release}"}',
        "ERRALERT_TAGS_TO_SHOW": "b",
    }
    assert env_options(environ) == {
        "webhooks": [DINGTALK],
        "service": "b",
        "environment": "b",
        "release": "b",
        "store": "sqlite:///b.db",
        "template_dir": "tb",  # the environment's paths are the working directory's
        "spool": "sb",
        "locale": "zh",
        "timezone": "Asia/Shanghai",
        "window": 2.0,
        "enabled": False,
        "links": {"b": "https://b.example/{release}"},  # the whole table: not merged
        "tags_to_show": ["b"],
    }


def test_an_empty_variable_leaves_the_files_value(tmp_path: Path) -> None:
    path = write(tmp_path, f'webhooks = ["{SLACK}"]\nservice = "shop"\n')
    environ = {"ERRALERT_CONFIG": f" {path} ", "ERRALERT_WEBHOOKS": "", "ERRALERT_SERVICE": " "}
    assert env_options(environ) == {"webhooks": [SLACK], "service": "shop"}


def test_an_empty_erralert_config_reads_no_file() -> None:
    assert env_options({"ERRALERT_CONFIG": "  ", "ERRALERT_SERVICE": "x"}) == {"service": "x"}


# -- the alerter built from the file --------------------------------------------------------------


def test_init_builds_the_alerter_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alert-templates").mkdir()
    path = write(
        tmp_path,
        f"""
service = "checkout"
environment = "production"
window = 42
webhooks = ["{SLACK}", "{DINGTALK}"]
template_dir = "alert-templates"
locale = "zh"
""",
    )
    monkeypatch.setenv("ERRALERT_CONFIG", str(path))
    monkeypatch.chdir(tmp_path.parent)  # template_dir is found from any working directory
    alerter = erralert.init()
    assert alerter.service == "checkout"
    assert alerter.environment == "production"
    assert alerter.window == 42
    assert [c.platform for c in alerter.channels] == ["slack", "dingtalk"]
    assert alerter.channels[1].options.mention == ("13800000000", "13900000000")
    assert alerter.locale == "zh"


def test_init_takes_routes_and_an_owners_file_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "OWNERS").write_text("app/payments/** dingtalk:13800000000\n", encoding="utf-8")
    path = write(
        folder,
        f"""
webhooks = ["{SLACK}"]
owners = "OWNERS"

[[routes]]
name = "payments"
match = {{ path = "app/payments/**" }}
webhooks = ["dingtalk://t0k"]
""",
    )
    monkeypatch.setenv("ERRALERT_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)  # OWNERS is found next to the file
    alerter = erralert.init()
    assert [c.platform for c in alerter.channels] == ["slack", "dingtalk"]


def test_the_file_is_read_when_the_alerter_is_built_not_at_capture_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, 'service = "checkout"\nwebhooks = "console://"\n')
    monkeypatch.setenv("ERRALERT_CONFIG", str(path))
    alerter = erralert.get_alerter()
    path.unlink()
    assert erralert.get_alerter() is alerter
    assert erralert.capture_message("still reported") is not None


def test_a_broken_file_raises_at_init_and_never_at_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRALERT_CONFIG", str(write(tmp_path, "window = \n")))
    with pytest.raises(erralert.ConfigError, match=r"erralert\.toml: not valid TOML"):
        erralert.init()
    assert erralert.capture_message("no alerter, no exception") is None


def test_flask_app_config_beats_environment_beats_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flask = pytest.importorskip("flask")
    from erralert.integrations.flask import EXTENSION, init_app

    path = write(tmp_path, f'webhooks = ["{SLACK}"]\nwindow = 10\nservice = "file"\n')
    monkeypatch.setenv("ERRALERT_CONFIG", str(path))
    monkeypatch.setenv("ERRALERT_SERVICE", "env")
    app = flask.Flask(__name__)
    app.config["ERRALERT"] = {"window": 20}
    init_app(app)
    alerter = app.extensions[EXTENSION].alerter
    assert alerter is not None
    assert (alerter.service, alerter.window) == ("env", 20)
    assert [c.platform for c in alerter.channels] == ["slack"]
    alerter.close(0.1)


# -- errors ------------------------------------------------------------------------------------


def error(path: Path | str) -> str:
    with pytest.raises(erralert.ConfigError) as caught:
        file_options(path)
    return str(caught.value)


def test_an_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, f'webhook = ["{SLACK}"]\n')
    assert error(path) == f"{path}: unknown option 'webhook' (did you mean 'webhooks'?)"


def test_an_unknown_key_without_a_near_name_lists_the_options(tmp_path: Path) -> None:
    message = error(write(tmp_path, "[erralert]\nservice = 'x'\n"))
    assert "unknown option 'erralert'" in message
    assert "webhooks, service" in message


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'service = "shop"\nwindow = 5 minutes\n')
    message = error(path)
    assert message.startswith(f"{path}: not valid TOML: ")
    assert "line 2" in message


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "erralert.toml"
    path.write_bytes('service = "caf\u00e9"\n'.encode("latin-1"))
    assert error(path).startswith(f"{path}: not valid TOML")


def test_a_missing_file_names_the_path_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere.toml"
    assert error(missing) == (
        f"ERRALERT_CONFIG={missing}: cannot read the file: No such file or directory"
    )
    monkeypatch.setenv("ERRALERT_CONFIG", str(missing))
    with pytest.raises(erralert.ConfigError, match=r"ERRALERT_CONFIG=.*nowhere\.toml"):
        erralert.init()


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    assert error(tmp_path).startswith(f"ERRALERT_CONFIG={tmp_path}: cannot read the file")


@pytest.mark.parametrize("name", sorted(PYTHON_ONLY))
def test_python_only_options_are_refused(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'{name} = "myapp.alerts.{name}"\n')
    message = error(path)
    assert message.startswith(f"{path}: {name} is Python-only")
    assert "erralert.init()" in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('window = "5m"', "window: expected a number of seconds, got a string"),
        ("window = true", "window: expected a number of seconds, got a boolean"),
        ('enabled = "no"', "enabled: expected true or false, got a string"),
        ("include_locals = 1", "include_locals: expected true or false, got an integer"),
        ("service = 42", "service: expected a string, got an integer"),
        ("release = 1.2", "release: expected a string, got a float"),
        ("locale = ['en']", "locale: expected a string, got an array"),
        ("store = { url = 'redis://' }", "store: expected a string, got a table"),
        ("timezone = 2026-01-01", "timezone: expected a string, got a date/time"),
        ("max_queue = 10.5", "max_queue: expected an integer, got a float"),
        ("timeout = '10'", "timeout: expected a number of seconds, got a string"),
        ("webhooks = 3", "webhooks: expected a string or an array of strings"),
        ("webhooks = ['slack://T/B/X', 3]", "webhooks: expected a string or an array of strings"),
        ("scrub_keys = 'iban'", "scrub_keys: expected an array of strings, got a string"),
        ("ignore = [1]", "ignore: expected an array of exception names"),
        ("template_dir = ''", "template_dir: expected a path (a non-empty string), got a string"),
        ("spool = false", "spool: expected a path (a non-empty string), got a boolean"),
        ("routes = { name = 'x' }", "routes: expected an array of tables ([[routes]] sections)"),
        ("routes = ['slack://T/B/X']", "routes: expected an array of tables"),
        ("owners = ['dingtalk:1']", "owners: expected a table (glob = [owners]) or the path"),
    ],
)
def test_wrong_types_name_the_file_and_the_key(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, line + "\n")
    assert error(path).startswith(f"{path}: {expected}")


# -- erralert check ----------------------------------------------------------------------------


def check(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    env["ERRALERT_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "erralert", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=cwd,
    )


def test_erralert_check_reads_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    (folder / "alert-templates").mkdir(parents=True)
    path = write(
        folder,
        f'service = "checkout"\nwindow = 120\nwebhooks = ["{SLACK}", "{DINGTALK}"]\n'
        'template_dir = "alert-templates"\n',
    )
    done = check(path, cwd=tmp_path)  # not the file's directory
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ 2 channel(s), configuration OK" in done.stdout
    assert "window=120.0" in done.stdout
    assert "service=checkout" in done.stdout


def test_erralert_check_fails_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, f'webhooks = ["{SLACK}"]\nwindw = 120\n')
    done = check(path, cwd=tmp_path)
    assert done.returncode == 1
    assert f"{path}: unknown option 'windw' (did you mean 'window'?)" in done.stdout + done.stderr


def test_the_readme_example_loads(tmp_path: Path) -> None:
    from erralert.channels.registry import parse_webhook

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.search(r"### A configuration file\n.*?```toml\n(.*?)```", readme, re.S)
    assert found, "the README's example erralert.toml is gone"
    options = file_options(write(tmp_path, found.group(1)))
    assert set(options) == {"service", "environment", "webhooks", "window", "store", "template_dir"}
    assert options["template_dir"] == str(tmp_path / "alert-templates")
    assert [parse_webhook(url).platform for url in options["webhooks"]] == ["dingtalk", "slack"]

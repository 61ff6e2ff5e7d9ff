# ruff: noqa: RUF001  (the full-width punctuation of Chinese text, on purpose)
"""``timezone="Asia/Shanghai"``: ``|datetime`` shows times in the configured zone with its
offset at that moment; validated when the alerter is made."""

from __future__ import annotations

import re
import textwrap
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from freezegun import freeze_time

import erralert
from erralert._core.config import env_options
from erralert._core.errors import ConfigError
from erralert._render.renderer import Renderer
from erralert._render.timezone import load_timezone
from erralert.channels.registry import parse_webhook
from erralert.testing import capture_alerts
from tests import samples


def write(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def shown(moment: str, zone: str, tmp_path: Path) -> str:
    """``|datetime`` of the UTC ``moment`` (``"2026-11-01 05:59:59"``) in ``zone``."""
    seconds = datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()
    write(tmp_path, "slack.j2", f"{{% block body %}}{{{{ {seconds}|datetime }}}}{{% endblock %}}")
    message = Renderer(tmp_path, timezone=zone).render(
        samples.notice("alert"), parse_webhook("slack://T/B/X")
    )
    return message.body


# -- the option -----------------------------------------------------------------------------


def test_utc_is_the_default_and_needs_no_time_zone_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_database(key: str) -> zoneinfo.ZoneInfo:
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", no_database)
    assert Renderer().timezone == "UTC"
    assert load_timezone("UTC") is UTC
    assert load_timezone("utc") is UTC


def test_a_zone_name_and_a_tzinfo_are_taken() -> None:
    assert Renderer(timezone="Asia/Shanghai").timezone == "Asia/Shanghai"
    assert Renderer(timezone=" Asia/Shanghai ").timezone == "Asia/Shanghai"
    assert Renderer(timezone=zoneinfo.ZoneInfo("Europe/Berlin")).timezone == "Europe/Berlin"
    fixed = timezone(timedelta(hours=8))
    assert load_timezone(fixed) is fixed


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "Asia/Shang hai", "", "GMT+8"])
def test_an_unknown_zone_is_a_config_error_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Renderer(timezone=value)
    assert str(raised.value) == (
        f"timezone {value!r} is not a known time zone: use an IANA name such as 'Asia/Shanghai'"
    )
    with pytest.raises(ConfigError, match=re.escape(f"timezone {value!r}")):
        erralert.Alerter(timezone=value)


@pytest.mark.parametrize("value", ["/etc/passwd", "../../etc/passwd", "Asia", "zone.tab"])
def test_paths_folders_and_files_that_are_no_zone_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=f"timezone {value!r} is not a known time zone"):
        load_timezone(value)


def test_a_zone_in_the_wrong_case_gets_a_hint() -> None:
    with pytest.raises(ConfigError) as raised:
        load_timezone("asia/shanghai")
    assert str(raised.value) == (
        "timezone 'asia/shanghai' is not a known time zone: did you mean 'Asia/Shanghai'?"
    )


def test_a_machine_without_a_time_zone_database_is_told_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_database(key: str) -> zoneinfo.ZoneInfo:
        raise zoneinfo.ZoneInfoNotFoundError(f"No time zone found with key {key}")

    monkeypatch.setattr(zoneinfo, "ZoneInfo", no_database)
    monkeypatch.setattr(zoneinfo, "available_timezones", set)
    with pytest.raises(ConfigError) as raised:
        erralert.Alerter(timezone="Asia/Shanghai")
    assert str(raised.value) == (
        "timezone 'Asia/Shanghai': this machine has no time zone database "
        "(install the tzdata package: pip install tzdata), or use 'UTC'"
    )


def test_a_zone_that_is_not_a_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="timezone must be a time zone name, got int"):
        load_timezone(8)  # type: ignore[arg-type]


def test_the_environment_sets_the_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "timezone" not in env_options({"ERRALERT_TIMEZONE": ""})
    assert env_options({"ERRALERT_TIMEZONE": "Asia/Shanghai"}) == {"timezone": "Asia/Shanghai"}
    monkeypatch.setenv("ERRALERT_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("ERRALERT_WEBHOOKS", "console://")
    assert erralert.get_alerter().timezone == "Asia/Shanghai"
    assert erralert.init(timezone="UTC").timezone == "UTC"  # keyword options win
    monkeypatch.setenv("ERRALERT_TIMEZONE", "Asia/Atlantis")
    with pytest.raises(ConfigError, match="timezone 'Asia/Atlantis' is not a known time zone"):
        erralert.init()


# -- times in the zone ----------------------------------------------------------------------


def test_utc_keeps_the_exact_format(tmp_path: Path) -> None:
    assert shown("2026-11-26 18:20:01", "UTC", tmp_path) == "2026-11-26 18:20:01 UTC"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Shanghai", "2026-11-27 02:20:01 UTC+8"),
        ("Asia/Kolkata", "2026-11-26 23:50:01 UTC+5:30"),
        ("Asia/Kathmandu", "2026-11-27 00:05:01 UTC+5:45"),
        ("America/Sao_Paulo", "2026-11-26 15:20:01 UTC-3"),
        ("Europe/London", "2026-11-26 18:20:01 UTC"),  # GMT in winter: the offset is zero
        ("Etc/GMT-8", "2026-11-27 02:20:01 UTC+8"),
    ],
)
def test_times_show_in_the_zone_with_its_offset(zone: str, expected: str, tmp_path: Path) -> None:
    assert shown("2026-11-26 18:20:01", zone, tmp_path) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # summer time ends on 2026-11-01 at 02:00 EDT: 01:00-02:00 happens twice, and the
        # offset tells the two apart
        ("2026-10-31 12:00:00", "2026-10-31 08:00:00 UTC-4"),
        ("2026-11-01 05:59:59", "2026-11-01 01:59:59 UTC-4"),
        ("2026-11-01 06:00:00", "2026-11-01 01:00:00 UTC-5"),
        ("2026-11-02 12:00:00", "2026-11-02 07:00:00 UTC-5"),
        # summer time starts on 2026-03-08 at 02:00 EST: 02:00-03:00 never happens
        ("2026-03-08 06:59:59", "2026-03-08 01:59:59 UTC-5"),
        ("2026-03-08 07:00:00", "2026-03-08 03:00:00 UTC-4"),
    ],
)
def test_a_daylight_saving_zone_on_both_sides_of_a_change(
    moment: str, expected: str, tmp_path: Path
) -> None:
    assert shown(moment, "America/New_York", tmp_path) == expected


def test_a_19th_century_local_mean_time_shows_its_seconds(tmp_path: Path) -> None:
    assert shown("1890-01-01 00:00:00", "Asia/Shanghai", tmp_path) == (
        "1890-01-01 08:05:43 UTC+8:05:43"
    )


def test_the_dingtalk_digest_in_shanghai_is_eight_hours_later() -> None:
    notice = samples.notice("digest")
    with freeze_time(datetime.fromtimestamp(notice.created_at, UTC)):  # when it is sent
        utc = Renderer(locale="zh").render(notice, parse_webhook("dingtalk://t"))
        shanghai = Renderer(locale="zh", timezone="Asia/Shanghai").render(
            notice, parse_webhook("dingtalk://t")
        )
    assert "（首次 18:20 UTC，最近 18:24 UTC）" in utc.body
    assert shanghai.body == utc.body.replace(
        "（首次 18:20 UTC，最近 18:24 UTC）", "（首次 02:20 UTC+8，最近 02:24 UTC+8）"
    ).replace("自 18:20 UTC起", "自 02:20 UTC+8起")


def test_the_english_slack_storm_in_shanghai() -> None:
    notice = samples.notice("storm")
    with freeze_time(datetime.fromtimestamp(notice.created_at, UTC)):
        message = Renderer(timezone="Asia/Shanghai").render(notice, parse_webhook("slack://T/B/X"))
    assert message.body.splitlines()[0] == "*282 errors of 12 kinds in 2 s, since 02:20 UTC+8*"


def test_a_payload_template_shows_the_zone_too(tmp_path: Path) -> None:
    write(tmp_path, "slack.payload.j2", '{"at": "{{ event.timestamp|datetime }}"}')
    message = Renderer(tmp_path, timezone="Asia/Shanghai").render(
        samples.notice("alert"), parse_webhook("slack://T/B/X")
    )
    assert message.payload == {"at": "2026-11-27 02:20:01 UTC+8"}


def test_the_fallback_template_shows_the_zone_too(tmp_path: Path) -> None:
    write(tmp_path, "slack.j2", "{% block body %}{{ 1 // 0 }}{% endblock %}")
    message = Renderer(tmp_path, timezone="America/New_York").render(
        samples.notice("digest"), parse_webhook("slack://T/B/X")
    )
    assert message.template_error is not None
    assert "(first 2026-11-26 13:20:03 UTC-5, last 2026-11-26 13:24:51 UTC-5)" in message.body


@freeze_time("2026-11-26 18:20:01")
def test_an_alerter_renders_in_its_zone(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dingtalk.j2",
        "{% block body %}{{ event.timestamp|datetime }} ({{ timezone }}){% endblock %}",
    )
    alerter = erralert.Alerter(
        ["dingtalk://t0ken"], template_dir=tmp_path, timezone="Asia/Shanghai"
    )
    try:
        with capture_alerts(alerter) as alerts:
            try:
                raise TimeoutError("warehouse")
            except TimeoutError:
                alerter.capture_exception()
        assert [a.body for a in alerts] == ["2026-11-27 02:20:01 UTC+8 (Asia/Shanghai)"]
    finally:
        alerter.close(0.1)

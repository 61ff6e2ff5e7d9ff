"""The Alerter's decisions, end to end through rendering (erralert.testing records the
exact request each channel would send)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from freezegun import freeze_time

import erralert
from erralert.testing import capture_alerts

SLACK = "slack://T000/B000/XXXXXXXX"


def fail(n: int) -> None:
    raise KeyError(f"order {n} not found")


def fail_elsewhere(n: int) -> None:
    raise KeyError(f"order {n} not found")


def capture(alerter: erralert.Alerter, func=fail, n: int = 1) -> str | None:  # type: ignore[no-untyped-def]
    try:
        func(n)
    except KeyError as exc:
        return alerter.capture_exception(exc)
    raise AssertionError("unreachable")


def test_window_alert_digests_and_fresh_alert() -> None:
    alerter = erralert.Alerter([SLACK], window=60)
    with freeze_time("2026-01-01 00:00:00") as frozen, capture_alerts() as alerts:
        for i in range(100):  # 100 identical errors within the window
            capture(alerter, n=i)
            frozen.tick(0.5)
        assert [a.kind for a in alerts] == ["alert"]
        assert alerts[0].notice.occurrences.is_new

        frozen.move_to("2026-01-01 00:01:00")  # the window has ended
        alerter.flush(1)
        assert [a.kind for a in alerts] == ["alert", "digest"]
        digest = alerts[1]
        assert digest.notice.occurrences.count == 99
        assert "99" in digest.body
        alerter.flush(1)
        assert len(alerts) == 2  # a digest is sent once

        for window in (2, 3):  # errors continue for two more windows
            for i in range(10):
                capture(alerter, n=i)
                frozen.tick(5)
            frozen.move_to(f"2026-01-01 00:0{window}:00")
            alerter.flush(1)
        assert [a.kind for a in alerts] == ["alert", "digest", "digest", "digest"]
        assert [a.notice.occurrences.count for a in alerts[2:]] == [10, 10]

        frozen.move_to("2026-01-01 00:05:00")  # silence for longer than a window
        alerter.flush(1)
        assert len(alerts) == 4
        capture(alerter)
        assert [a.kind for a in alerts][-1] == "alert"
        assert alerts[-1].notice.occurrences.is_new is False
        assert alerts[-1].notice.occurrences.total == 100 + 20 + 1
    alerter.close(0.1)


def test_two_call_sites_two_alerts_same_site_one() -> None:
    alerter = erralert.Alerter([SLACK])
    with capture_alerts() as alerts:
        capture(alerter, fail, 1)
        capture(alerter, fail, 2)
        capture(alerter, fail_elsewhere, 3)
    assert [a.kind for a in alerts] == ["alert", "alert"]
    assert alerts[0].notice.event.fingerprint != alerts[1].notice.event.fingerprint
    alerter.close(0.1)


def test_same_exception_object_is_alerted_once() -> None:
    alerter = erralert.Alerter([SLACK])
    handler = erralert.LoggingHandler(alerter)
    log = logging.getLogger("test.once")
    log.addHandler(handler)
    try:
        with capture_alerts() as alerts:
            try:
                fail(1)
            except KeyError as exc:
                log.exception("lookup failed")
                again = alerter.capture_exception(exc)  # the middleware's turn
            assert again is None
        assert len(alerts) == 1
    finally:
        log.removeHandler(handler)
        alerter.close(0.1)


def test_before_send_can_drop_and_change() -> None:
    def before_send(event: erralert._core.event.Event) -> erralert._core.event.Event | None:  # type: ignore[name-defined]
        if "drop" in event.title:
            return None
        return event

    alerter = erralert.Alerter([SLACK], before_send=before_send)
    with capture_alerts() as alerts:
        assert alerter.capture_message("please drop me") is None
        assert alerter.capture_message("keep me") is not None
    assert [a.title for a in alerts if "keep me" in a.title]
    assert len(alerts) == 1
    alerter.close(0.1)


def test_custom_fingerprint_groups_everything() -> None:
    alerter = erralert.Alerter([SLACK], fingerprint=lambda event: "one-group")
    with capture_alerts() as alerts:
        capture(alerter, fail, 1)
        capture(alerter, fail_elsewhere, 2)
        alerter.capture_message("something else")
    assert len(alerts) == 1
    assert alerts[0].notice.event.fingerprint == "one-group"
    alerter.close(0.1)


@pytest.mark.parametrize(
    "ignore", [[KeyError], [LookupError], ["KeyError"], ["builtins.LookupError"]]
)
def test_ignore(ignore: list[object]) -> None:
    alerter = erralert.Alerter([SLACK], ignore=ignore)  # type: ignore[arg-type]
    with capture_alerts() as alerts:
        assert capture(alerter) is None
    assert alerts == []
    alerter.close(0.1)


def test_messages_group_by_template() -> None:
    alerter = erralert.Alerter([SLACK])
    with capture_alerts() as alerts:
        alerter.capture_message("job 17 failed after 3.5 s")
        alerter.capture_message("job 18 failed after 4.1 s")
        alerter.capture_message("disk full")
    assert len(alerts) == 2
    alerter.close(0.1)


def test_disabled_does_nothing() -> None:
    alerter = erralert.Alerter([SLACK], enabled=False)
    with capture_alerts() as alerts:
        assert capture(alerter) is None
    assert alerts == []


@pytest.mark.parametrize(
    ("options", "culprit"),
    [
        ({"webhooks": ["nonsense"]}, "nonsense"),
        ({"webhooks": ["ftp://example.com/x"]}, "ftp"),
        ({"window": 0}, "window"),
        ({"timeout": -1}, "timeout"),
        ({"store": "sqlite://"}, "sqlite"),
        ({"store": "redis://localhost:6379/zero"}, "redis"),
        ({"spool": "/does/not/exist/outbox.db"}, "spool"),
        ({"ignore": [42]}, "ignore"),
        ({"before_send": "not callable"}, "before_send"),
        ({"template_dir": "/does/not/exist"}, "/does/not/exist"),
    ],
)
def test_bad_configuration_fails_loudly(options: dict[str, object], culprit: str) -> None:
    with pytest.raises(erralert.ConfigError, match=culprit):
        erralert.Alerter(**options)  # type: ignore[arg-type]


def test_init_unknown_option() -> None:
    with pytest.raises(erralert.ConfigError, match="windw"):
        erralert.init(windw=5)


def test_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "slack.j2").write_text(
        "{% block title %}x{% endblock %}\n{% block body %}\n{{ event.title }\n{% endblock %}\n"
    )
    with pytest.raises(erralert.ConfigError, match=r"slack\.j2:3"):
        erralert.Alerter([SLACK], template_dir=tmp_path)


def test_runtime_template_failure_still_alerts(tmp_path: Path) -> None:
    (tmp_path / "slack.j2").write_text(
        "{% block title %}{{ event.title }}{% endblock %}"
        "{% block body %}{{ event.no_such_field.upper() }}{% endblock %}"
    )
    alerter = erralert.Alerter([SLACK], template_dir=tmp_path)
    with capture_alerts() as alerts:
        capture(alerter)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.message.template_error
    assert "slack.j2" in alert.body
    assert "failed" in alert.body
    assert "KeyError" in alert.body  # the built-in template still shows the error
    alerter.close(0.1)


def test_unknown_template_name_in_url() -> None:
    with pytest.raises(erralert.ConfigError, match="nosuch"):
        erralert.Alerter([SLACK + "?template=nosuch"])


def test_environment_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", f"{SLACK}, dingtalk://tok?mention=1380000,1390000")
    monkeypatch.setenv("ERRALERT_SERVICE", "checkout")
    monkeypatch.setenv("ERRALERT_WINDOW", "42")
    alerter = erralert.get_alerter()
    assert [c.platform for c in alerter.channels] == ["slack", "dingtalk"]
    assert alerter.channels[1].options.mention == ("1380000", "1390000")
    assert alerter.service == "checkout"
    assert alerter.window == 42
    # keyword options beat the environment
    assert erralert.init(service="billing").service == "billing"


def test_environment_bad_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WINDOW", "soon")
    with pytest.raises(erralert.ConfigError, match="ERRALERT_WINDOW"):
        erralert.init()


def test_enabled_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_ENABLED", "0")
    assert erralert.get_alerter().enabled is False


def test_nothing_configured_goes_to_console(capsys: pytest.CaptureFixture[str]) -> None:
    alerter = erralert.get_alerter()
    assert [c.platform for c in alerter.channels] == ["console"]
    capture(alerter)
    assert erralert.flush(5)
    err = capsys.readouterr().err
    assert "KeyError" in err
    assert "order 1 not found" in err


def test_capture_never_raises_on_broken_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", "not-a-url")
    try:
        fail(1)
    except KeyError:
        assert erralert.capture_exception() is None


def test_capture_without_exception_returns_none() -> None:
    alerter = erralert.Alerter([SLACK])
    assert alerter.capture_exception() is None
    alerter.close(0.1)


def test_digest_without_a_sample_still_reports_the_count() -> None:
    from erralert._stores.memory import MemoryStore

    class Forgetful(MemoryStore):
        def put_sample(self, key: str, sample: object) -> None:  # type: ignore[override]
            pass  # e.g. a shared store that lost it

    alerter = erralert.Alerter([SLACK], window=60)
    other = erralert.Alerter([SLACK], window=60)  # "another process"
    # both count in one store while captured, as processes sharing it do
    with freeze_time("2026-01-01 00:00:00") as frozen, capture_alerts(store=Forgetful()) as alerts:
        for i in range(3):
            capture(alerter, n=i)
        frozen.tick(61)
        other.flush(1)  # claims the digest, and never saw the event
        for i in range(3):
            capture(alerter, n=i)  # the process that alerted claims the next one
        frozen.tick(61)
        alerter.flush(1)
    assert [a.kind for a in alerts] == ["alert", "digest", "digest"]
    first, unknown, remembered = (a.notice for a in alerts)
    assert unknown.occurrences.count == 2
    assert unknown.event.fingerprint == first.event.fingerprint
    assert unknown.event.title.startswith("error ")
    assert remembered.occurrences.count == 3
    assert remembered.event == first.event  # the process kept the event it alerted
    alerter.close(0.1)
    other.close(0.1)


def test_final_flush_sends_open_windows_early_and_stays_usable() -> None:
    alerter = erralert.Alerter([SLACK], window=300)
    with capture_alerts() as alerts:
        for i in range(4):
            capture(alerter, n=i)
        assert alerter.flush(1)  # the window is still open: nothing more yet
        assert [a.kind for a in alerts] == ["alert"]
        assert alerter.flush(1, final=True)  # the process is about to end
        assert [a.kind for a in alerts] == ["alert", "digest"]
        assert alerts[1].notice.occurrences.count == 3
        capture(alerter, fail_elsewhere)  # still usable afterwards
        assert [a.kind for a in alerts][-1] == "alert"
    alerter.close(0.1)


def test_a_request_builder_runs_only_for_the_event_that_is_sent() -> None:
    from erralert._core.event import Request

    built: list[int] = []

    def request() -> Request:
        built.append(1)
        return Request(method="GET", path="/pay/1")

    def broken() -> Request:
        raise RuntimeError("session store down")

    alerter = erralert.Alerter([SLACK])
    with capture_alerts() as alerts:
        for i in range(3):
            try:
                fail(i)
            except KeyError as exc:
                alerter.capture_exception(exc, request=request)
        try:
            fail_elsewhere(1)
        except KeyError as exc:
            alerter.capture_exception(exc, request=broken)
    assert built == [1]  # repeats inside the window never build it (a user query, say)
    assert alerts[0].notice.event.request == Request(method="GET", path="/pay/1")
    assert alerts[1].notice.event.request is None  # a failing builder costs no alert
    alerter.close(0.1)

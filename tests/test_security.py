"""The security promises, one test (or one parametrized family) each:

- templates run in a sandbox, and a refused one still alerts, saying why:
  ``test_a_hostile_template_is_refused_and_the_alert_still_goes_out``;
- secrets are scrubbed from headers, query, cookies, form fields, locals, exception
  messages, URLs with credentials, JWTs and bearer tokens, in every payload of every
  platform and in every log record: ``test_secrets_never_reach_a_payload_or_a_log_line``;
- webhook credentials are masked in reprs and errors
  (``test_reprs_and_names_mask_every_credential``, ``test_config_errors_mask_the_url``)
  and in the log lines of failed deliveries
  (``test_failed_deliveries_never_log_a_credential``);
- TLS certificates are verified by default: ``test_tls_certificates_are_verified_by_default``;
- redirects are not followed: ``test_a_redirect_is_not_followed``;
- the recursion guard: ``test_delivery_failures_do_not_alert_through_the_logging_handler``,
  ``test_an_error_inside_httpx_does_not_alert_again``,
  ``test_an_error_logged_during_a_capture_is_not_captured``;
- erralert's own failures go to the ``erralert`` logger once per interval:
  ``test_a_failing_before_send_is_logged_once_per_interval``;
- acceptance, every record and payload grepped for every secret:
  ``test_no_secret_in_any_record_or_payload_of_the_secret_cases``.

The secret-bearing cases are plain functions (``CASES``) so that the acceptance test can
run them all again and grep everything they produced.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from jinja2.exceptions import SecurityError

import erralert
from erralert._render.allowance import MAX_RENDER_SECONDS, Budget
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Answer, Received, Receiver
from tests.samples import alerts_for

# -- the secrets ------------------------------------------------------------------------------

# Every value is unusual enough that finding it anywhere can only mean it leaked.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1c2VyNDIiLCJyb2xlIjoiYWRtaW4ifQ."
    "Jw7bQm4cTzHkQ0sYxL2pV9nR3aE5dU8fG1hK6jM0oI"
)
INPUT_SECRETS = {
    "authorization header": "hdrBearerT0k3nA1b2",
    "proxy authorization": "prxyBasicQ3JlZHM6cGFzcw",
    "cookie": "ck5ess10nV4lue9",
    "second cookie": "ckCsrfT0k3nZ7",
    "api key header": "apik3yHdrX9Y8",
    "query token": "qT0kenM4N5p6",
    "query password": "qPa55wordR6S7",
    "query api_key": "qApiK3yU1V2",
    "form password": "f0rmPa55T8U9",
    "local password": "l0calPa55V1W2",
    "local token": "l0calT0kenQ9",
    "local dict secret": "l0calD1ctS3c",
    "dsn password": "dsnPa55X3Y4",
    "message password": "hunter2",
    "message bearer": "abc.def.ghi",
    "message jwt": JWT,
    "jwt payload": JWT.split(".")[1],
    "url password": "urlPa55Z5a6",
    "cause token": "causeT0kenB7",
    "extra password": "xtraPa55C8d9",
    "nested extra key": "xtraNestK3yE1",
    "tag session": "tagS3ss10nF2",
    "log message token": "l0gT0kenG3h4",
    "log arg secret": "l0gArgS3cJ5",
    "request url password": "reqUrlPa55K6",
    "cut repr password": "cutReprPa55L7",
    "cut repr cookie": "cutReprCk1eM8",
    "escaped repr token": "escReprT0kN9",
}

# Webhook credentials: native/short URLs (rendered, never sent) and the same credentials
# on local URLs (sent to the receiver or to a closed port).
WEBHOOK_SECRETS = {
    "slack hook token": "slackH00kS3cret",
    "slack team": "T0SEC1XYZ",
    "slack bot": "B0SEC2XYZ",
    "discord token": "dcT0kenS3cret-x_1",
    "teams sig": "tmS1gS3cretAbc",
    "googlechat key": "gcK3yS3cret",
    "googlechat token": "gcT0kS3cret",
    "mattermost key": "mmK3yS3cret7q",
    "rocketchat id": "rcId5ecret9",
    "rocketchat token": "rcT0kS3cret8",
    "telegram bot token": "TgB0tT0kenS3cret",
    "dingtalk access token": "dtAcc3ssT0ken",
    "dingtalk secret": "SECdtS1gn1ngS3cret",
    "wecom key": "wcK3yS3cret-44",
    "feishu hook": "fsH00k1dS3cret",
    "feishu secret": "fsS1gnS3cret",
    "lark hook": "lkH00k1dS3cret",
    "lark secret": "lkS1gnS3cret",
    "webhook path token": "whPathT0ken9",
    "webhook hmac secret": "whHmacS3cret",
}
W = WEBHOOK_SECRETS
# module globals, not locals: a test's own dict of secrets in a raising frame would be
# (rightly) shown by include_locals under its harmless key names
S = INPUT_SECRETS


def native_urls() -> dict[str, str]:
    """One webhook URL per platform, as users paste them, every credential a known one."""
    return {
        "slack": f"https://hooks.slack.com/services/{W['slack team']}/{W['slack bot']}/"
        f"{W['slack hook token']}",
        "discord": f"https://discord.com/api/webhooks/123456789012345678/{W['discord token']}",
        "teams": "https://prod-12.westus.logic.azure.com:443/workflows/0a1b2c/triggers/manual/"
        f"paths/invoke?api-version=2016-06-01&sv=1.0&sig={W['teams sig']}",
        "googlechat": "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?"
        f"key={W['googlechat key']}&token={W['googlechat token']}",
        "mattermost": f"mattermost://chat.example.com/{W['mattermost key']}",
        "rocketchat": f"rocketchat://chat.example.com/{W['rocketchat id']}/{W['rocketchat token']}",
        "telegram": f"https://api.telegram.org/bot123456:{W['telegram bot token']}/sendMessage"
        "?chat_id=-1001234567890",
        "dingtalk": "https://oapi.dingtalk.com/robot/send?"
        f"access_token={W['dingtalk access token']}&secret={W['dingtalk secret']}&keyword=alert",
        "wecom": f"wecom://{W['wecom key']}",
        "feishu": f"feishu://{W['feishu hook']}?secret={W['feishu secret']}",
        "lark": f"lark://{W['lark hook']}?secret={W['lark secret']}",
        "webhook": f"webhook+https://alerts.example.com/hook/{W['webhook path token']}"
        f"?secret={W['webhook hmac secret']}",
        "console": "console://stdout",
    }


def local_urls(base: str) -> dict[str, str]:
    """The same credentials on ``<platform>+http://127.0.0.1:port/…`` URLs."""
    host = base.removeprefix("http://")
    return {
        "slack": f"slack+http://{host}/services/{W['slack team']}/{W['slack bot']}/"
        f"{W['slack hook token']}",
        "discord": f"discord+http://{host}/api/webhooks/123456789012345678/{W['discord token']}",
        "teams": f"teams+http://{host}/workflows/0a1b2c/triggers/manual/paths/invoke?"
        f"api-version=2016-06-01&sig={W['teams sig']}",
        "googlechat": f"googlechat+http://{host}/v1/spaces/AAAA1234/messages?"
        f"key={W['googlechat key']}&token={W['googlechat token']}",
        "mattermost": f"mattermost+http://{host}/hooks/{W['mattermost key']}",
        "rocketchat": f"rocketchat+http://{host}/hooks/{W['rocketchat id']}/"
        f"{W['rocketchat token']}",
        "telegram": f"telegram+http://{host}/bot123456:{W['telegram bot token']}/sendMessage"
        "?chat_id=-1001234567890",
        "dingtalk": f"dingtalk+http://{host}/robot/send?access_token={W['dingtalk access token']}"
        f"&secret={W['dingtalk secret']}",
        "wecom": f"wecom+http://{host}/cgi-bin/webhook/send?key={W['wecom key']}",
        "feishu": f"feishu+http://{host}/open-apis/bot/v2/hook/{W['feishu hook']}"
        f"?secret={W['feishu secret']}",
        "lark": f"lark+http://{host}/open-apis/bot/v2/hook/{W['lark hook']}"
        f"?secret={W['lark secret']}",
        "webhook": f"webhook+http://{host}/hook/{W['webhook path token']}"
        f"?secret={W['webhook hmac secret']}",
    }


def test_the_urls_cover_every_platform() -> None:
    assert set(native_urls()) == set(PLATFORMS)
    assert set(local_urls("http://127.0.0.1:1")) == set(PLATFORMS) - {"console"}


# -- evidence: what a case produced ----------------------------------------------------------


@dataclass
class Evidence:
    """Everything a test produced that could carry a secret."""

    texts: list[str] = field(default_factory=list)

    def add_alerts(self, alerts: list[CapturedAlert]) -> None:
        for alert in alerts:
            self.texts.append(alert.title)
            self.texts.append(alert.body)
            if alert.request is not None:
                # the raw bytes too: a secret escaped by JSON (\u…) would hide from the text
                self.texts.append(alert.request.content.decode("utf-8"))
                self.texts.append(json.dumps(alert.payload, ensure_ascii=False))

    def add_records(self, records: list[logging.LogRecord]) -> None:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in records:
            if record.name.startswith("tests."):
                # the application's own log records of a case (logger.exception(...) with a
                # secret in it) are the input, not something erralert wrote
                continue
            self.texts.append(formatter.format(record))  # message, traceback and stack

    def add_bodies(self, requests: list[Received]) -> None:
        self.texts.extend(r.body.decode("utf-8") for r in requests)

    def leaks(self, secrets: dict[str, str]) -> list[tuple[str, str]]:
        """``(secret name, excerpt)`` for every secret found."""
        found = []
        for name, secret in secrets.items():
            for text in self.texts:
                at = text.find(secret)
                if at >= 0:
                    found.append((name, text[max(0, at - 80) : at + len(secret) + 20]))
                    break
        return found


@pytest.fixture
def all_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, DEBUG and up (httpx's request lines included)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def alerter_for_every_platform(**options: Any) -> erralert.Alerter:
    return erralert.Alerter(list(native_urls().values()), include_locals=True, **options)


# -- the secret-bearing cases -----------------------------------------------------------------


def _wsgi_environ() -> dict[str, Any]:
    form = f"username=bob&password={S['form password']}".encode()
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/login",
        "QUERY_STRING": f"next=%2F&token={S['query token']}&password={S['query password']}"
        f"&api_key={S['query api_key']}",
        "SERVER_NAME": "shop.example",
        "SERVER_PORT": "443",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "shop.example",
        "HTTP_AUTHORIZATION": f"Bearer {S['authorization header']}",
        "HTTP_PROXY_AUTHORIZATION": f"Basic {S['proxy authorization']}",
        "HTTP_COOKIE": f"sid={S['cookie']}; csrftoken={S['second cookie']}; theme=dark",
        "HTTP_X_API_KEY": S["api key header"],
        "HTTP_USER_AGENT": "Mozilla/5.0",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(form)),
        "wsgi.input": io.BytesIO(form),
    }


def _asgi_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "path": "/login",
        "root_path": "",
        "query_string": f"token={S['query token']}&password={S['query password']}".encode(),
        "headers": [
            (b"host", b"shop.example"),
            (b"authorization", f"Bearer {S['authorization header']}".encode()),
            (b"cookie", f"sid={S['cookie']}".encode()),
            (b"cookie", f"csrftoken={S['second cookie']}".encode()),
            (b"x-api-key", S["api key header"].encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ],
        "client": ("203.0.113.7", 50000),
        "server": ("shop.example", 443),
    }


def _raise_with_secret_locals() -> None:
    password = S["local password"]  # noqa: F841 - read by include_locals
    auth_token = S["local token"]  # noqa: F841
    settings = {"SECRET_KEY": S["local dict secret"], "DEBUG": False}  # noqa: F841
    form = {"username": "bob", "password": S["form password"]}  # noqa: F841
    dsn = f"postgresql://app:{S['dsn password']}@db.internal:5432/shop"  # noqa: F841
    raise ValueError("could not connect")


def _raise_with_locals_reprs_mangle() -> None:
    """Locals whose reprs hide their keys: cut in the middle by the bounded repr, escaped
    quotes, an ASGI scope's header tuples."""
    padding = "x" * 300
    body = f'{{"note": "{padding}", "password": "{S["cut repr password"]}"}}'  # noqa: F841
    cookies = f"theme={padding}; sid={S['cut repr cookie']}"  # noqa: F841
    # both kinds of quotes: its repr escapes the single ones, {\'token\': \'…\'}
    hint = "{'token': '" + S["escaped repr token"] + '\'} "quoted"'  # noqa: F841
    scope = _asgi_scope()  # noqa: F841 - (b"authorization", …), (b"cookie", …)
    raise ValueError("could not parse the request")


def _raise_with_secret_message() -> None:
    try:
        raise KeyError(f"token={S['cause token']}")
    except KeyError as cause:
        raise ValueError(
            f"login failed: password={S['message password']} "
            f"Authorization: Bearer {S['message bearer']} jwt {S['message jwt']} "
            f"via https://admin:{S['url password']}@db.internal/x"
        ) from cause


def _capture(alerter: erralert.Alerter, raiser: Callable[[], None], **context: Any) -> None:
    try:
        raiser()
    except Exception as exc:
        alerter.capture_exception(exc, **context)


def case_headers_and_cookies_wsgi(alerter: erralert.Alerter) -> None:
    _capture(alerter, _raise_with_secret_message, request=_wsgi_environ())


def case_headers_and_cookies_asgi(alerter: erralert.Alerter) -> None:
    _capture(alerter, _raise_with_secret_message, request=_asgi_scope())


def case_locals(alerter: erralert.Alerter) -> None:
    _capture(alerter, _raise_with_secret_locals)


def case_mangled_locals(alerter: erralert.Alerter) -> None:
    _capture(alerter, _raise_with_locals_reprs_mangle)


def case_extra_tags_and_request_url(alerter: erralert.Alerter) -> None:
    scope = _asgi_scope()
    # a Host header with user info: the request URL is built from it
    scope["headers"] = [(b"host", f"bob:{S['request url password']}@shop.example".encode())]

    def boom() -> None:
        raise RuntimeError("upstream failed")

    _capture(
        alerter,
        boom,
        request=scope,
        extra={
            "password": S["extra password"],
            "config": {"upstream": {"api_key": S["nested extra key"]}},
        },
        tags={"session_id": S["tag session"]},
    )


def case_capture_message(alerter: erralert.Alerter) -> None:
    alerter.capture_message(
        f"retrying with token={S['log message token']} and Bearer {S['message bearer']}",
        request=_wsgi_environ(),
    )


def case_logging_handler(alerter: erralert.Alerter) -> None:
    handler = erralert.LoggingHandler(alerter)
    log = logging.getLogger("tests.security.app")
    log.addHandler(handler)
    try:
        log.error("payment gateway refused api_key=%s", S["log arg secret"])
        try:
            _raise_with_secret_message()
        except ValueError:
            log.exception("checkout failed for password=%s", S["message password"])
    finally:
        log.removeHandler(handler)


CASES: dict[str, Callable[[erralert.Alerter], None]] = {
    "headers, cookies, query, form (WSGI)": case_headers_and_cookies_wsgi,
    "headers, cookies, query (ASGI)": case_headers_and_cookies_asgi,
    "locals": case_locals,
    "locals whose reprs are cut or escaped": case_mangled_locals,
    "extra, tags, request URL": case_extra_tags_and_request_url,
    "capture_message": case_capture_message,
    "LoggingHandler": case_logging_handler,
}


def run_case(case: Callable[[erralert.Alerter], None], evidence: Evidence) -> list[CapturedAlert]:
    alerter = alerter_for_every_platform()
    try:
        with capture_alerts(alerter) as alerts:
            case(alerter)
            alerter.flush(1)
    finally:
        alerter.close(0.5)
    evidence.add_alerts(alerts)
    evidence.texts.append(repr(alerter))
    return alerts


@pytest.mark.parametrize("name", list(CASES))
def test_secrets_never_reach_a_payload_or_a_log_line(
    name: str, all_records: pytest.LogCaptureFixture
) -> None:
    evidence = Evidence()
    alerts = run_case(CASES[name], evidence)
    evidence.add_records(all_records.records)
    # the case did produce alerts, on every platform
    assert alerts
    assert {a.platform for a in alerts} == set(PLATFORMS)
    assert evidence.leaks(INPUT_SECRETS) == []


def test_the_request_is_still_useful_after_scrubbing() -> None:
    """Scrubbing filters values, not the context a reader needs: names stay."""
    alerter = erralert.Alerter(["webhook+https://alerts.example.com/hook"], include_locals=True)
    with capture_alerts(alerter) as alerts:
        case_headers_and_cookies_wsgi(alerter)
    alerter.close(0.1)
    (alert,) = alerts
    request = alert.payload["event"]["request"]
    assert request["method"] == "POST"
    assert request["path"] == "/login"
    assert request["headers"]["authorization"] == "[Filtered]"
    assert request["headers"]["cookie"] == "[Filtered]"
    assert request["headers"]["x-api-key"] == "[Filtered]"
    assert request["query"] == {
        "next": "/",
        "token": "[Filtered]",
        "password": "[Filtered]",
        "api_key": "[Filtered]",
    }
    # erralert reads no request body: a form's fields cannot reach an alert
    assert "username=bob" not in json.dumps(alert.payload)


# -- the sandbox ------------------------------------------------------------------------------

HOSTILE_TEMPLATES = {
    "class hierarchy": "{{ ''.__class__.__mro__ }}",
    "globals through cycler": "{{ cycler.__init__.__globals__ }}",
    "globals through a method": "{{ event.to_dict.__globals__ }}",
    "globals through str.format": "{{ '{0.to_dict.__globals__}'.format(event) }}",
    "a private attribute": "{{ self._TemplateReference__context }}",
    "changing the event": "{{ event.tags.update({'team': 'hijacked'}) }}",
    "range(10**9)": "{% for i in range(10**9) %}{{ i }}{% endfor %}",
    "nested ranges": "{% for i in range(10000) %}{% for j in range(10000) %}"
    "{% endfor %}{% endfor %}",
    "a gigabyte of output": "{% for i in range(10000) %}{{ 'x' * 100000 }}{% endfor %}",
    "a gigabyte of padding": "{{ 'x'.ljust(10**9) }}",
    "a gigabyte of format width": "{{ '%1000000000s'|format('x') }}",
    "a huge number": "{{ 9 ** (9 ** 9) }}",  # Jinja's ** groups left: parentheses needed
    # bytes are counted like strings, and so is what encode() and hex() make of them
    "a gigabyte of bytes": "{{ ('a'.encode() * 10**9)|length }}",
    "bytes doubled by hex()": "{{ ('x' * 100000).encode()" + ".hex().encode()" * 8 + "|length }}",
    "a gigabyte of bytes by %": "{{ ('%1000000000s'.encode() % 'x'.encode())|length }}",
}
# building nothing, looping within the allowance, but a million searches of 100 000
# characters: minutes of work, stopped by the render's time
SEARCHING = (
    "{% set s = 'ab' * 50000 %}{% for i in range(10000) %}"
    "{% for j in range(100) %}{{ s.count('ba') and '' }}{% endfor %}{% endfor %}\n"
)


@pytest.mark.parametrize("name", list(HOSTILE_TEMPLATES))
@pytest.mark.slow
def test_a_hostile_template_is_refused_and_the_alert_still_goes_out(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = HOSTILE_TEMPLATES[name]
    for platform in PLATFORMS:
        (tmp_path / f"{platform}.j2").write_text(
            "{% block title %}{{ event.title }}{% endblock %}\n"
            f"{{% block body %}}{source}{{% endblock %}}\n"
        )
    started = time.monotonic()
    # (no include_locals: this very frame holds the template's source)
    alerter = erralert.Alerter(list(native_urls().values()), template_dir=tmp_path)
    with capture_alerts(alerter) as alerts:
        ids = []
        try:
            raise ValueError("card declined")
        except ValueError as exc:
            ids.append(alerter.capture_exception(exc))
    alerter.close(0.1)
    assert ids[0] is not None
    assert time.monotonic() - started < 10  # each render gave up within its allowance
    assert {a.platform for a in alerts} == set(PLATFORMS)
    for alert in alerts:
        error = alert.message.template_error
        assert error is not None
        assert error.startswith(f'custom template "{alert.platform}.j2"')
        assert "SecurityError" in error
        # the fallback says why, and still says what broke
        text = alert.body if alert.payload is None else json.dumps(alert.payload)
        assert "custom template" in text
        assert "SecurityError" in text
        assert "card declined" in text
        # nothing of what the template reached for made it into the message
        for internal in ("<class ", "__builtins__", "<function ", "hijacked", "xxxxxxxxxx"):
            assert internal not in text
    # the broken template is reported to the erralert logger (once per distinct failure)
    assert any(r.name == "erralert" and "custom template" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("platform", ["slack", "telegram"])
@pytest.mark.slow
def test_chained_escapes_count_what_each_one_builds(platform: str, tmp_path: Path) -> None:
    """Where escaping lengthens "&" (to "&amp;"), each of 150 chained escapes builds more
    than the one before: counted, they stop at the render's allowance, not minutes later
    (they ran for over 300 s before).
    (Python compiles at most about 190 nested calls: more is a configuration error.)"""
    (tmp_path / f"{platform}.j2").write_text(
        "{{ ('&' * 10000)" + "|forceescape" * 150 + "|length }}\n"
    )
    alerter = erralert.Alerter([native_urls()[platform]], template_dir=tmp_path)
    [alert] = alerts_for(alerter, ValueError("card declined"))
    error = alert.message.template_error
    assert error is not None
    # whichever allowance runs out first: what it built, or its time
    allowances = ("a template may build at most 5000000 characters", "a render may take at most")
    assert any(allowance in error for allowance in allowances), error


@pytest.mark.slow
def test_a_template_that_computes_for_minutes_is_stopped_by_its_time(tmp_path: Path) -> None:
    (tmp_path / "slack.j2").write_text(SEARCHING)
    alerter = erralert.Alerter([native_urls()["slack"]], template_dir=tmp_path)
    [alert] = alerts_for(alerter, ValueError("card declined"))
    error = alert.message.template_error
    # (the template's line is named when the time runs out inside its own code; between
    # two of its outputs, erralert's code holds the render and no line is named)
    assert error is not None
    assert error.startswith(
        'custom template "slack.j2" failed: SecurityError: a render may take at most 0.5 s'
    )
    assert "card declined" in alert.body  # the built-in template's alert went out


@pytest.mark.slow
def test_a_slow_template_holds_no_other_channel(tmp_path: Path) -> None:
    """One channel's template computes until its render's time runs out; the other
    channel's alert is rendered meanwhile (renders run beside the delivery loop, not on it)
    and goes out first. The slow one is sent too, with the built-in template."""
    (tmp_path / "slow.j2").write_text(SEARCHING)
    arrived: list[str] = []

    def platform(request: httpx.Request) -> httpx.Response:
        arrived.append(request.url.path)
        return httpx.Response(200)

    alerter = erralert.Alerter(
        [
            "webhook+https://alerts.example.com/slow?template=slow",
            "webhook+https://alerts.example.com/plain",
        ],
        template_dir=tmp_path,
        transport=httpx.MockTransport(platform),
    )
    try:
        try:
            raise ValueError("card declined")
        except ValueError as exc:
            alerter.capture_exception(exc)
        assert alerter.flush(30)
    finally:
        alerter.close(0.1)
    assert arrived == ["/plain", "/slow"]


@pytest.mark.slow
def test_a_template_too_deeply_nested_to_compile_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "slack.j2").write_text("{{ event.title" + "|forceescape" * 300 + " }}\n")
    with pytest.raises(erralert.ConfigError) as raised:
        erralert.Alerter([native_urls()["slack"]], template_dir=tmp_path)
    assert str(raised.value).startswith(f"template {tmp_path / 'slack.j2'}: too deeply nested")


# -- webhook credentials ----------------------------------------------------------------------


def test_reprs_and_names_mask_every_credential() -> None:
    urls = native_urls()
    alerter = erralert.Alerter(list(urls.values()))
    texts = [repr(alerter), *(repr(c) for c in alerter.channels)]
    texts += [c.name for c in alerter.channels] + [c.masked_url for c in alerter.channels]
    texts += [repr(c.options) for c in alerter.channels]
    alerter.close(0.1)
    evidence = Evidence(texts)
    assert evidence.leaks(WEBHOOK_SECRETS) == []
    assert "hooks.slack.com" in repr(alerter)  # masked, not hidden: still recognisable


MALFORMED = [
    # wrong shape
    f"https://hooks.slack.com/services/{W['slack team']}/{W['slack hook token']}",
    f"slack://{W['slack team']}/{W['slack bot']}/{W['slack hook token']}/extra",
    f"https://api.telegram.org/bot123456:{W['telegram bot token']}/sendMessage",
    f"telegram://123456:{W['telegram bot token']}/not%20a%20chat",
    f"https://open.feishu.cn/open-apis/bot/v2/hook/{W['feishu hook']}/x"
    f"?secret={W['feishu secret']}",
    f"https://chat.googleapis.com/v1/spaces/AAAA/messages?key={W['googlechat key']}",
    f"https://example.com/hook/{W['webhook path token']}?secret={W['webhook hmac secret']}",
    f"webhook+ftp://alerts.example/hook/{W['webhook path token']}",
    f"https://oapi.dingtalk.com/robot/sendx?access_token={W['dingtalk access token']}",
    f"https://user:{W['slack hook token']}@hooks.slack.com/services/T/B",
    f"dingtalk+https://[::1/robot/send?access_token={W['dingtalk access token']}",
    f"mattermost://chat.example.com:99999/{W['mattermost key']}",
    # bad options
    f"https://oapi.dingtalk.com/robot/send?access_token={W['dingtalk access token']}"
    f"&secret={W['dingtalk secret']}&rate=fast",
    f"dingtalk://{W['dingtalk secret']}@{W['dingtalk access token']}?secret={W['dingtalk secret']}",
    f"dingtalk://{W['dingtalk access token']}?secret={W['dingtalk secret']}&mention=",
    f"feishu://{W['feishu hook']}?secret={W['feishu secret']}&mention=ada@example.com",
    f"wecom://{W['wecom key']}?mention=all",
    f"https://discord.com/api/webhooks/123456789012345678/{W['discord token']}"
    f"?secret={W['webhook hmac secret']}",
    f"https://discord.com/api/webhooks/123456789012345678/{W['discord token']}?mention=nobody",
    f"mattermost://chat.example.com/{W['mattermost key']}?secret={W['webhook hmac secret']}",
    f"telegram://123456:{W['telegram bot token']}/-100123?mention=all",
    "https://prod.westus.logic.azure.com/workflows/x/triggers/manual/paths/invoke?"
    f"sig={W['teams sig']}&mention=nobody",
    f"webhook+https://alerts.example/hook/{W['webhook path token']}?mention=ops",
    f"slack://{W['slack team']}/{W['slack bot']}/{W['slack hook token']}?template=../../etc/x",
    f"lark://{W['lark hook']}?secret={W['lark secret']}&secret={W['lark secret']}",
]


@pytest.mark.parametrize("url", MALFORMED)
def test_config_errors_mask_the_url(url: str) -> None:
    with pytest.raises(erralert.ConfigError) as caught:
        erralert.Alerter([url])
    message = str(caught.value)
    assert message.startswith("webhook URL ")  # names the culprit ...
    assert Evidence([message, repr(caught.value)]).leaks(WEBHOOK_SECRETS) == []  # ... masked


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _echo(got: Received) -> str:
    """An error page that quotes the request the way some proxies and platforms do."""
    return f"cannot deliver POST {got.path}?{urlencode(got.query)}"


FAILURES: dict[str, Callable[[Receiver], None]] = {
    "connection refused": lambda r: None,  # the URLs point at a closed port instead
    "500": lambda r: setattr(r, "default", Answer(500, "internal server error")),
    "400 echoing the URL": lambda r: setattr(r, "answer_for", lambda got: Answer(400, _echo(got))),
    "200 with an error echoing the URL": lambda r: setattr(
        r,
        "answer_for",
        lambda got: Answer(
            200,
            {
                "errcode": 310000,
                "errmsg": _echo(got),
                "code": 19021,
                "msg": _echo(got),
                "ok": False,
                "error_code": 400,
                "description": _echo(got),
                "success": False,
                "error": _echo(got),
            },
        ),
    ),
}


def deliver_and_fail(failure: str, receiver: Receiver) -> erralert.Alerter:
    FAILURES[failure](receiver)
    base = (
        f"http://127.0.0.1:{_closed_port()}" if failure == "connection refused" else receiver.base
    )
    alerter = erralert.Alerter(list(local_urls(base).values()), timeout=2)
    _capture(alerter, _raise_with_secret_message)
    alerter.flush(2.5)
    alerter.close(0.2)
    return alerter


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.slow
def test_failed_deliveries_never_log_a_credential(
    failure: str, receiver: Receiver, all_records: pytest.LogCaptureFixture
) -> None:
    deliver_and_fail(failure, receiver)
    records = all_records.records
    problems = [r for r in records if r.name == "erralert" and r.levelno >= logging.WARNING]
    assert problems  # the failures were reported ...
    evidence = Evidence()
    evidence.add_records(records)
    assert evidence.leaks(WEBHOOK_SECRETS) == []  # ... without a credential
    if failure != "connection refused":
        # httpx's own request lines were there, and masked
        assert any(r.name == "httpx" and "***" in r.getMessage() for r in records)


# -- TLS and redirects ------------------------------------------------------------------------


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    """A receiver speaking HTTPS with a self-signed certificate for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver = Receiver()
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    receiver.base = receiver.base.replace("http://", "https://")
    receiver.start()
    yield receiver, cert
    receiver.stop()


@pytest.mark.slow
def test_tls_certificates_are_verified_by_default(
    tls_receiver: tuple[Receiver, Path], caplog: pytest.LogCaptureFixture
) -> None:
    receiver, cert = tls_receiver
    # control: the server works for a client that trusts its certificate
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
        assert client.post(f"{receiver.base}/control", content=b"{}").status_code == 200
    assert len(receiver.wait_for(1)) == 1

    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"], timeout=2)
    with caplog.at_level(logging.WARNING, logger="erralert"):
        _capture(alerter, _raise_with_secret_message)
        assert alerter.flush(2) is False  # not delivered: the certificate is not trusted
    alerter.close(0.1)
    assert len(receiver.requests) == 1  # only the control request got through
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(
    status: int, receiver: Receiver, all_records: pytest.LogCaptureFixture
) -> None:
    other = Receiver().start()  # "another host": nothing may ever reach it
    try:
        receiver.default = Answer(status, b"", headers={"Location": f"{other.base}/stolen"})
        alerter = erralert.Alerter(
            [f"webhook+{receiver.base}/hook/{W['webhook path token']}"], timeout=2
        )
        _capture(alerter, _raise_with_secret_message)
        assert alerter.flush(5)  # settled: a redirect is a refusal, not a retry
        time.sleep(0.2)
        alerter.close(0.1)
        assert len(receiver.requests) == 1
        assert other.requests == []
    finally:
        other.stop()
    refusals = [
        r
        for r in all_records.records
        if r.name == "erralert" and r.levelno >= logging.WARNING and str(status) in r.getMessage()
    ]
    assert len(refusals) == 1  # the verdict is logged once
    assert refusals[0].levelno == logging.ERROR


# -- the recursion guard ----------------------------------------------------------------------


@pytest.fixture
def root_handler() -> Iterator[Callable[[erralert.Alerter], erralert.LoggingHandler]]:
    """Attach an ``erralert.LoggingHandler`` to the root logger (WARNING and up, so that
    erralert's own warnings would reach it), removed after the test."""
    root = logging.getLogger()
    added: list[logging.Handler] = []

    def attach(alerter: erralert.Alerter) -> erralert.LoggingHandler:
        handler = erralert.LoggingHandler(alerter, level=logging.WARNING)
        root.addHandler(handler)
        added.append(handler)
        return handler

    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield attach
    for handler in added:
        root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.slow
def test_delivery_failures_do_not_alert_through_the_logging_handler(
    receiver: Receiver, root_handler: Callable[[erralert.Alerter], erralert.LoggingHandler]
) -> None:
    receiver.default = Answer(500, "down for maintenance")
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"], timeout=2)
    root_handler(alerter)
    try:
        raise ValueError("the application's own error")
    except ValueError:
        logging.getLogger("tests.security.app").exception("checkout failed")
    alerter.flush(3.5)  # long enough for retries, each logged at WARNING by erralert
    alerter.close(0.1)
    requests = receiver.requests
    assert len(requests) >= 2  # it was retried (and erralert logged each failure) ...
    events = {json.loads(r.body)["event"]["event_id"] for r in requests}
    assert len(events) == 1  # ... but only the application's error was ever sent
    assert all("the application's own error" in json.loads(r.body)["title"] for r in requests)


def test_an_error_inside_httpx_does_not_alert_again(
    root_handler: Callable[[erralert.Alerter], erralert.LoggingHandler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[httpx.Request] = []

    def broken(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise RuntimeError("a bug in the HTTP stack")

    alerter = erralert.Alerter(
        ["webhook+https://alerts.example.com/hook"], transport=httpx.MockTransport(broken)
    )
    root_handler(alerter)
    logging.getLogger("tests.security.app").error("the application failed")
    assert alerter.flush(5)
    time.sleep(0.3)  # room for a second alert, were one made
    alerter.close(0.5)
    assert len(calls) == 1  # the application's alert; none about erralert's own error
    assert any(r.name == "erralert" and r.levelno == logging.ERROR for r in caplog.records)


def test_an_error_logged_during_a_capture_is_not_captured(
    root_handler: Callable[[erralert.Alerter], erralert.LoggingHandler],
) -> None:
    def noisy_hook(event: Any) -> Any:
        # a before_send (or a store, a request builder) that logs an error while erralert
        # is capturing: the logging handler must not re-enter the capture
        logging.getLogger("tests.security.hook").error("enriching the event failed")
        return event

    alerter = erralert.Alerter(["slack://T0/B0/XYZ123"], before_send=noisy_hook)
    root_handler(alerter)
    with capture_alerts(alerter) as alerts:
        _capture(alerter, _raise_with_secret_message)
    alerter.close(0.1)
    assert len(alerts) == 1  # the application's error, not the hook's log record
    assert "ValueError: login failed" in alerts[0].title


def test_a_failing_before_send_is_logged_once_per_interval(
    all_records: pytest.LogCaptureFixture,
) -> None:

    def broken_hook(event: Any) -> Any:
        raise RuntimeError(f"hook crashed on password={S['message password']}")

    alerter = erralert.Alerter(["slack://T0/B0/XYZ123"], before_send=broken_hook)
    results = []
    with capture_alerts(alerter) as alerts:
        for i in range(100):
            try:
                raise ValueError(f"order {i} failed")
            except ValueError as exc:
                results.append(alerter.capture_exception(exc))  # never raises
    alerter.close(0.1)
    assert results == [None] * 100
    assert alerts == []
    own = [r for r in all_records.records if r.name == "erralert"]
    assert len(own) == 1, [r.getMessage() for r in own]
    assert own[0].levelno == logging.ERROR
    assert "RuntimeError" in own[0].getMessage()
    assert Evidence([own[0].getMessage()]).leaks(INPUT_SECRETS) == []


# -- acceptance: grep everything --------------------------------------------------------------


@pytest.mark.slow
def test_no_secret_in_any_record_or_payload_of_the_secret_cases(
    receiver: Receiver, all_records: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Every secret-bearing case of this module, run again: every log record (all loggers,
    DEBUG and up), every payload, every request body a receiver got, every repr and error
    message is searched for every secret value, input and webhook alike."""
    evidence = Evidence()
    for case in CASES.values():
        run_case(case, evidence)
    for failure in FAILURES:
        receiver.default, receiver.answer_for = Answer(), None
        deliver_and_fail(failure, receiver)
    # a success path too: the full request bodies a platform would get
    receiver.default, receiver.answer_for = Answer(200, "ok"), None
    alerter = erralert.Alerter(list(local_urls(receiver.base).values()), include_locals=True)
    for case in CASES.values():
        case(alerter)
    alerter.flush(5)
    alerter.close(0.5)
    evidence.texts.append(repr(alerter))
    evidence.add_bodies(receiver.requests)
    for url in MALFORMED:
        try:
            parse_webhook(url)
        except erralert.ConfigError as exc:
            evidence.texts.append(str(exc))
    evidence.add_records(all_records.records)

    assert len(receiver.requests) >= len(CASES)
    assert evidence.leaks({**INPUT_SECRETS, **WEBHOOK_SECRETS}) == []


def test_time_in_the_garbage_collector_is_not_the_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    # a full collection of an application's large heap can run inside a render (on the
    # thread that allocates when one is due); only the render's own time counts
    clock = [100.0]
    monkeypatch.setattr(time, "thread_time", lambda: clock[0])

    def slow_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            clock[0] += 2 * MAX_RENDER_SECONDS  # the collector's time

    budget = Budget()  # erralert watches collections from here on
    gc.callbacks.append(slow_collection)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(slow_collection)

    def checkpoints() -> None:
        for _ in range(64):  # the clock is read at every 32nd checkpoint
            budget.check_time()

    checkpoints()
    clock[0] += 2 * MAX_RENDER_SECONDS  # the render's own time
    with pytest.raises(SecurityError, match=r"at most 0\.5 s"):
        checkpoints()

"""Proxies and private CAs: the setting as written (``?proxy=``, ``proxy=``, ERRALERT_PROXY,
TOML, the environment's HTTPS_PROXY/NO_PROXY) in, each webhook's route out, and every
setting that cannot work a ConfigError at configuration time with its exact words. The
routing itself is checked against a real local server acting as the proxy; the real HTTP
and SOCKS5 proxies are in tests/e2e/test_proxies_e2e.py."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import certifi
import httpx
import pytest
import trustme

import erralert
from erralert import Alerter, ConfigError
from erralert._core.config import env_options, file_options
from erralert._core.proxy import check_proxy, mask_proxy
from erralert._delivery.env_proxies import EnvProxies
from erralert._delivery.proxy_routes import ProxyRoutes, Route
from erralert.channels.registry import parse_webhook
from erralert.cli import main
from tests.receiver import Receiver

SLACK = "https://hooks.slack.com/services/T0AB1CD2E/B0FG3HI4J/abcDEF123ghiJKL456mnoPQR"
SLACK_MASKED = "https://hooks.slack.com/services/***/***/***"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=t0ken5ecret"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test says which proxy variables it has: none unless it sets them."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def without_socksio(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the socks extra were not installed: ``import socksio`` fails, in erralert's
    check as in httpx's transport."""
    monkeypatch.setitem(sys.modules, "socksio", None)


# -- the setting as written ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("direct", "direct"),
        (" DIRECT ", "direct"),
        ("http://127.0.0.1:7890", "http://127.0.0.1:7890"),
        ("https://proxy.corp.example", "https://proxy.corp.example"),
        ("socks5://127.0.0.1:1080", "socks5://127.0.0.1:1080"),
        (
            "socks5h://user:pa55@proxy.corp.example:1080/",
            "socks5h://user:pa55@proxy.corp.example:1080/",
        ),
    ],
)
def test_a_proxy_setting_is_direct_or_a_url_of_a_scheme_httpx_speaks(
    written: str, read: str
) -> None:
    assert check_proxy(written, "proxy") == read


@pytest.mark.parametrize(
    ("written", "error"),
    [
        (
            "socks://127.0.0.1:1080",
            "proxy 'socks://127.0.0.1:1080': unknown scheme socks:// (expected http, https, "
            "socks5 or socks5h); write socks5h:// to have the proxy resolve the platform's name",
        ),
        (
            "ftp://u:secret@proxy:21",
            "proxy 'ftp://u:***@proxy:21': unknown scheme ftp:// (expected http, https, socks5 "
            "or socks5h)",
        ),
        (
            "127.0.0.1:7890",
            "proxy '127.0.0.1:7890': not a URL: write scheme://host:port (http, https, socks5 "
            "or socks5h), or 'direct' for none",
        ),
        ("http://", "proxy 'http://': the URL has no host"),
        ("http://proxy:99999", "proxy 'http://proxy:99999': not a valid URL"),
        (
            "socks5h://proxy.corp.example",
            "proxy 'socks5h://proxy.corp.example': a SOCKS proxy URL needs its port "
            "(socks5h://host:1080)",
        ),
        (
            "http://proxy:3128/path?x=1",
            "proxy 'http://proxy:3128/path?x=1': a proxy URL is "
            "scheme://[user:password@]host:port, with nothing after it",
        ),
    ],
)
def test_a_proxy_that_cannot_work_is_refused_in_plain_words(written: str, error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_proxy(written, "proxy")
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:7890", "http://127.0.0.1:7890"),
        ("http://user:pa55word@proxy:3128", "http://user:***@proxy:3128"),
        ("socks5h://:pa55word@proxy:1080", "socks5h://:***@proxy:1080"),
        ("http://user@proxy:3128", "http://user@proxy:3128"),
    ],
)
def test_a_proxy_is_shown_with_its_password_masked(url: str, shown: str) -> None:
    assert mask_proxy(url) == shown


# -- ?proxy= in a webhook URL -----------------------------------------------------------------


def test_the_webhooks_proxy_is_an_option_never_sent_to_the_platform() -> None:
    plain = parse_webhook(DINGTALK)
    proxied = parse_webhook(f"{DINGTALK}&proxy=http://user:pa55word@127.0.0.1:3128&secret=SEC1")
    assert proxied.url == DINGTALK  # the robot's URL: no proxy in it
    assert proxied.key == plain.key  # the same robot, the same pacing budget
    assert proxied.options.proxy == "http://user:pa55word@127.0.0.1:3128"
    assert "pa55word" not in repr(proxied.options)
    assert "pa55word" in proxied.secrets  # taken out of every log line
    assert parse_webhook("slack://T0AB1CD2E/B0FG3HI4J/xyzXYZ123?proxy=direct").options.proxy == (
        "direct"
    )


def test_a_password_in_a_webhooks_proxy_is_percent_encoded_twice() -> None:
    channel = parse_webhook(f"{SLACK}?proxy=http://alerts:p%2540ss%253Aw0rd@127.0.0.1:3128")
    assert channel.options.proxy == "http://alerts:p%40ss%3Aw0rd@127.0.0.1:3128"
    assert httpx.Proxy(channel.options.proxy).auth == ("alerts", "p@ss:w0rd")
    assert {"p%40ss%3Aw0rd", "p@ss:w0rd"} <= set(channel.secrets)


def test_an_unknown_proxy_in_a_webhook_names_the_webhook_masked() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_webhook(f"{SLACK}?proxy=socks://127.0.0.1:1080")
    assert str(raised.value) == (
        f"webhook URL {SLACK_MASKED}?proxy=***: proxy 'socks://127.0.0.1:1080': unknown "
        "scheme socks:// (expected http, https, socks5 or socks5h); write socks5h:// to have "
        "the proxy resolve the platform's name"
    )


def test_a_local_channel_has_no_proxy() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_webhook("console://?proxy=direct")
    assert str(raised.value) == (
        "webhook URL console://stderr: option 'proxy' is not supported by console "
        "(it supports: name, rate, template)"
    )


# -- the environment's proxies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "url", "expected"),
    [
        ({}, SLACK, None),
        ({"HTTPS_PROXY": "http://p:3128"}, SLACK, ("http://p:3128", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": "http://p:3128"}, "http://chat.example.com/hook", None),
        ({"HTTP_PROXY": "p:3128"}, "http://chat.example.com/hook", ("http://p:3128", "HTTP_PROXY")),
        ({"ALL_PROXY": "socks5h://p:1080"}, SLACK, ("socks5h://p:1080", "ALL_PROXY")),
        (
            {"ALL_PROXY": "socks5h://p:1080", "HTTPS_PROXY": "http://p:3128"},
            SLACK,
            ("http://p:3128", "HTTPS_PROXY"),
        ),
        (
            {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1"},
            SLACK,
            ("http://lower:1", "https_proxy"),
        ),
        # a CGI request's "Proxy:" header becomes HTTP_PROXY (httpoxy): never a proxy
        ({"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "POST"}, "http://chat.example/h", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, SLACK, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "slack.com"}, SLACK, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "hooks.slack.com"}, SLACK, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".slack.com"}, SLACK, None),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".hooks.slack.com"},
            SLACK,
            ("http://p:1", "HTTPS_PROXY"),
        ),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ack.com"},
            SLACK,
            ("http://p:1", "HTTPS_PROXY"),
        ),
        (
            {"HTTPS_PROXY": "http://p:1", "no_proxy": "example.org, oapi.dingtalk.com"},
            DINGTALK,
            None,
        ),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "hooks.slack.com:443"}, SLACK, None),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "hooks.slack.com:8443"},
            SLACK,
            ("http://p:1", "HTTPS_PROXY"),
        ),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3:8065/h", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:8025/h", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "::1"}, "http://[::1]:8025/h", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "[::1]:8025"}, "http://[::1]:8025/h", None),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "http://hooks.slack.com"},
            SLACK,
            ("http://p:1", "HTTPS_PROXY"),
        ),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "https://hooks.slack.com"}, SLACK, None),
    ],
)
def test_the_environment_gives_each_url_its_proxy_or_none(
    environ: dict[str, str], url: str, expected: tuple[str, str] | None
) -> None:
    found = EnvProxies.read(environ).proxy_for(url)
    assert (None if found is None else (found.url, found.variable)) == expected


# -- precedence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "option", "environ", "route"),
    [
        ("", None, {}, Route()),
        ("", None, {"HTTPS_PROXY": "http://env:3128"}, Route("http://env:3128", "HTTPS_PROXY")),
        (
            "",
            "http://opt:3128",
            {"HTTPS_PROXY": "http://env:3128"},
            Route("http://opt:3128", "proxy="),
        ),
        # an option proxy goes for every webhook, NO_PROXY included: it is not the environment
        ("", "http://opt:3128", {"NO_PROXY": "slack.com"}, Route("http://opt:3128", "proxy=")),
        ("", "direct", {"HTTPS_PROXY": "http://env:3128"}, Route(None, "proxy=")),
        (
            "?proxy=http://hook:1",
            "http://opt:3128",
            {"HTTPS_PROXY": "http://env:1"},
            Route("http://hook:1", "?proxy="),
        ),
        (
            "?proxy=direct",
            "http://opt:3128",
            {"HTTPS_PROXY": "http://env:1"},
            Route(None, "?proxy="),
        ),
        ("?proxy=direct", None, {"ALL_PROXY": "socks5://env:1080"}, Route(None, "?proxy=")),
    ],
)
def test_the_webhooks_proxy_beats_the_option_which_beats_the_environment(
    query: str, option: str | None, environ: dict[str, str], route: Route
) -> None:
    routes = ProxyRoutes(proxy=option, environ=environ)
    assert routes.route(parse_webhook(SLACK + query)) == route


@pytest.mark.parametrize(
    ("route", "shown"),
    [
        (Route(), "direct"),
        (Route(None, "?proxy="), "direct (?proxy=)"),
        (
            Route("http://u:pa55@127.0.0.1:7890", "proxy="),
            "via http://u:***@127.0.0.1:7890 (proxy=)",
        ),
        (
            Route("socks5h://127.0.0.1:1080", "ALL_PROXY"),
            "via socks5h://127.0.0.1:1080 (ALL_PROXY)",
        ),
    ],
)
def test_a_route_says_which_way_and_who_chose_it(route: Route, shown: str) -> None:
    assert str(route) == shown


# -- what cannot work, at configuration time ----------------------------------------------------


def test_a_socks_proxy_without_socksio_names_the_webhook_and_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_socksio(monkeypatch)
    proxy = "socks5h://user:pa55word@127.0.0.1:1080"
    with pytest.raises(ConfigError) as raised:
        Alerter([DINGTALK, f"{SLACK}?proxy={proxy}"])
    assert str(raised.value) == (
        f"webhook URL {SLACK_MASKED}: proxy 'socks5h://user:***@127.0.0.1:1080' "
        "(from ?proxy=): needs the socksio package: pip install 'erralert[socks]'"
    )


def test_a_socks_proxy_option_without_socksio_names_the_first_webhook_it_carries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_socksio(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        Alerter([f"{DINGTALK}&proxy=direct", SLACK], proxy="socks5://127.0.0.1:1080")
    assert str(raised.value) == (
        f"webhook URL {SLACK_MASKED}: proxy 'socks5://127.0.0.1:1080' (from proxy=): "
        "needs the socksio package: pip install 'erralert[socks]'"
    )


def test_a_socks_proxy_of_the_environment_matters_only_for_the_webhooks_it_carries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_socksio(monkeypatch)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("NO_PROXY", "oapi.dingtalk.com")
    Alerter([DINGTALK], transport=None).close(0.1)  # DingTalk goes direct: nothing to refuse
    with pytest.raises(ConfigError) as raised:
        Alerter([DINGTALK, SLACK])
    assert str(raised.value) == (
        f"webhook URL {SLACK_MASKED}: proxy 'socks5://127.0.0.1:1080' (from ALL_PROXY): "
        "needs the socksio package: pip install 'erralert[socks]'"
    )


def test_an_unknown_scheme_in_the_environment_is_refused_for_the_webhooks_it_carries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the case that used to stop the worker: nothing delivered anywhere
    monkeypatch.setenv("HTTPS_PROXY", "socks://127.0.0.1:1080")
    with pytest.raises(ConfigError) as raised:
        Alerter([SLACK])
    assert str(raised.value) == (
        f"webhook URL {SLACK_MASKED}: proxy 'socks://127.0.0.1:1080' (from HTTPS_PROXY): "
        "unknown scheme socks:// (expected http, https, socks5 or socks5h); write socks5h:// "
        "to have the proxy resolve the platform's name"
    )


def test_a_ca_bundle_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "corp-ca.pem"
    with pytest.raises(ConfigError) as raised:
        Alerter([SLACK], ca_bundle=missing)
    assert (
        str(raised.value)
        == f"ca_bundle '{missing}': cannot read the file: No such file or directory"
    )
    missing.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as raised:
        Alerter([SLACK], ca_bundle=str(missing))
    assert str(raised.value) == (
        f"ca_bundle '{missing}': not a PEM file of CA certificates (NO_CERTIFICATE_OR_CRL_FOUND)"
    )


def test_a_ca_bundle_is_trusted_besides_the_usual_certificates(tmp_path: Path) -> None:
    bundle = tmp_path / "corp-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    usual = ProxyRoutes().verify_context().cert_store_stats()["x509_ca"]
    assert usual > 100  # certifi's
    with_ours = ProxyRoutes(ca_bundle=bundle).verify_context().cert_store_stats()["x509_ca"]
    assert with_ours == usual + 1


MOCK = httpx.MockTransport(lambda request: httpx.Response(200))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            {"proxy": "http://127.0.0.1:3128"},
            "proxy= cannot be honoured with transport=, which sends every request itself: "
            "configure the transport (httpx.HTTPTransport(proxy=…, verify=…)) or leave one of "
            "them out",
        ),
        (
            {"proxy": "direct"},
            "proxy= cannot be honoured with transport=, which sends every request itself: "
            "configure the transport (httpx.HTTPTransport(proxy=…, verify=…)) or leave one of "
            "them out",
        ),
        (
            {"ca_bundle": certifi.where()},
            "ca_bundle= cannot be honoured with transport=, which sends every request itself: "
            "configure the transport (httpx.HTTPTransport(proxy=…, verify=…)) or leave one of "
            "them out",
        ),
        (
            {"webhooks": [f"{SLACK}?proxy=direct"]},
            f"webhook URL {SLACK_MASKED}: ?proxy= cannot be honoured with transport=, which "
            "sends every request itself: give the proxy to the transport "
            "(httpx.HTTPTransport(proxy=…)) or leave one of them out",
        ),
    ],
)
def test_a_transport_with_an_explicit_proxy_or_ca_bundle_is_refused(
    options: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        Alerter(**{"webhooks": [SLACK], **options}, transport=MOCK)  # type: ignore[arg-type]
    assert str(raised.value) == error


def test_a_transport_honoured_over_the_environments_proxies_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("no_proxy", "localhost")
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200, text="ok"))
    with caplog.at_level(logging.WARNING, logger="erralert"):
        alerter = Alerter([SLACK], transport=transport)
    warnings = [r.getMessage() for r in caplog.records if "transport=" in r.getMessage()]
    assert warnings == [
        "erralert: transport= sends every request itself, so the environment's HTTPS_PROXY, "
        "no_proxy are not used"
    ]
    alerter.capture_message("through the transport")
    assert alerter.flush(5)
    alerter.close(1)
    assert [str(r.url) for r in sent] == [SLACK]


# -- the options: keyword, ERRALERT_*, TOML --------------------------------------------------


def test_the_environment_sets_the_proxy_and_the_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_PROXY", " socks5h://127.0.0.1:1080 ")
    monkeypatch.setenv("ERRALERT_CA_BUNDLE", certifi.where())
    assert env_options() == {"proxy": "socks5h://127.0.0.1:1080", "ca_bundle": certifi.where()}
    monkeypatch.setenv("ERRALERT_PROXY", "socks4://127.0.0.1:1080")
    with pytest.raises(ConfigError) as raised:
        env_options()
    assert str(raised.value) == (
        "ERRALERT_PROXY 'socks4://127.0.0.1:1080': unknown scheme socks4:// (expected http, "
        "https, socks5 or socks5h); write socks5h:// to have the proxy resolve the platform's "
        "name"
    )


def test_init_reads_erralert_proxy_and_a_keyword_beats_it(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    # the receiver plays the proxy: an HTTP proxy gets the platform's full URL
    monkeypatch.setenv("ERRALERT_PROXY", receiver.base)
    monkeypatch.setenv("ERRALERT_WEBHOOKS", "webhook+http://chat.invalid/alerts")
    alerter = erralert.init()
    alerter.capture_message("via the proxy of ERRALERT_PROXY")
    (got,) = receiver.wait_for(1)
    assert (got.headers["host"], got.path) == ("chat.invalid", "/alerts")
    erralert.close(1)
    with pytest.raises(ConfigError, match="proxy 'socks://x:1': unknown scheme"):
        erralert.init(proxy="socks://x:1")


def test_the_file_sets_the_proxy_and_a_ca_bundle_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "erralert.toml"
    path.write_text('proxy = "http://127.0.0.1:7890"\nca_bundle = "certs/corp-ca.pem"\n')
    assert file_options(path) == {
        "proxy": "http://127.0.0.1:7890",
        "ca_bundle": str(tmp_path / "certs" / "corp-ca.pem"),
    }
    path.write_text('proxy = "socks://127.0.0.1:1080"\n')
    with pytest.raises(ConfigError) as raised:
        file_options(path)
    assert str(raised.value).startswith(
        f"{path}: proxy 'socks://127.0.0.1:1080': unknown scheme socks://"
    )


# -- the clients: one per route, built by the factory -----------------------------------------


def test_each_webhook_goes_its_own_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real server on loopback plays the HTTP proxy: ``?proxy=`` goes through it, and so
    does the environment's proxy; ``direct`` does not, whatever the environment says; the
    URL the platform gets carries no ``proxy``."""
    proxy, platform = Receiver().start(), Receiver().start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        monkeypatch.setenv("NO_PROXY", "localhost")
        alerter = Alerter(
            [
                f"webhook+http://hooked.invalid/a?proxy={proxy.base}",  # its own proxy
                "webhook+http://environment.invalid/b",  # HTTP_PROXY's
                f"webhook+{platform.base}/c?proxy=direct",  # straight, HTTP_PROXY ignored
                f"webhook+http://localhost:{platform.port}/d",  # NO_PROXY: straight
            ]
        )
        alerter.capture_message("one alert, four ways")
        assert alerter.flush(10)
        alerter.close(1)
        assert sorted((r.headers["host"], r.path, r.query) for r in proxy.requests) == [
            ("environment.invalid", "/b", {}),
            ("hooked.invalid", "/a", {}),
        ]
        assert sorted(r.path for r in platform.requests) == ["/c", "/d"]
    finally:
        proxy.stop()
        platform.stop()


class _Heard(logging.Handler):
    """Wakes a test when the erralert logger says something containing ``words``."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words
        self.said = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if self.words in record.getMessage():
            self.said.set()


def test_a_route_whose_client_cannot_be_made_fails_alone(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """socksio gone after the configuration was checked (uninstalled under a running app):
    the SOCKS webhook's sends fail, as network errors worth a retry; the others are
    delivered — the worker does not stop."""
    alerter = Alerter(
        [
            f"webhook+{receiver.base}/socks?proxy=socks5://127.0.0.1:1080",
            f"webhook+{receiver.base}/direct",
        ]
    )
    without_socksio(monkeypatch)
    heard = _Heard("ProxyError")
    logging.getLogger("erralert").addHandler(heard)
    try:
        alerter.capture_message("the SOCKS route is broken")
        (got,) = receiver.wait_for(1)
        assert heard.said.wait(10), heard.lines
    finally:
        logging.getLogger("erralert").removeHandler(heard)
        alerter.close(0.1)
    assert got.path == "/direct"
    assert len(receiver.requests) == 1
    # the SOCKS webhook's message was waiting for its retry, not lost nor refused
    assert (alerter.outbox.delivered, alerter.outbox.failed, alerter.outbox.lost) == (1, 0, 0)
    assert any(
        "answered ProxyError: no HTTP client via socks5://127.0.0.1:1080 (?proxy=): "
        "ImportError: Using SOCKS proxy, but the 'socksio' package is not installed." in line
        for line in heard.lines
    ), heard.lines


# -- erralert check and send-test ----------------------------------------------------------


def test_check_lists_the_routes_and_names_a_proxy_that_cannot_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks://127.0.0.1:1080")
    assert main(["check", "--webhook", SLACK, "--webhook", f"{DINGTALK}&proxy=direct"]) == 1
    lines = capsys.readouterr().out.splitlines()
    table = lines.index("proxy routes (how each webhook's requests leave this host):")
    assert [line.split()[-1] for line in lines[table + 3 : table + 5]] == ["(below)", "(?proxy=)"]
    assert lines[-1] == (
        f"✗ webhook URL {SLACK_MASKED}: proxy 'socks://127.0.0.1:1080' (from HTTPS_PROXY): "
        "unknown scheme socks:// (expected http, https, socks5 or socks5h); write socks5h:// "
        "to have the proxy resolve the platform's name"
    )


def test_check_shows_no_routes_when_no_proxy_is_configured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--webhook", SLACK]) == 0
    assert "proxy routes" not in capsys.readouterr().out


def test_send_test_says_which_webhook_cannot_go_and_sends_the_others(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    without_socksio(monkeypatch)
    proxied = f"webhook+{receiver.base}/socks?proxy=socks5://127.0.0.1:1080"
    assert (
        main(["send-test", "--webhook", proxied, "--webhook", f"webhook+{receiver.base}/ok"]) == 1
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"✗ webhook:{receiver.base}/socks: not sent — webhook URL {receiver.base}/socks: proxy "
        "'socks5://127.0.0.1:1080' (from ?proxy=): needs the socksio package: pip install "
        "'erralert[socks]'",
        f"✓ webhook:{receiver.base}/ok: accepted",
    ]
    assert [r.path for r in receiver.requests] == ["/ok"]


# -- the README's "Proxies and private CAs", as written ----------------------------------------


def readme_section() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Proxies and private CAs\n", 1)[1]
    return section.split("\n### ", 1)[0]


def readme_block(language: str) -> str:
    section = readme_section()
    start = section.index(f"```{language}\n") + len(f"```{language}\n")
    return section[start : section.index("```", start)]


def test_the_readme_example_routes_dingtalk_direct_and_the_others_through_the_proxy() -> None:
    exec(compile(readme_block("python"), "README.md", "exec"), {"erralert": erralert})
    alerter = erralert.get_alerter()
    assert alerter is not None
    routes = alerter.outbox.routes
    assert [(c.platform, str(routes.route(c))) for c in alerter.channels] == [
        ("dingtalk", "direct (?proxy=)"),
        ("slack", "via socks5h://127.0.0.1:1080 (proxy=)"),
        ("telegram", "via socks5h://127.0.0.1:1080 (proxy=)"),
    ]
    assert "proxy" not in alerter.channels[0].url  # the robot's URL as DingTalk gets it


def test_the_readme_file_example_loads_and_its_ca_bundle_is_beside_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "erralert.toml"
    path.write_text(readme_block("toml"), encoding="utf-8")
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "corp-ca.pem"))
    options = file_options(path)
    assert options == {
        "proxy": "http://proxy.corp.example:3128",
        "ca_bundle": str(tmp_path / "corp-ca.pem"),
    }
    Alerter([SLACK], **options).close(0.1)


def test_the_readme_quotes_the_error_as_erralert_says_it(monkeypatch: pytest.MonkeyPatch) -> None:
    without_socksio(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        Alerter([SLACK], proxy="socks5h://127.0.0.1:1080")
    assert f"`{raised.value}`" in " ".join(readme_section().split())

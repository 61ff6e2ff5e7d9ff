"""Issue 19's acceptance for proxies, end to end on loopback: a real HTTP proxy and a real
SOCKS5 proxy (pproxy, from the package registry, one process serving both on one port)
between erralert and real receivers. The proxy's own log says which requests went
through it: per-webhook ``?proxy=`` and ``direct`` route as asked, the environment's
HTTP_PROXY/NO_PROXY too; ``erralert send-test`` goes the way the app goes; a proxy that
cannot work is a ConfigError at init, and a route that breaks later fails alone; a private
CA (``ca_bundle``) is trusted through the proxy's tunnel."""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

import erralert
from erralert import Alerter, ConfigError
from erralert.cli import main
from tests.receiver import Receiver
from tests.servers import free_port, wait_for_port

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
# what pproxy -v prints for each connection it carries: "socks5 127.0.0.1:51234 -> 127.0.0.1:8025"
_CARRIED = re.compile(r"^(http|socks5) 127\.0\.0\.1:\d+ -> (\S+):(\d+)$", re.M)


@dataclass
class Pproxy:
    """A running ``pproxy -l http+socks5://127.0.0.1:PORT``."""

    port: int
    log: Path

    def url(self, scheme: str, credentials: str = "") -> str:
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"

    def carried(self) -> list[tuple[str, int]]:
        """(protocol, target port) of each connection the proxy carried, in order."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [(protocol, int(port)) for protocol, _, port in _CARRIED.findall(text)]

    def wait_carried(self, count: int, timeout: float = 10.0) -> list[tuple[str, int]]:
        """The connections carried, once there are ``count`` (the log line is written when
        the proxy opens the connection onward, before the request reaches its target)."""
        deadline = time.monotonic() + timeout
        while len(found := self.carried()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return found


@contextmanager
def pproxy(folder: Path, auth: str = "") -> Iterator[Pproxy]:
    port = free_port()
    log = folder / f"pproxy-{port}.log"
    listen = f"http+socks5://127.0.0.1:{port}" + (f"#{auth}" if auth else "")
    with log.open("wb") as out:
        # -u: each log line reaches the file when it is printed
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pproxy", "-l", listen, "-v"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, process=process)
            yield Pproxy(port, log)
        except BaseException:
            sys.stderr.write(log.read_text(errors="replace"))  # the proxy's side of a failure
            raise
        finally:
            process.kill()  # a test's proxy: nothing of it to keep
            process.wait(10)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Pproxy]:
    with pproxy(tmp_path) as running:
        yield running


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Three platforms, told apart by their ports in the proxy's log."""
    running = [Receiver().start() for _ in range(3)]
    yield running
    # each stop waits for its server's next poll: all three at once
    stopping = [threading.Thread(target=receiver.stop) for receiver in running]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join(10)


@pytest.fixture(autouse=True)
def _no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def deliver_one(alerter: Alerter, text: str) -> None:
    alerter.capture_message(text)
    assert alerter.flush(15), "not delivered"
    alerter.close(1)


def test_each_webhook_goes_through_the_proxy_it_asks_for_or_none(
    proxy: Pproxy, receivers: list[Receiver]
) -> None:
    http, socks, direct = receivers
    alerter = Alerter(
        [
            f"webhook+{http.base}/hook",  # the proxy= option's: the HTTP proxy
            f"webhook+{socks.base}/hook?proxy={proxy.url('socks5')}",  # its own: SOCKS5
            f"webhook+{direct.base}/hook?proxy=direct",  # none at all
        ],
        proxy=proxy.url("http"),
    )
    deliver_one(alerter, "payment failed")
    assert sorted(proxy.wait_carried(2)) == [("http", http.port), ("socks5", socks.port)]
    for receiver in receivers:
        (got,) = receiver.requests
        assert got.query == {}  # the platform's URL: no proxy in it
        assert "payment failed" in got.text


def test_the_environments_proxy_and_no_proxy_route_as_httpx_reads_them(
    proxy: Pproxy, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    carried, exempt, own = receivers
    monkeypatch.setenv("HTTP_PROXY", proxy.url("http"))
    monkeypatch.setenv("NO_PROXY", "localhost")
    alerter = Alerter(
        [
            f"webhook+{carried.base}/hook",
            f"webhook+http://localhost:{exempt.port}/hook",  # NO_PROXY: straight
            f"webhook+{own.base}/hook?proxy={proxy.url('socks5h')}",  # over HTTP_PROXY
        ]
    )
    deliver_one(alerter, "stock sync failed")
    assert sorted(proxy.wait_carried(2)) == [("http", carried.port), ("socks5", own.port)]
    assert [len(r.requests) for r in receivers] == [1, 1, 1]


def test_send_test_and_check_go_the_way_the_app_goes(
    proxy: Pproxy,
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxied, direct, _ = receivers
    socks = proxy.url("socks5h")
    monkeypatch.setenv("ERRALERT_PROXY", socks)
    slack = f"slack+{proxied.base}/services/T0/B0/s3cr3tTok"
    monkeypatch.setenv("ERRALERT_WEBHOOKS", f"{slack} webhook+{direct.base}/hook?proxy=direct")
    deliver_one(erralert.init(), "the app's alert")
    assert proxy.wait_carried(1) == [("socks5", proxied.port)]

    assert main(["send-test"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert proxy.wait_carried(2) == [("socks5", proxied.port)] * 2  # the app's, send-test's
    assert [len(r.requests) for r in (proxied, direct)] == [2, 2]
    assert shown[0].endswith(f": accepted [via {socks} (proxy=)]")
    assert shown[1].endswith(": accepted [direct (?proxy=)]")
    assert "s3cr3tTok" not in "\n".join(shown)

    assert main(["check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines.index(next(line for line in lines if line.split() == ["channel", "route"]))
    assert lines[table + 2].endswith(f"via {socks} (proxy=)")  # under the header's rule
    assert lines[table + 3].endswith("direct (?proxy=)")
    assert proxy.carried() == [("socks5", proxied.port)] * 2  # check sent nothing


def test_a_proxy_that_cannot_work_is_a_config_error_at_init(
    proxy: Pproxy, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = f"socks://127.0.0.1:{proxy.port}"
    with pytest.raises(ConfigError) as raised:
        erralert.init(webhooks=[f"webhook+{receivers[0].base}/hook"], proxy=bad)
    assert str(raised.value) == (
        f"proxy '{bad}': unknown scheme socks:// (expected http, https, socks5 or socks5h); "
        "write socks5h:// to have the proxy resolve the platform's name"
    )
    monkeypatch.setitem(sys.modules, "socksio", None)  # as if the socks extra were missing
    with pytest.raises(ConfigError) as raised:
        erralert.init(webhooks=[f"webhook+{receivers[0].base}/hook?proxy={proxy.url('socks5')}"])
    assert str(raised.value) == (
        f"webhook URL {receivers[0].base}/hook: proxy '{proxy.url('socks5')}' (from ?proxy=): "
        "needs the socksio package: pip install 'erralert[socks]'"
    )
    assert proxy.carried() == []


def test_a_socks_route_that_breaks_later_fails_alone_the_others_are_delivered(
    proxy: Pproxy, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    socks, http, direct = receivers
    alerter = Alerter(
        [
            f"webhook+{socks.base}/hook?proxy={proxy.url('socks5')}",
            f"webhook+{http.base}/hook?proxy={proxy.url('http')}",
            f"webhook+{direct.base}/hook",
        ]
    )
    monkeypatch.setitem(sys.modules, "socksio", None)  # uninstalled under the running app
    alerter.capture_message("the worker keeps going")
    http.wait_for(1)
    direct.wait_for(1)
    alerter.close(0.1)
    assert proxy.wait_carried(1) == [("http", http.port)]
    assert [len(r.requests) for r in receivers] == [0, 1, 1]


def test_a_private_ca_is_trusted_through_the_proxys_tunnel(
    proxy: Pproxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    platform = Receiver()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    platform.server.socket = context.wrap_socket(platform.server.socket, server_side=True)
    platform.start()
    webhook = f"webhook+https://127.0.0.1:{platform.port}/hook?proxy={proxy.url('http')}"
    try:
        deliver_one(Alerter([webhook], ca_bundle=bundle), "over TLS, through the tunnel")
        (got,) = platform.requests
        assert "over TLS" in got.text
        assert proxy.wait_carried(1) == [("http", platform.port)]  # a CONNECT tunnel

        # without the bundle the platform's certificate is not trusted: send-test says so
        assert main(["send-test", "--webhook", webhook]) == 1
        said = capsys.readouterr().out
        assert "not delivered — " in said
        assert "CERTIFICATE_VERIFY_FAILED" in said
        assert f"[via {proxy.url('http')} (?proxy=)]" in said
        assert len(platform.requests) == 1
    finally:
        platform.stop()

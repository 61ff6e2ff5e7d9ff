"""The plumbing of ``python -m benchmarks.peers`` (the peer suites themselves are fetched
and run by ``.ci/run``, not here): the wrapping reaches every TestClient and Flask app, the
plugin records each test's outcome, the comparison flags a test that passed unwrapped and
failed wrapped, and the setup helpers pin and unpack as they say. Nothing is downloaded."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from packaging.markers import Marker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import erralert
from benchmarks.peers import wrapping
from benchmarks.peers.outcomes import (
    ERROR,
    FAILED,
    NOT_RUN,
    PASSED,
    SKIPPED,
    XFAILED,
    XPASSED,
    Outcome,
    SuiteRun,
    compare,
    read_run,
    write_run,
)
from benchmarks.peers.report import describe
from benchmarks.peers.suites import (
    PEERS,
    Peer,
    PeerError,
    locked_versions,
    requirements,
    unpack,
    usable_baseline,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def wrapped() -> Iterator[wrapping.Wrapping]:
    installed = wrapping.install()
    try:
        yield installed
    finally:
        installed.finish(timeout=5.0)


# -- the wrapping -------------------------------------------------------------------------------
def failing_starlette_app() -> Starlette:
    async def boom(request: Request) -> PlainTextResponse:
        raise ZeroDivisionError("peer boom")

    async def fine(request: Request) -> PlainTextResponse:
        return PlainTextResponse("fine")

    return Starlette(routes=[Route("/boom", boom), Route("/fine", fine)])


def test_every_test_client_app_goes_through_erralert(wrapped: wrapping.Wrapping) -> None:
    app = failing_starlette_app()
    client = TestClient(app, raise_server_exceptions=False)

    assert isinstance(client.app, erralert.ASGIMiddleware)
    assert client.app.app is app
    assert client.get("/fine").text == "fine"
    assert client.get("/boom").status_code == 500
    assert wrapped.alerter.flush(5.0)
    assert wrapped.webhook.titles == ["ZeroDivisionError: peer boom"]


def test_an_asgi2_app_is_adapted_before_it_is_wrapped(wrapped: wrapping.Wrapping) -> None:
    class ASGI2App:  # the old form: app(scope) returns instance(receive, send)
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            if self.scope["path"] == "/boom":
                raise KeyError("asgi2 boom")
            await PlainTextResponse("asgi2")(self.scope, receive, send)

    client = TestClient(ASGI2App, raise_server_exceptions=False)

    assert isinstance(client.app, erralert.ASGIMiddleware)
    assert isinstance(client.app.app, wrapping.ASGI2Adapter)
    assert client.get("/").text == "asgi2"
    assert client.get("/boom").status_code == 500
    assert wrapped.alerter.flush(5.0)
    assert wrapped.webhook.titles == ["KeyError: 'asgi2 boom'"]


def test_is_asgi3_tells_the_two_forms_apart() -> None:
    async def asgi3(scope: Any, receive: Any, send: Any) -> None: ...

    class Asgi3Instance:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    class Asgi2Class:
        def __init__(self, scope: Any) -> None: ...

    import functools

    assert wrapping.is_asgi3(asgi3)
    assert wrapping.is_asgi3(functools.partial(asgi3))
    assert wrapping.is_asgi3(Asgi3Instance())
    assert wrapping.is_asgi3(failing_starlette_app())
    assert not wrapping.is_asgi3(Asgi2Class)
    assert not wrapping.is_asgi3(lambda scope: None)


def test_every_flask_app_goes_through_init_app(wrapped: wrapping.Wrapping) -> None:
    class ShopApp(Flask):  # a subclass is wrapped too: its __init__ ends in Flask's
        pass

    # two error types: one type from one line is one error (the second, a repeat, is counted)
    for cls, error in ((Flask, LookupError), (ShopApp, IndexError)):
        app = cls(__name__)

        @app.get("/boom")
        def boom(name: str = cls.__name__, error: type[Exception] = error) -> str:
            raise error(f"flask boom in {name}")

        assert app.extensions["erralert"].alerter is wrapped.alerter
        assert app.test_client().get("/boom").status_code == 500

    assert wrapped.alerter.flush(5.0)
    assert wrapped.webhook.titles == [
        "LookupError: flask boom in Flask",
        "IndexError: flask boom in ShopApp",
    ]


def test_finish_restores_the_classes_and_reports_what_erralert_did() -> None:
    logger = logging.getLogger("erralert")
    level = logger.level
    installed = wrapping.install()
    TestClient(failing_starlette_app(), raise_server_exceptions=False).get("/boom")
    logger.error("erralert: flush failed: BlockingError: Blocking call to lock.acquire")

    seen = installed.finish(timeout=5.0)

    assert seen == wrapping.Seen(
        posts=1,
        warnings=(),
        errors=("erralert: flush failed: BlockingError: Blocking call to lock.acquire",),
    )
    assert not isinstance(TestClient(failing_starlette_app()).app, erralert.ASGIMiddleware)
    assert "erralert" not in Flask(__name__).extensions
    assert installed.log not in logger.handlers
    assert logger.level == level


def test_only_the_frameworks_named_are_wrapped() -> None:
    installed = wrapping.install(["flask"])
    try:
        assert "erralert" in Flask(__name__).extensions
        assert not isinstance(TestClient(failing_starlette_app()).app, erralert.ASGIMiddleware)
    finally:
        installed.finish(timeout=1.0)
    with pytest.raises(ValueError, match="cannot wrap django: only starlette, flask"):
        wrapping.install(["django"])


def test_a_webhook_that_is_down_refuses_every_post() -> None:
    installed = wrapping.install(reachable=False)
    TestClient(failing_starlette_app(), raise_server_exceptions=False).get("/boom")

    seen = installed.finish(timeout=1.0)

    assert seen.posts >= 1  # tried (and retried while the close waited)
    assert set(installed.webhook.titles) == {"ZeroDivisionError: peer boom"}
    assert any("connection refused (mock webhook down)" in w for w in seen.warnings)


# -- the plugin ---------------------------------------------------------------------------------
SUITE = """
import pytest
from flask import Flask
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

import erralert


def test_passes():
    pass


def test_fails():
    assert 1 == 2, "one is not two"


def test_skips():
    pytest.skip("not here")


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_errors(broken):
    pass


@pytest.mark.xfail(reason="known")
def test_xfails():
    raise ValueError


@pytest.mark.xfail(reason="known")
def test_xpasses():
    pass


def test_wrapped():
    client = TestClient(PlainTextResponse("hi"))
    assert isinstance(client.app, erralert.ASGIMiddleware) == WRAPPED
    assert ("erralert" in Flask(__name__).extensions) == WRAPPED


def test_alerts():
    app = Flask(__name__)

    @app.get("/")
    def boom():
        raise OSError("inner boom")

    assert app.test_client().get("/").status_code == 500


def test_erralert_fails_inside():
    import logging

    logging.getLogger("erralert").error("erralert: flush failed: %s", "BlockingError")
"""


def run_plugin(tmp_path: Path, *flags: str) -> SuiteRun:
    wrap = any(flag.startswith("--peers-wrap") for flag in flags)
    (tmp_path / "test_suite.py").write_text(SUITE.replace("WRAPPED", str(wrap)))
    outcomes = tmp_path / "outcomes.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the installed plugins only cost start-up time
    plugin = ["-p", "benchmarks.peers.plugin", f"--peers-outcomes={outcomes}", *flags]
    done = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", *plugin, "-p", "no:cacheprovider", "test_suite.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # test_fails, test_errors
    return read_run(outcomes)


EXPECTED = {
    "test_suite.py::test_passes": PASSED,
    "test_suite.py::test_fails": FAILED,
    "test_suite.py::test_skips": SKIPPED,
    "test_suite.py::test_errors": ERROR,
    "test_suite.py::test_xfails": XFAILED,
    "test_suite.py::test_xpasses": XPASSED,
    "test_suite.py::test_wrapped": PASSED,
    "test_suite.py::test_alerts": PASSED,
    "test_suite.py::test_erralert_fails_inside": PASSED,
}


@pytest.mark.e2e
def test_the_plugin_records_every_outcome_unwrapped(tmp_path: Path) -> None:
    run = run_plugin(tmp_path)

    assert {test: o.outcome for test, o in run.tests.items()} == EXPECTED
    assert "one is not two" in run.tests["test_suite.py::test_fails"].why
    assert run.tests["test_suite.py::test_errors"].why == "RuntimeError: fixture broke"
    assert run.alerts_posted is None  # nothing was wrapped


@pytest.mark.e2e
def test_the_plugin_wraps_and_counts_the_alerts(tmp_path: Path) -> None:
    run = run_plugin(tmp_path, "--peers-wrap=starlette,flask")

    # test_wrapped passes only if the apps were (not) wrapped as the run says
    assert {test: o.outcome for test, o in run.tests.items()} == EXPECTED
    assert run.alerts_posted == 1  # test_alerts' OSError, through init_app
    assert run.erralert_warnings == ()
    assert run.erralert_errors == (
        "while test_suite.py::test_erralert_fails_inside ran: "
        "erralert: flush failed: BlockingError",
    )


# -- the comparison -----------------------------------------------------------------------------
def suite(**outcomes: str) -> SuiteRun:
    return SuiteRun({f"t::{name}": Outcome(o, f"why {name}") for name, o in outcomes.items()})


def test_a_test_that_passed_unwrapped_and_failed_wrapped_is_a_regression() -> None:
    unwrapped = suite(a=PASSED, b=PASSED, c=FAILED, d=SKIPPED, e=PASSED, f=PASSED)
    wrapped = suite(a=PASSED, b=FAILED, c=FAILED, d=SKIPPED, e=ERROR)  # f did not run

    verdict = compare(unwrapped, wrapped)

    assert not verdict.ok
    assert [(d.test, [o.outcome for o in d.wrapped]) for d in verdict.regressions] == [
        ("t::b", [FAILED]),
        ("t::e", [ERROR]),
        ("t::f", [NOT_RUN]),
    ]
    assert verdict.regressions[0].why == "why b"
    assert verdict.unsteady == ()


def test_a_failure_in_only_one_wrapped_run_is_unsteady_not_a_regression() -> None:
    unwrapped = suite(a=PASSED, b=PASSED)
    first = suite(a=FAILED, b=FAILED)
    second = suite(a=PASSED, b=FAILED)

    verdict = compare(unwrapped, first, second)

    assert [d.test for d in verdict.regressions] == ["t::b"]
    assert [d.test for d in verdict.unsteady] == ["t::a"]


def test_erralert_failing_on_its_own_in_every_wrapped_run_is_a_difference() -> None:
    unwrapped = suite(a=PASSED)
    failing = SuiteRun(unwrapped.tests, erralert_errors=("erralert: flush failed: X",))

    assert compare(unwrapped, failing).erralert_errors == ("erralert: flush failed: X",)
    assert not compare(unwrapped, failing).ok
    assert compare(unwrapped, failing, unwrapped).ok  # once in two runs: unsteady
    assert not compare(unwrapped, failing, failing).ok


def test_the_same_outcomes_are_no_difference() -> None:
    run = suite(a=PASSED, b=FAILED, c=XFAILED)
    verdict = compare(run, run)

    assert verdict.ok
    assert describe("peer 1.0", run, [run], verdict)[-1] == "  no difference"


def test_the_report_names_each_difference_and_why() -> None:
    unwrapped = SuiteRun({"t::a": Outcome(PASSED)}, exit_code=0, seconds=1.25)
    wrapped = SuiteRun(
        {"t::a": Outcome(FAILED, "AssertionError: app not freed")},
        alerts_posted=3,
        erralert_warnings=("erralert: pausing", "erralert: pausing"),
        erralert_errors=("erralert: flush failed: X",),
        exit_code=1,
        seconds=2.5,
    )

    lines = describe("flask 3.1.3", unwrapped, [wrapped], compare(unwrapped, wrapped))

    assert lines == [
        "flask 3.1.3",
        "  unwrapped: passed 1 (1.2 s)",
        "  wrapped: failed 1 (2.5 s); 3 alert posts to the mock webhook",
        "  erralert logged 2 warning(s):",
        "    2x erralert: pausing",
        "  DIFFERENCE: erralert failed on its own in every wrapped run (1 ERROR record(s) on "
        "its logger: the app saw nothing, the alerts were lost):",
        "    1x erralert: flush failed: X",
        "  DIFFERENCE: 1 test(s) passed unwrapped and failed in the wrapped run:",
        "    t::a [failed]",
        "      AssertionError: app not freed",
    ]


def test_outcomes_survive_the_file_and_a_missing_file_is_an_empty_run(tmp_path: Path) -> None:
    run = SuiteRun({"t::a": Outcome(FAILED, "boom")}, 2, ("w",), ("e",))
    write_run(tmp_path / "run.json", run)

    again = read_run(tmp_path / "run.json", exit_code=1, seconds=3.0)

    assert again == SuiteRun(run.tests, 2, ("w",), ("e",), exit_code=1, seconds=3.0)
    assert read_run(tmp_path / "absent.json", exit_code=2).tests == {}


def test_only_a_finished_run_with_passing_tests_is_a_baseline() -> None:
    passing = {"t::a": Outcome(PASSED)}
    assert usable_baseline(SuiteRun(passing, exit_code=1))
    assert not usable_baseline(SuiteRun(passing, exit_code=2))  # interrupted
    assert not usable_baseline(SuiteRun(passing, exit_code=None))  # killed
    assert not usable_baseline(SuiteRun({"t::a": Outcome(ERROR)}, exit_code=1))


# -- setting a peer up --------------------------------------------------------------------------
LOCK = """
version = 1
[[package]]
name = "pytest"
version = "8.4.2"
resolution-markers = ["python_full_version < '3.10'"]

[[package]]
name = "pytest"
version = "9.0.2"
resolution-markers = ["python_full_version >= '3.10'"]

[[package]]
name = "Greenlet"
version = "3.3.1"

[[package]]
name = "flask"
version = "3.1.3"
"""


def test_the_lock_gives_the_versions_for_this_python(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(LOCK)

    versions = locked_versions(tmp_path / "uv.lock")

    assert Marker("python_full_version >= '3.10'").evaluate()
    assert versions == {"pytest": "9.0.2", "greenlet": "3.3.1", "flask": "3.1.3"}
    assert locked_versions(tmp_path / "absent.lock") == {}


def test_pytest_is_pinned_and_only_missing_test_requirements_are_installed(
    tmp_path: Path,
) -> None:
    (tmp_path / "uv.lock").write_text(LOCK)
    peer = Peer("flask", ("jinja2", "greenlet[docs]", "surely-not-installed-here"), None)

    wanted = requirements(peer, tmp_path / "uv.lock")

    # jinja2 and pytest-timeout are installed here: this environment's copies are used
    assert wanted == ["pytest==9.0.2", "greenlet[docs]==3.3.1", "surely-not-installed-here"]


def test_the_sdist_is_unpacked_afresh(tmp_path: Path) -> None:
    sdist = tmp_path / "peer-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        data = b"def test_x(): pass\n"
        member = tarfile.TarInfo("peer-1.0/tests/test_x.py")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    into = tmp_path / "src"
    (into / "stale").mkdir(parents=True)

    tree = unpack(sdist, into)

    assert tree == into / "peer-1.0"
    assert (tree / "tests" / "test_x.py").read_bytes() == data
    assert not (into / "stale").exists()


def test_an_sdist_with_two_top_directories_is_refused(tmp_path: Path) -> None:
    sdist = tmp_path / "odd.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name in ("a", "b"):
            member = tarfile.TarInfo(name)
            member.type = tarfile.DIRTYPE
            archive.addfile(member)

    with pytest.raises(PeerError, match="expected one top directory, found 2"):
        unpack(sdist, tmp_path / "src")


def test_the_peers_are_starlette_and_flask_and_only_their_tests_are_collected() -> None:
    assert [(peer.name, peer.test_paths) for peer in PEERS] == [
        ("starlette", ("tests",)),
        ("flask", ("tests",)),
    ]


def test_an_unknown_peer_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers", "django"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown peer(s): django (known: starlette, flask)" in done.stderr


def test_the_script_says_what_it_does() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "--webhook {up,down}" in done.stdout

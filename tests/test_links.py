"""Links (issue 15): templates checked at configuration time naming the link and the
culprit, filled per event with URL-encoded values, a link without a value left out, and
carried by the renderer into ``links``, ``Message.links`` and the generic webhook's JSON."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import erralert
from erralert._core.errors import ConfigError
from erralert._core.event import Event, ExceptionInfo, Frame, Request
from erralert._core.links import PLACEHOLDERS, Link, link_values, links_for, parse_links
from erralert._default import current
from erralert._render.renderer import Renderer
from erralert.channels.base import Channel
from erralert.testing import capture_alerts
from tests import samples

WEBHOOK = "webhook+https://alerts.example.com/erralert"
SOURCE = "https://github.com/org/shop/blob/{release}/{path}#L{lineno}"
LOGS = "https://grafana.example/explore?q={request_id}"
RUNBOOK = "https://wiki.example/runbooks/{exception}"
TRACE = "0af7651916cd43dd8448eb211c80319c"


def event(**changes: object) -> Event:
    return dataclasses.replace(samples.event(), **{"trace_id": TRACE, **changes})  # type: ignore[arg-type]


def one(template: str, sample: Event | None = None) -> str | None:
    """The URL of a single link ``template`` for ``sample``, None when it is left out."""
    links = links_for(parse_links({"x": template}), sample or event())
    return links[0].url if links else None


# -- parsing ------------------------------------------------------------------------------------


def test_templates_keep_their_order_name_and_text() -> None:
    templates = parse_links({"source": SOURCE, "logs": LOGS, "runbook": RUNBOOK})
    assert [(t.name, t.template) for t in templates] == [
        ("source", SOURCE),
        ("logs", LOGS),
        ("runbook", RUNBOOK),
    ]
    assert templates[0].placeholders == ("release", "path", "lineno")
    assert parse_links(None) == ()
    assert parse_links({}) == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"source": "https://github.com/org/shop/blob/{relase}/{path}"},
            "links['source']: unknown placeholder {relase} (did you mean {release}?)",
        ),
        (
            {"logs": "https://logs.example/?q={reqest_id}"},
            "links['logs']: unknown placeholder {reqest_id} (did you mean {request_id}?)",
        ),
        (
            {"x": "https://x.example/{zzz}"},
            "links['x']: unknown placeholder {zzz} (the placeholders: service, environment, "
            "release, exception, module, function, path, lineno, fingerprint, event_id, "
            "request_id, trace_id, route)",
        ),
        (
            {"x": "https://x.example/{0}"},
            "links['x']: unknown placeholder {0} (the placeholders: service,",
        ),
        (
            {"x": "https://x.example/{}"},
            "links['x']: an empty placeholder {} (name one: service, environment,",
        ),
        (
            {"x": "https://x.example/{path!r}"},
            "links['x']: {path!r}: conversions and format specs are not allowed; write {path} "
            "(values are URL-encoded as they are)",
        ),
        (
            {"x": "https://x.example/L{lineno:04d}"},
            "links['x']: {lineno:04d}: conversions and format specs are not allowed; "
            "write {lineno}",
        ),
        (
            {"x": "https://x.example/{request.route}"},
            "links['x']: {request.route}: attribute or index access is not allowed; "
            "a placeholder is a plain name (service,",
        ),
        (
            {"x": "https://x.example/{path[0]}"},
            "links['x']: {path[0]}: attribute or index access is not allowed",
        ),
        (
            {"x": "https://x.example/{path"},
            "links['x']: expected '}' before end of string in 'https://x.example/{path' "
            "(write {{ and }} for braces)",
        ),
        (
            {"x": "https://x.example/}"},
            "links['x']: Single '}' encountered in format string in 'https://x.example/}'",
        ),
        (
            {"x": "ftp://files.example/{path}"},
            "links['x']: 'ftp://files.example/{path}' is not an http:// or https:// URL "
            "(the scheme must be written at the start of the template)",
        ),
        ({"x": "javascript:alert(1)//{path}"}, "links['x']: 'javascript:alert(1)//{path}' is not"),
        ({"x": "//cdn.example/{path}"}, "links['x']: '//cdn.example/{path}' is not an http"),
        ({"x": "{service}://x.example"}, "links['x']: '{service}://x.example' is not an http"),
        ({"x": "https://"}, "links['x']: 'https://' is not an http:// or https:// URL"),
        ({"": "https://x.example"}, "links: a link name must be a non-empty string, got ''"),
        ({"  ": "https://x.example"}, "links: a link name must be a non-empty string, got '  '"),
        ({3: "https://x.example"}, "links: a link name must be a non-empty string, got 3"),
        ({"x": 3}, "links['x']: expected a URL template (a string), got int"),
        ({"x": None}, "links['x']: expected a URL template (a string), got NoneType"),
        (
            ["https://x.example"],
            "links: expected a mapping of link names to URL templates, got list",
        ),
        ("https://x.example", "links: expected a mapping of link names to URL templates, got str"),
    ],
)
def test_a_bad_template_is_named_with_its_culprit(spec: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_links(spec)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message), str(raised.value)


def test_the_error_names_where_the_links_come_from() -> None:
    with pytest.raises(ConfigError, match=r"^ERRALERT_LINKS\['a'\]: unknown placeholder"):
        parse_links({"a": "https://x/{servce}"}, where="ERRALERT_LINKS")


def test_the_scheme_may_be_written_in_capitals() -> None:
    assert one("HTTPS://x.example/{service}") == "HTTPS://x.example/checkout"
    assert one("http://x.example/{service}") == "http://x.example/checkout"


def test_the_alerter_and_init_refuse_a_bad_template_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"links\['src'\]: unknown placeholder \{file\}"):
        erralert.Alerter([WEBHOOK], links={"src": "https://x.example/{file}"})
    with pytest.raises(ConfigError, match=r"links\['src'\]: .* not an http"):
        erralert.init(webhooks=[WEBHOOK], links={"src": "file:///etc/{path}"})
    assert current() is None  # nothing half-built was installed


# -- values -------------------------------------------------------------------------------------


def test_every_placeholder_has_its_value() -> None:
    sample = event(request=dataclasses.replace(samples.event().request, request_id="req-7f3a"))
    assert link_values(sample) == {
        "service": "checkout",
        "environment": "production",
        "release": "3f2a9c1b7d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a",
        "exception": "shop.errors.PaymentError",
        "module": "shop.checkout.step_5",
        "function": "step_5",
        "path": "shop/checkout/step_5.py",
        "lineno": "15",
        "fingerprint": "9b1c0e7d5a3f2e1d0c9b8a7f6e5d4c3b",
        "event_id": "5f0c2a9e0b7d4c1e9a3b6d8f1e2c4a7b",
        "request_id": "req-7f3a",
        "trace_id": TRACE,
        "route": "/pay/{order}",
    }
    assert set(link_values(sample)) == set(PLACEHOLDERS)
    template = "https://x.example/" + "/".join(f"{{{name}}}" for name in PLACEHOLDERS)
    assert one(template, sample) == (
        "https://x.example/checkout/production/3f2a9c1b7d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a/"
        "shop.errors.PaymentError/shop.checkout.step_5/step_5/shop/checkout/step_5.py/15/"
        "9b1c0e7d5a3f2e1d0c9b8a7f6e5d4c3b/5f0c2a9e0b7d4c1e9a3b6d8f1e2c4a7b/req-7f3a/"
        f"{TRACE}/%2Fpay%2F%7Border%7D"
    )


def test_the_culprit_frame_is_the_innermost_in_app_one() -> None:
    app = samples.frame(1)
    library = Frame(
        filename="httpx/_client.py",
        abs_path="/venv/lib/python3.12/site-packages/httpx/_client.py",
        lineno=900,
        function="Client.send",
        module="httpx._client",
        context_line="raise exc",
        in_app=False,
    )
    exception = ExceptionInfo("ConnectError", "httpx", "refused", (samples.frame(0), app, library))
    values = link_values(event(exceptions=(exception,)))
    assert (values["module"], values["function"], values["path"], values["lineno"]) == (
        "shop.checkout.step_1",
        "step_1",
        "shop/checkout/step_1.py",
        "11",
    )
    assert values["exception"] == "httpx.ConnectError"


def test_a_builtin_exception_is_named_plainly() -> None:
    exception = ExceptionInfo("KeyError", "builtins", "'x'", (samples.frame(0),))
    assert link_values(event(exceptions=(exception,)))["exception"] == "KeyError"


def test_values_are_url_encoded_and_only_a_path_keeps_its_slashes() -> None:
    request = Request(request_id="a b/c?d=<e>&f'(g)\"#h", route="/items/{id}")
    frame = dataclasses.replace(samples.frame(0), filename="shop/my file (1).py")
    exception = ExceptionInfo("PaymentError", "shop.errors", "x", (frame,))
    sample = event(request=request, exceptions=(exception,), service="café bar")
    assert one("https://x.example/?q={request_id}", sample) == (
        "https://x.example/?q=a%20b%2Fc%3Fd%3D%3Ce%3E%26f%27%28g%29%22%23h"
    )
    assert one("https://x.example/blob/{path}", sample) == (
        "https://x.example/blob/shop/my%20file%20%281%29.py"
    )
    assert one("https://x.example/{route}", sample) == "https://x.example/%2Fitems%2F%7Bid%7D"
    assert one("https://x.example/s/{service}", sample) == "https://x.example/s/caf%C3%A9%20bar"


def test_the_templates_own_text_is_made_safe_and_escapes_kept() -> None:
    template = 'https://wiki.example/run books/(prod)/"{service}"?a=1%202&b=<x>|{{y}}#top'
    assert one(template) == (
        "https://wiki.example/run%20books/%28prod%29/%22checkout%22?a=1%202&b=%3Cx%3E%7C%7By%7D#top"
    )


UNSAFE = set(" \t\r\n\"'<>()`|{}\\^") | {"\u200b"}


@given(value=st.text(max_size=60), path=st.text(max_size=60))
@pytest.mark.slow
def test_every_url_is_one_safe_token(value: str, path: str) -> None:
    frame = dataclasses.replace(samples.frame(0), filename=path)
    exception = ExceptionInfo("PaymentError", "shop.errors", "x", (frame,))
    sample = event(request=Request(request_id=value), exceptions=(exception,))
    for template in ("https://x.example/?q={request_id}", "https://x.example/{path}"):
        url = one(template, sample)
        if url is None:
            assert (value if "request_id" in template else path) == ""
            continue
        assert url.isascii()
        assert not UNSAFE & set(url), url
        assert all(c.isprintable() for c in url)


# -- a link without a value ---------------------------------------------------------------------


def test_a_link_whose_value_is_missing_is_left_out_and_the_order_kept() -> None:
    templates = parse_links({"source": SOURCE, "logs": LOGS, "runbook": RUNBOOK})
    full = links_for(templates, event())
    assert [link.name for link in full] == ["source", "logs", "runbook"]
    assert full[0] == Link(
        "source",
        "https://github.com/org/shop/blob/3f2a9c1b7d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a/"
        "shop/checkout/step_5.py#L15",
    )
    # a job, not a request: no request id
    assert [link.name for link in links_for(templates, event(request=None))] == [
        "source",
        "runbook",
    ]
    # a message: no exception and no culprit frame
    message = event(exceptions=(), request=Request(request_id="r-1"))
    assert links_for(templates, message) == (Link("logs", "https://grafana.example/explore?q=r-1"),)
    # an empty value is no value
    assert links_for(parse_links({"s": "https://x/{service}"}), event(service="")) == ()
    assert links_for(parse_links({"t": "https://x/{trace_id}"}), event(trace_id=None)) == ()
    assert links_for(parse_links({"f": "https://x/{fingerprint}"}), event(fingerprint="")) == ()
    assert links_for((), event()) == ()


def test_links_and_their_templates_are_frozen() -> None:
    template = parse_links({"logs": LOGS})[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Link("a", "https://a").url = "https://b"  # type: ignore[misc]


# -- in the renderer ----------------------------------------------------------------------------


class Plain(Channel):
    platform = "linktest"
    dialect = "plain"
    max_length = 20000


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_renderer_gives_templates_and_the_message_the_links(tmp_path: Path) -> None:
    write(
        tmp_path,
        "linktest.j2",
        """\
        {% block title %}t{% endblock %}
        {% block body %}{% for link in links %}{{ link.name }} -> {{ link.url }}
        {% endfor %}{% endblock %}
        """,
    )
    renderer = Renderer(tmp_path, links=parse_links({"source": SOURCE, "logs": LOGS}))
    channel = Plain("https://x.example/hook")
    alert = renderer.render(samples.notice("alert", event()), channel)
    expected = (
        Link(
            "source",
            "https://github.com/org/shop/blob/3f2a9c1b7d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a/"
            "shop/checkout/step_5.py#L15",
        ),
        Link("logs", "https://grafana.example/explore?q=req-7f3a"),
    )
    assert alert.links == expected
    assert alert.body == "\n".join(f"{link.name} -> {link.url}" for link in expected)
    digest = renderer.render(samples.notice("digest", event()), channel)
    assert digest.links == expected
    # a storm summary stands for many errors: none of one event's links
    storm = renderer.render(samples.notice("storm", event()), channel)
    assert storm.links == ()
    assert storm.body == ""


def test_without_links_configured_there_are_none(tmp_path: Path) -> None:
    message = Renderer().render(samples.notice("alert", event()), Plain("https://x.example/h"))
    assert message.links == ()


def test_the_webhook_json_lists_the_links() -> None:
    alerter = erralert.Alerter(
        [WEBHOOK],
        service="checkout",
        release="v1.4.3",
        links={"source": SOURCE, "logs": LOGS, "runbook": RUNBOOK},
    )
    with capture_alerts(alerter) as alerts:
        try:
            {}["order"]
        except KeyError as exc:
            alerter.capture_exception(exc, request=Request(request_id="req-1"))
    alerter.close(0.1)
    (alert,) = alerts
    frame = alert.notice.event.culprit_frame
    assert frame is not None
    source = f"https://github.com/org/shop/blob/v1.4.3/{frame.filename}#L{frame.lineno}"
    assert alert.payload["links"] == [
        {"name": "source", "url": source},
        {"name": "logs", "url": "https://grafana.example/explore?q=req-1"},
        {"name": "runbook", "url": "https://wiki.example/runbooks/KeyError"},
    ]
    assert alert.payload["version"] == 1
    assert [link.name for link in alert.message.links] == ["source", "logs", "runbook"]


def readme_block(heading: str) -> str:
    """The first ```python block after ``heading`` in the README, exactly as written."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    after = readme[readme.index(heading) :]
    start = after.index("```python\n") + len("```python\n")
    return after[start : after.index("```", start)]


def test_the_readme_links_example_runs_as_written() -> None:
    code = readme_block("### Links")
    exec(compile(code, "README.md", "exec"), {"erralert": erralert})
    alerter = erralert.get_alerter()
    try:
        with capture_alerts(alerter) as alerts:
            try:
                {}["order"]
            except KeyError as exc:
                alerter.capture_exception(exc, request=Request(request_id="req-1"))
        (alert,) = alerts
        frame = alert.notice.event.culprit_frame
        assert frame is not None
        assert [(link.name, link.url) for link in alert.message.links] == [
            (
                "Source",
                f"https://github.com/acme/shop/blob/1.4.3/{frame.filename}#L{frame.lineno}",
            ),
            ("Logs", "https://grafana.example.com/explore?q=req-1"),
            ("Runbook", "https://wiki.example.com/runbooks/KeyError"),
        ]
    finally:
        erralert.close(0.1)

"""Rendering notices with Jinja templates: escaping, overrides, failures, the sandbox."""

from __future__ import annotations

import dataclasses
import logging
import textwrap
import timeit
from pathlib import Path
from typing import Any

import jinja2
import pytest

from erralert._core.errors import ConfigError
from erralert._core.event import Event, ExceptionInfo, Frame, Request
from erralert._core.notice import Notice, Occurrences, Storm, StormGroup, document
from erralert._render import renderer as renderer_module
from erralert._render.renderer import Renderer, default_template_dir, mentions_for
from erralert.channels import DIALECTS
from erralert.channels.base import Channel, ChannelOptions, Message
from erralert.inbox.show import markup_html

HOSTILE = "<!channel> @all [x](http://evil.example) ![i](http://e/x.png) <script> # head"
NOW = 1795717201.0  # 2026-11-26 18:20:01 UTC


# -- fakes ----------------------------------------------------------------------------------


class FakeSlack(Channel):
    platform = "slack"
    dialect = "mrkdwn"
    max_length = 3000


class FakeDingTalk(Channel):
    platform = "dingtalk"
    dialect = "markdown"
    max_length = 3000


class FakeConsole(Channel):
    platform = "console"
    dialect = "plain"
    max_length = 20000


class FakeWebhook(Channel):
    platform = "webhook"
    dialect = "plain"
    max_length = 20000


class FakeUnknown(Channel):
    platform = "carrierpigeon"  # no template of its own
    dialect = "markdown"
    max_length = 3000


class FakeBytes(Channel):
    platform = "slack"
    dialect = "mrkdwn"
    max_length = 300
    length_unit = "bytes"


def slack(template: str | None = None) -> Channel:
    return FakeSlack("https://hooks.example/T/B/X", ChannelOptions(template=template))


def make_event(message: str = "bad input", frames: int = 8, **changes: Any) -> Event:
    exception = ExceptionInfo(
        type="ValueError",
        module="builtins",
        message=message,
        frames=tuple(
            Frame(
                filename=f"app/mod{i}.py",
                abs_path=f"/srv/app/mod{i}.py",
                lineno=10 + i,
                function=f"handler_{i}",
                module=f"app.mod{i}",
                context_line=f"step_{i}(request)",
                in_app=True,
            )
            for i in range(frames)
        ),
    )
    fields: dict[str, Any] = {
        "event_id": "0123456789abcdef0123456789abcdef",
        "timestamp": NOW,
        "level": "error",
        "title": " ".join(f"ValueError: {message}".split()),
        "message": None,
        "exceptions": (exception,),
        "culprit": f"app.mod{frames - 1}.handler_{frames - 1} (app/mod{frames - 1}.py:17)",
        "traceback": "Traceback (most recent call last): ...",
        "request": Request(
            method="GET", url="https://api.example/items/42", path="/items/42", route="/items/{id}"
        ),
        "service": "api",
        "environment": "production",
        "release": "1.4.2",
        "host": "web-1",
        "pid": 4242,
        "tags": {"team": "core"},
        "fingerprint": "f1f2f3f4f5f6f7f8",
    }
    fields.update(changes)
    return Event(**fields)


def occurrences(**changes: Any) -> Occurrences:
    fields: dict[str, Any] = {
        "count": 1,
        "total": 1,
        "first_seen": NOW,
        "last_seen": NOW,
        "window": 300.0,
        "is_new": True,
    }
    fields.update(changes)
    return Occurrences(**fields)


def alert(message: str = "bad input", **changes: Any) -> Notice:
    return Notice(
        kind="alert",
        event=make_event(message, **changes),
        occurrences=occurrences(),
        created_at=NOW,
        mentions=True,
    )


def digest() -> Notice:
    return Notice(
        kind="digest",
        event=make_event(),
        occurrences=occurrences(
            count=99,
            total=140,
            is_new=False,
            last_seen=NOW + 290,
            histogram=(0, 1, 3, 9, 20, 30, 12, 5, 1, 0),
        ),
        created_at=NOW + 300,
    )


def storm() -> Notice:
    groups = (
        StormGroup("KeyError: 'user'", "app.auth.login (app/auth.py:12)", 10),
        StormGroup(HOSTILE, "app.views.item (app/views.py:40)", 300),
        StormGroup("TypeError: x", "", 30),
    )
    return Notice(
        kind="storm",
        event=make_event(),
        occurrences=occurrences(),
        storm=Storm(groups=groups, total=340, since=NOW, until=NOW + 300),
        created_at=NOW + 300,
    )


def write(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


# -- the default templates ------------------------------------------------------------------


def test_default_templates_are_found() -> None:
    folder = default_template_dir()
    for name in ("slack.j2", "dingtalk.j2", "webhook.j2", "console.j2"):
        assert (folder / name).is_file()


@pytest.mark.parametrize(
    "channel_class", [FakeSlack, FakeDingTalk, FakeConsole, FakeWebhook, FakeUnknown]
)
def test_every_kind_renders_on_every_platform(
    renderer: Renderer, channel_class: type[Channel]
) -> None:
    channel = channel_class("https://x.example/hook")
    titles = {}
    for notice in (alert(), digest(), storm()):
        message = renderer.render(notice, channel)
        assert message.template_error is None, message.body
        assert message.body.strip()
        assert "\n" not in message.title
        titles[notice.kind] = message.title
    if channel_class is not FakeUnknown:
        assert titles == {
            "alert": "🔴 [api·prod·1.4.2] ValueError: bad input",
            "digest": "🔁 [api·prod·1.4.2] ValueError: bad input \u00d799 in 5 min",
            "storm": "🌪 [api·prod·1.4.2] Error storm: 340 errors, 3 kinds",
        }


def test_alert_body_says_what_where_and_how(renderer: Renderer) -> None:
    body = renderer.render(alert(), slack()).body
    lines = body.splitlines()
    assert lines[0] == "🆕 New error, first seen in 1.4.2"  # new or not, first
    assert "*Type* `ValueError`" in lines  # the message is the title's: not said twice
    # the culprit, and its line as code right under it
    assert lines[lines.index("*At* `app/mod7.py:17` in `handler_7`") + 1 :][:3] == [
        "```",
        "step_7(request)",
        "```",
    ]
    assert "*Request* `GET /items/42` route `/items/{id}`" in lines
    assert "*Where* api · production · 1.4.2 · web-1" in lines
    # the app's other frames, innermost first, the rest counted
    assert body.index("app/mod6.py:16 in handler_6") < body.index("app/mod3.py:13 in handler_3")
    assert "app/mod2.py" not in body
    assert "… 3 more app frames" in body
    not_new = Notice(kind="alert", event=make_event(), occurrences=occurrences(is_new=False))
    assert renderer.render(not_new, slack()).body.startswith("🔁 Recurring · seen ")


def test_digest_and_storm_bodies(renderer: Renderer) -> None:
    body = renderer.render(digest(), FakeConsole("console://")).body
    assert "99 more times in the last 5 min (first 26 Nov, last 26 Nov)" in body
    assert "140 in total" in body
    assert "▁▂▂▄▆█▄▃▂▁" in body
    body = renderer.render(storm(), FakeConsole("console://")).body
    counts = [body.index(f"{n}\u00d7") for n in (300, 30, 10)]
    assert counts == sorted(counts)  # biggest first
    assert "340 errors of 3 kinds" in body


def test_message_fields(renderer: Renderer) -> None:
    notice = alert()
    message = renderer.render(notice, slack())
    assert isinstance(message, Message)
    assert message.kind == "alert"
    assert message.level == "error"
    assert message.fingerprint == "f1f2f3f4f5f6f7f8"
    assert message.event_id == notice.event.event_id
    assert message.created_at == NOW
    assert message.mentions == ()  # the channel names nobody and routing added nobody
    assert message.payload is None
    assert message.data is None  # only the generic webhook sends the event itself
    assert renderer.render(notice, FakeWebhook("https://x.example")).data == document(notice)


# -- mentions -------------------------------------------------------------------------------


class FakeMentioning(Channel):
    platform = "slack"
    dialect = "mrkdwn"
    max_length = 3000
    supported_options = Channel.supported_options | {"mention"}


def mentioning(*entries: str, url: str = "https://hooks.example/T/B/M") -> Channel:
    return FakeMentioning(url, ChannelOptions(mention=entries))


def test_an_alert_of_a_new_error_mentions_the_channels_own(renderer: Renderer) -> None:
    message = renderer.render(alert(), mentioning("U1", "here"))
    assert message.mentions == ("U1", "here")


def test_only_alerts_of_new_errors_mention(renderer: Renderer) -> None:
    channel = mentioning("U1")
    assert renderer.render(dataclasses.replace(alert(), mentions=False), channel).mentions == ()
    assert renderer.render(digest(), channel).mentions == ()


def test_routing_adds_mentions_for_its_channel_only(renderer: Renderer) -> None:
    ops, web = mentioning("U1", "here"), mentioning("U9", url="https://hooks.example/T/B/W")
    notice = dataclasses.replace(
        alert(), extra_mentions=((ops.key, ("U2", "U1", "S3")), ("0" * 24, ("U7",)))
    )
    # the channel's own first, then routing's, each once
    assert renderer.render(notice, ops).mentions == ("U1", "here", "U2", "S3")
    assert renderer.render(notice, web).mentions == ("U9",)
    assert mentions_for(dataclasses.replace(notice, mentions=False), ops) == ()


def test_routing_mentions_on_a_channel_without_its_own(renderer: Renderer) -> None:
    channel = mentioning()
    notice = dataclasses.replace(alert(), extra_mentions=((channel.key, ("U2",)),))
    assert renderer.render(notice, channel).mentions == ("U2",)
    assert renderer.render(alert(), channel).mentions == ()


# -- escaping -------------------------------------------------------------------------------


def test_slack_body_escapes_hostile_text(renderer: Renderer) -> None:
    # a second line puts the message in the body, in a code block, as well as in the title
    body = renderer.render(alert(f"{HOSTILE}\n{HOSTILE}"), slack()).body
    assert "<!" not in body
    assert "&lt;!channel&gt;" in body  # Slack's escape applies inside code too
    # the message as written (but for Slack's three entities), inert inside a code block
    written = HOSTILE.translate({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"})
    assert f"```\n{written}\n{written}\n```" in body.replace("\x1b", "")
    assert " @all " in body  # a plain @all is text: erralert never sends link_names
    assert "<script>" not in body
    shown = markup_html("slack", body)
    assert 'class="mention"' not in shown
    assert "<a " not in shown


@pytest.mark.parametrize("notice", [alert(HOSTILE), storm()], ids=["alert", "storm"])
def test_dingtalk_body_escapes_hostile_text(renderer: Renderer, notice: Notice) -> None:
    body = renderer.render(notice, FakeDingTalk("https://x.example")).body
    # character references where a link, an autolink or HTML could form; "@all" is text
    # on DingTalk (mentions go through the "at" field only)
    assert "&#91;x](http&#58;//evil.example) !&#91;i](http&#58;//e/x.png) &lt;script>" in body
    for sequence in ("[x](", "![i]", "://", "<s", "<!"):
        assert sequence not in body
    shown = markup_html("dingtalk", body)
    assert 'class="mention"' not in shown
    assert "<a " not in shown
    # ... while the template's own markup stays markup
    assert body.startswith("### ")
    assert "**" in body


def test_title_is_plain_text_on_one_line(renderer: Renderer) -> None:
    message = renderer.render(alert(HOSTILE + "\x1b[2J"), slack())
    # channels escape it themselves
    assert message.title == "🔴 [api·prod·1.4.2] ValueError: " + HOSTILE + "[2J"
    long = renderer.render(Notice("alert", make_event(title="x" * 1000), occurrences()), slack())
    assert len(long.title) == 250
    assert long.title.endswith("…")


def test_safe_is_the_explicit_opt_out(tmp_path: Path) -> None:
    write(
        tmp_path,
        "optout.j2",
        """\
        {% block body %}
        escaped: {{ event.title }}
        safe: {{ event.title|safe }}
        raw: {{ event.title|raw }}
        none: [{{ event.message }}][{{ nothing }}]
        {% endblock %}
        """,
    )
    message = Renderer(tmp_path).render(alert(HOSTILE), slack("optout"))
    lines = message.body.split("\n")
    assert lines[0].startswith("escaped: ValueError: &lt;!channel&gt;")
    assert lines[1] == "safe: ValueError: " + HOSTILE
    assert lines[2] == "raw: ValueError: " + HOSTILE
    assert lines[3] == "none: [][]"


def test_concatenation_join_and_filters_escape_for_the_dialect(tmp_path: Path) -> None:
    # Jinja would HTML-escape the plain side of `~` and `join` next to Markup: in markdown
    # that shows "&lt;" and leaves the link active
    write(
        tmp_path,
        "mixed.j2",
        """\
        {% block body %}
        {{ (event.culprit|code) ~ " " ~ event.title }}
        {{ [event.culprit|code, event.title]|join(" | ") }}
        {{ (event.culprit|code) + event.title }}
        {{ event.title|e }}
        {% endblock %}
        """,
    )
    body = (
        Renderer(tmp_path)
        .render(alert(HOSTILE), FakeDingTalk("https://x", ChannelOptions(template="mixed")))
        .body
    )
    # each side escaped once, for the dialect (never HTML-escaped again by Jinja)
    code = DIALECTS["markdown"].code("app.mod7.handler_7 (app/mod7.py:17)")
    title = DIALECTS["markdown"].escape("ValueError: " + HOSTILE)
    assert body.split("\n") == [f"{code} {title}", f"{code} | {title}", f"{code}{title}", title]


# -- template_dir ---------------------------------------------------------------------------


def test_template_dir_overrides_a_default_by_name(tmp_path: Path) -> None:
    write(
        tmp_path,
        "slack.j2",
        "{% block title %}mine{% endblock %}{% block body %}ours: {{ event.title }}{% endblock %}",
    )
    renderer = Renderer(tmp_path)
    message = renderer.render(alert(), slack())
    assert (message.title, message.body) == ("mine", "ours: ValueError: bad input")
    # the other platforms keep erralert's
    assert renderer.render(alert(), FakeDingTalk("https://x")).body.startswith("### 🔴")


def test_template_option_picks_name_j2(tmp_path: Path) -> None:
    write(tmp_path, "team/backend.j2", "{% block body %}backend: {{ event.culprit }}{% endblock %}")
    renderer = Renderer(tmp_path)
    renderer.check("team/backend")
    renderer.check("slack")  # the defaults count
    message = renderer.render(alert(), slack("team/backend"))
    assert message.body == "backend: app.mod7.handler_7 (app/mod7.py:17)"
    assert message.title == "ValueError: bad input"  # no title block: the event's


def test_check_names_the_missing_template(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.j2"):
        Renderer(tmp_path).check("nope")
    with pytest.raises(ConfigError, match="nope"):
        Renderer().check("nope")


def test_missing_template_dir_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "not-here"
    with pytest.raises(ConfigError, match="not-here"):
        Renderer(missing)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "fine.j2", "{% block body %}ok{% endblock %}")
    write(tmp_path, "sub/bad.j2", "{% block body %}\nline two\n{% if %}\n{% endblock %}\n")
    with pytest.raises(ConfigError, match=r"bad\.j2:3: ") as caught:
        Renderer(tmp_path)
    assert "sub" in str(caught.value)


def test_a_missing_parent_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "child.j2", '{# x #}\n{% extends "nowhere.j2" %}')
    with pytest.raises(ConfigError, match=r"child\.j2:2: template 'nowhere\.j2' not found"):
        Renderer(tmp_path)


# -- inheritance ----------------------------------------------------------------------------


def test_extends_a_default(tmp_path: Path) -> None:
    # "slack.j2" in template_dir replaces erralert's; "default/slack.j2" is still erralert's
    write(
        tmp_path,
        "slack.j2",
        """\
        {% extends "default/slack.j2" %}
        {% block body %}
        Owner: {{ event.tags.team }}
        {{ super() }}
        {% endblock %}
        """,
    )
    message = Renderer(tmp_path).render(alert(HOSTILE), slack())
    assert message.template_error is None
    assert message.title.startswith("🔴 [api·prod·1.4.2] ValueError")  # _base.j2's title
    assert message.body.startswith("Owner: core\n🆕 New error, first seen in 1.4.2\n")
    assert "<!" not in message.body


def test_extends_a_custom_layout(tmp_path: Path) -> None:
    write(
        tmp_path,
        "layout.j2",
        """\
        {% block title %}[{{ event.level|upper }}] {% block subject %}{% endblock %}{% endblock %}
        {% block body %}<{% block content %}{% endblock %}>{% endblock %}
        """,
    )
    write(
        tmp_path,
        "page.j2",
        """\
        {% extends "layout.j2" %}
        {% set who = "ops" %}
        {% block subject %}{{ event.title }}{% endblock %}
        {% block content %}{{ who }}: {{ event.culprit }}{% endblock %}
        """,
    )
    message = Renderer(tmp_path).render(alert(HOSTILE), slack("page"))
    assert message.template_error is None
    assert message.title == "[ERROR] ValueError: " + HOSTILE
    assert message.body == "<ops: app.mod7.handler_7 (app/mod7.py:17)>"


# -- failures at render time ----------------------------------------------------------------


def render_broken(tmp_path: Path, source: str, notice: Notice | None = None) -> Message:
    write(tmp_path, "broken.j2", source)
    return Renderer(tmp_path).render(notice or alert(HOSTILE), slack("broken"))


def test_runtime_error_falls_back_to_the_built_in_template(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="erralert"):
        message = render_broken(
            tmp_path, "{% block body %}\nfirst line\n{{ 1 / 0 }}\n{% endblock %}\n"
        )
    expected = 'custom template "broken.j2" failed: ZeroDivisionError: division by zero (line 3)'
    assert message.template_error == expected
    assert message.body.startswith("⚠ " + expected)
    # the alert itself is still there, escaped
    assert "ValueError: &lt;!channel&gt;" in message.body
    assert "<!" not in message.body
    assert "app.mod7.handler_7" in message.body
    assert message.title == "ValueError: " + HOSTILE
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert expected in caplog.records[0].getMessage()


def test_a_failure_is_logged_once_at_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "broken.j2", "{% block body %}{{ 1 / 0 }}{% endblock %}")
    renderer = Renderer(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="erralert"):
        for _ in range(3):
            renderer.render(alert(), slack("broken"))
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.DEBUG, logging.DEBUG]


def test_undefined_method_call_falls_back(tmp_path: Path) -> None:
    message = render_broken(tmp_path, "{% block body %}{{ event.nothing_here() }}{% endblock %}")
    assert message.template_error is not None
    assert "UndefinedError" in message.template_error
    assert "nothing_here" in message.template_error
    assert "(line 1)" in message.template_error


def test_error_in_a_parent_names_the_parent(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.j2",
        "{% block title %}t{% endblock %}\n{% block body %}\n{{ 1 / 0 }}{% endblock %}",
    )
    message = render_broken(tmp_path, '{% extends "base.j2" %}')
    assert message.template_error is not None
    assert message.template_error.endswith("(base.j2, line 3)")


def test_the_note_is_escaped_too(tmp_path: Path) -> None:
    # an exception message can quote error data: here the missing key is the title
    message = render_broken(
        tmp_path, "{% block body %}{{ event.tags[event.title].x }}{% endblock %}"
    )
    assert message.template_error is not None
    assert "<!channel>" in message.template_error  # plain text, for logs
    note = message.body.split("\n")[0]
    assert note.startswith("⚠ custom template")
    assert "&lt;!channel&gt;" in note
    assert "<!" not in message.body


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ ''.__class__.__mro__ }}", "SecurityError: access to attribute '__class__'"),
        ("{{ event.__class__ }}", "SecurityError: access to attribute '__class__'"),
        ("{{ event.exception.frames[0].__init__.__globals__ }}", "SecurityError"),
        ("{% for i in range(10**9) %}{{ i }}{% endfor %}", "SecurityError: range() of more than"),
        ("{{ 'x' * 10**9 }}", "SecurityError: a sequence of more than"),
        ("{{ (10 ** 10) ** (10 ** 10) }}", "SecurityError: a number of more than"),
        ("{{ event.tags.update({'team': 'hijacked'}) }}", "SecurityError"),
    ],
)
def test_the_sandbox_refuses(tmp_path: Path, source: str, reason: str) -> None:
    notice = alert()
    message = render_broken(tmp_path, "{% block body %}" + source + "{% endblock %}", notice)
    assert message.template_error is not None
    assert reason in message.template_error
    assert message.body.startswith("⚠ custom template")
    assert notice.event.tags == {"team": "core"}


def test_even_a_broken_built_in_sends_something(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_builtin(env: jinja2.Environment, locale: str) -> jinja2.Template:
        return env.from_string("{% block body %}{{ 1 / 0 }}{% endblock %}")

    # the fallback for a broken custom template fails too: the last resort still speaks
    monkeypatch.setattr(renderer_module, "compile_builtin", broken_builtin)
    write(tmp_path, "broken.j2", "{% block body %}{{ 1 / 0 }}{% endblock %}")
    broken = Renderer(tmp_path)
    message = broken.render(alert(HOSTILE), slack("broken"))
    assert message.template_error is not None
    assert message.body.startswith("⚠ custom template")
    assert "&lt;!channel&gt;" in message.body
    assert "<!" not in message.body


# -- truncation -----------------------------------------------------------------------------


def test_long_bodies_keep_their_first_and_last_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "long.j2",
        "{% block body %}{% for i in range(500) %}line {{ i }} 漢字\n{% endfor %}{% endblock %}",
    )
    renderer = Renderer(tmp_path)
    message = renderer.render(alert(), FakeSlack("https://x", ChannelOptions(template="long")))
    assert len(message.body) <= 3000
    lines = message.body.split("\n")
    assert (lines[0], lines[-1]) == ("line 0 漢字", "line 499 漢字")
    assert any(line.startswith("… truncated, ") for line in lines)
    message = renderer.render(alert(), FakeBytes("https://x", ChannelOptions(template="long")))
    assert len(message.body.encode()) <= 300
    assert message.body.split("\n")[-1] == "line 499 漢字"


# -- payload templates ----------------------------------------------------------------------

NASTY = 'say "hi"\\n\n</script>\t' + HOSTILE


def test_payload_template_makes_valid_json_of_hostile_text(tmp_path: Path) -> None:
    write(
        tmp_path,
        "slack.payload.j2",
        """\
        {
          "text": "{{ event.title }}",
          "body": "{{ body }}",
          "code": "{{ event.title|code }}",
          "count": {{ occurrences.count }},
          "tags": {{ event.tags|tojson }},
          "plain_title": {{ title|tojson }},
          "culprit": "{{ event.culprit ~ " " ~ event.title }}"
        }
        """,
    )
    message = Renderer(tmp_path).render(alert(NASTY), slack())
    assert message.template_error is None
    payload = message.payload
    assert payload is not None
    assert payload["count"] == 1
    assert payload["tags"] == {"team": "core"}
    assert payload["body"] == message.body  # already escaped: not escaped twice
    assert payload["plain_title"] == message.title
    for key in ("text", "code", "culprit"):
        assert "<!" not in payload[key]
        assert "&lt;!channel&gt;" in payload[key]
    assert 'say "hi"\\n' in payload["text"]


def test_payload_template_that_is_not_json_falls_back(tmp_path: Path) -> None:
    write(tmp_path, "slack.payload.j2", '{"text": {{ event.title }}}')
    message = Renderer(tmp_path).render(alert(), slack())
    assert message.payload is None
    assert message.template_error is not None
    assert message.template_error.startswith(
        'custom template "slack.payload.j2" failed: JSONDecodeError'
    )
    assert message.body.startswith("⚠ ")


def test_payload_must_be_an_object(tmp_path: Path) -> None:
    write(tmp_path, "slack.payload.j2", "[1, 2]")
    message = Renderer(tmp_path).render(alert(), slack())
    assert message.payload is None
    assert message.template_error is not None
    assert "JSON object" in message.template_error


def test_payload_goes_with_its_template(tmp_path: Path) -> None:
    write(tmp_path, "team.j2", "{% block body %}team{% endblock %}")
    write(
        tmp_path, "team.payload.j2", '{"text": "{{ body }}", "n": {{ document.occurrences.count }}}'
    )
    renderer = Renderer(tmp_path)
    assert renderer.render(alert(), slack("team")).payload == {"text": "team", "n": 1}
    assert renderer.render(alert(), slack()).payload is None


# -- filters --------------------------------------------------------------------------------


def test_filters(tmp_path: Path) -> None:
    write(
        tmp_path,
        "filters.j2",
        """\
        {% block body %}
        {{ 1795717201|datetime }}
        {{ 30|duration }} / {{ 300|duration }} / {{ 90|duration }}
        {{ 3900|duration }} / {{ 183600|duration }}
        {{ [0, 1, 2, 4, 9]|sparkline }} / {{ [0, 0]|sparkline }} / [{{ []|sparkline }}]
        {{ (now - 300)|ago }}
        `{{ "a`b"|code }}`
        [{{ none|datetime }}]
        {% endblock %}
        """,
    )
    body = Renderer(tmp_path).render(alert(), slack("filters")).body
    assert body.split("\n") == [
        "2026-11-26 18:20:01 UTC",
        "30 s / 5 min / 1 min 30 s",
        "1 h 5 min / 2 d 3 h",
        "▁▂▃▅█ / ▁▁ / []",
        "5 min ago",
        "`a`b`",  # mrkdwn has no escape for a backtick, and erralert substitutes none
        "[]",
    ]


class FakeMattermost(Channel):
    platform = "mattermost"
    dialect = "mattermost"
    max_length = 3000


def test_code_span_and_code_block_filters(tmp_path: Path) -> None:
    write(
        tmp_path,
        "code.j2",
        """\
        {% block body %}
        {{ "return a ** b" | code_span }} {{ "x = `y`" | code_span }} {{ "" | code_span }}
        {{ "def f():\\n    return `1`" | code_block("python") }}
        {{ channel.code_spans }} {{ channel.code_blocks }}
        {% endblock %}
        """,
    )
    body = (
        Renderer(tmp_path)
        .render(alert(), FakeMattermost("https://x", ChannelOptions(template="code")))
        .body
    )
    assert body.split("\n") == [
        # a fence longer than the text's backticks, padded where the text ends in one;
        # nothing at all for empty text
        "`return a ** b` `` x = `y` `` ",
        "```python",
        "def f():",
        "    return `1`",
        "```",
        "True True",
    ]
    # on a platform without code spans, the same filters write escaped text
    dingtalk = (
        Renderer(tmp_path)
        .render(alert(), FakeDingTalk("https://x", ChannelOptions(template="code")))
        .body
    )
    assert dingtalk.split("\n") == [
        "return a ** b x = &#96;y&#96; ",
        "def f():  ",
        "&#32;   return &#96;1&#96;",
        "False False",
    ]


def test_code_filters_are_json_escaped_in_a_payload_template(tmp_path: Path) -> None:
    write(tmp_path, "code.j2", "{% block body %}x{% endblock %}")
    write(
        tmp_path,
        "code.payload.j2",
        '{"span": "{{ "say \\"hi\\"" | code_span }}", "block": "{{ "a\\nb" | code_block }}"}',
    )
    message = Renderer(tmp_path).render(
        alert(), FakeMattermost("https://x", ChannelOptions(template="code"))
    )
    assert message.payload == {"span": '`say "hi"`', "block": "```\na\nb\n```"}


# -- speed ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_rendering_is_fast(renderer: Renderer) -> None:
    notice, channel = alert(HOSTILE), slack()
    renderer.render(notice, channel)
    seconds = timeit.timeit(lambda: renderer.render(notice, channel), number=200) / 200
    assert seconds < 0.01


def test_making_a_renderer_again_is_cheap(tmp_path: Path) -> None:
    write(tmp_path, "slack.j2", "{% block body %}x{% endblock %}")
    Renderer(tmp_path)
    seconds = timeit.timeit(lambda: Renderer(tmp_path), number=10) / 10
    assert seconds < 0.1

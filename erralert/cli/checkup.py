"""Is the configuration right, and does each chat accept our messages?

``check_configuration`` is ``erralert check``: every webhook URL parsed, every template
compiled *and rendered* (alert, digest and storm for each channel), the other options
validated — all problems collected, not only the first. Without a webhook it checks the
templates alone: each kind rendered on a sample channel of every platform the
``template_dir`` has a file for (of every platform when it has none). ``send_test`` is
``erralert send-test``: one test message to each channel, sent now, and the platform's
answer in plain words with what to do about it.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from erralert._capture.events import build_message_event
from erralert._core.config import split_webhooks
from erralert._core.errors import ConfigError
from erralert._core.links import LinkTemplate, parse_links
from erralert._core.notice import Notice, Occurrences
from erralert._delivery.http import ProxyRoutes, Route, client_problems, sync_sender
from erralert._render.renderer import Renderer
from erralert._routing import Router, build_router, plan_channels
from erralert._stores import open_store
from erralert._stores.base import Silenced
from erralert._stores.fleet import Fleet, RobotUse
from erralert.channels.base import Channel, Judgement, Verdict
from erralert.channels.registry import parse_webhook
from erralert.cli.preview import SAMPLE_URLS, preview
from erralert.cli.sample import KINDS

__all__ = [
    "ChannelReport",
    "CheckReport",
    "TemplateReport",
    "TestResult",
    "check_configuration",
    "proxy_routes",
    "renderer_for",
    "send_test",
    "send_test_notice",
]

_STORES = ("memory", "sqlite", "redis", "rediss")


@dataclass(frozen=True, slots=True)
class ChannelReport:
    """One configured channel as ``erralert check`` shows it."""

    name: str
    platform: str
    url: str  # masked
    pacing: str  # "20/60s" or "—" (local)
    template: str  # the template file that renders it
    mentions: tuple[str, ...]
    problems: tuple[str, ...] = ()
    # the way its requests go, as the app sends them: "via http://127.0.0.1:7890 (?proxy=)",
    # "direct (proxy=)"; "" when no proxy is configured anywhere
    route: str = ""


@dataclass(frozen=True, slots=True)
class TemplateReport:
    """A platform's template rendered for every kind on a sample channel (``erralert
    check`` without a webhook)."""

    platform: str
    template: str  # the file that renders it, "dingtalk.j2 (template_dir)" when yours
    kinds: tuple[str, ...]  # the kinds it rendered
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckReport:
    channels: tuple[ChannelReport, ...]
    problems: tuple[str, ...]  # everything wrong, channel problems included
    router: Router | None = None  # the routing rules and owners, when configured
    # occurrences silenced by rules, as a shared store has them (None: not readable here)
    silenced: dict[str, Silenced] | None = None
    links: tuple[LinkTemplate, ...] = ()  # the configured links (templates: no secrets)
    # no webhook configured: the templates, checked alone on sample channels
    templates: tuple[TemplateReport, ...] = ()
    # per channel name, who posts to its robot as a shared store knows it (None: not
    # readable here — the memory store, or the store cannot be reached)
    robots: dict[str, RobotUse] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_configuration(options: Mapping[str, Any]) -> CheckReport:
    """Validate Alerter ``options`` (webhooks, template_dir, locale, timezone, window,
    store...) without sending anything or opening a store."""
    problems: list[str] = []
    channels: list[Channel] = []
    webhooks = options.get("webhooks") or ()
    if isinstance(webhooks, str):
        webhooks = split_webhooks(webhooks)
    routes, owners = options.get("routes") or (), options.get("owners")
    router: Router | None = None
    # no webhook: nothing to check but the templates (an app would write alerts to stderr)
    templates_alone = not webhooks and not routes
    if routes or owners is not None:
        try:
            plan = plan_channels(list(webhooks), routes, parse_webhook)
            channels = plan.channels
            router = build_router(routes, owners, plan)
        except ConfigError as exc:
            problems.append(str(exc))
    else:
        for spec in webhooks:
            try:
                channels.append(spec if isinstance(spec, Channel) else parse_webhook(spec))
            except ConfigError as exc:
                problems.append(str(exc))
    problems += _option_problems(options)
    links: tuple[LinkTemplate, ...] = ()
    try:
        links = parse_links(options.get("links"))
    except ConfigError as exc:
        problems.append(str(exc))
        options = {**options, "links": None}  # the templates are still worth rendering
    renderer: Renderer | None
    try:
        renderer = renderer_for(options)
    except ConfigError as exc:
        problems.append(str(exc))
        renderer = None
    ways: ProxyRoutes | None = None  # the network routes (proxies), not the routing rules
    try:
        ways = proxy_routes(options)
    except ConfigError as exc:
        problems.append(str(exc))
    reports = [_channel_report(channel, renderer, ways) for channel in channels]
    problems += [f"{r.name}: {p}" for r in reports for p in r.problems]
    if ways is not None:  # each route's client made as the app makes it, nothing sent
        problems += client_problems(ways, channels)
    templates: list[TemplateReport] = []
    if templates_alone and renderer is not None:
        templates = [_template_report(platform, renderer) for platform in _platforms(renderer)]
        problems += [f"{t.platform}: {p}" for t in templates for p in t.problems]
    silenced = None
    if router is not None and any(rule.silences for rule in router.rules):
        silenced = _silenced_counts(options)
    return CheckReport(
        tuple(reports),
        tuple(problems),
        router,
        silenced,
        links,
        tuple(templates),
        _robot_use(options, channels) if channels else None,
    )


def _platforms(renderer: Renderer) -> list[str]:
    """The platforms whose template the template_dir replaces, else every platform."""
    every = sorted(SAMPLE_URLS)
    folder = renderer.template_dir
    if folder is None:
        return every
    own = [
        p
        for p in every
        if (folder / renderer.template_for(parse_webhook(SAMPLE_URLS[p]))).is_file()
    ]
    return own or every


def _template_report(platform: str, renderer: Renderer) -> TemplateReport:
    channel = parse_webhook(SAMPLE_URLS[platform])
    template = renderer.template_for(channel)
    if renderer.template_dir is not None and (renderer.template_dir / template).is_file():
        template += " (template_dir)"
    problems = []
    for kind in KINDS:  # a template that compiles can still fail on real data
        shown = preview(channel, kind, renderer=renderer)
        if shown.template_error:
            problems.append(f"{kind}: {shown.template_error}")
    return TemplateReport(platform, template, tuple(KINDS), tuple(problems))


def _silenced_counts(options: Mapping[str, Any]) -> dict[str, Silenced] | None:
    """What a shared store (SQLite, Redis) counted for the silence rules; None for the
    memory store (the counts live in the app's own process) or a store not reachable."""
    store_url = options.get("store")
    if not isinstance(store_url, str) or store_url.split(":", 1)[0].lower() == "memory":
        return None
    try:
        store = open_store(store_url, service=options.get("service"))
    except Exception:
        return None
    try:
        return store.silenced()
    except Exception:
        return None
    finally:
        store.close()


def _robot_use(
    options: Mapping[str, Any], channels: Sequence[Channel]
) -> dict[str, RobotUse] | None:
    """Who posts to each channel's robot, as a shared store (SQLite, Redis) knows it: every
    service and process of the fleet that uses the same store. None for the memory store or
    a store not reachable."""
    store_url = options.get("store")
    if not isinstance(store_url, str) or store_url.split(":", 1)[0].lower() == "memory":
        return None
    try:
        store = open_store(store_url, service=options.get("service"))
    except Exception:
        return None
    try:
        if not isinstance(store, Fleet):
            return None
        use = store.robots([c.key for c in channels])
        return {c.name: use[c.key] for c in channels if c.key in use}
    except Exception:
        return None
    finally:
        store.close()


def proxy_routes(
    options: Mapping[str, Any], transport: httpx.BaseTransport | None = None
) -> ProxyRoutes:
    """The routes Alerter ``options`` make (proxy, ca_bundle), as the app's are made."""
    return ProxyRoutes(
        proxy=options.get("proxy"), ca_bundle=options.get("ca_bundle"), transport=transport
    )


def renderer_for(options: Mapping[str, Any]) -> Renderer:
    """The renderer Alerter ``options`` make (template_dir, locale, timezone, links,
    tags_to_show)."""
    kwargs = {
        k: options[k] for k in ("locale", "timezone", "tags_to_show") if options.get(k) is not None
    }
    return Renderer(options.get("template_dir"), links=parse_links(options.get("links")), **kwargs)


def _option_problems(options: Mapping[str, Any]) -> list[str]:
    problems = []
    window = options.get("window")
    if window is not None and not (isinstance(window, int | float) and window > 0):
        problems.append(f"window must be a positive number of seconds, got {window!r}")
    store = options.get("store")
    if isinstance(store, str) and store.split(":", 1)[0].lower() not in _STORES:
        problems.append(
            f"store {store!r}: expected memory://, sqlite:///path/file.db or redis://host:6379/0"
        )
    spool = options.get("spool")
    if spool is not None and not os.path.isdir(os.path.dirname(os.path.abspath(spool))):
        problems.append(f"spool {str(spool)!r}: its directory does not exist")
    return problems


def _channel_report(
    channel: Channel, renderer: Renderer | None, routes: ProxyRoutes | None
) -> ChannelReport:
    problems: list[str] = []
    template = "—"
    if renderer is not None:
        if channel.options.template:
            try:
                renderer.check(channel.options.template)
            except ConfigError as exc:
                problems.append(str(exc))
        template = renderer.template_for(channel)
        if renderer.template_dir is not None and (renderer.template_dir / template).is_file():
            template += " (template_dir)"
        for kind in KINDS:  # a template that compiles can still fail on real data
            shown = preview(channel, kind, renderer=renderer)
            if shown.template_error and not problems:
                problems.append(f"{kind}: {shown.template_error}")
    pacing = ", ".join(str(rate) for rate in channel.pacing) or "—"
    return ChannelReport(
        route=_shown_route(channel, routes),
        name=channel.name,
        platform=channel.platform,
        url=channel.masked_url,
        pacing=pacing,
        template=template,
        mentions=channel.options.mention,
        problems=tuple(problems),
    )


def _shown_route(channel: Channel, routes: ProxyRoutes | None) -> str:
    if routes is None or channel.local:
        return ""
    try:
        route = routes.route(channel)
    except ConfigError:
        return "✗ (below)"  # client_problems says why
    return str(route) if route.source else ""


# -- send-test --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TestResult:
    """What one channel answered to the test message."""

    __test__ = False  # not a pytest test class, despite the name

    channel: str
    platform: str
    accepted: bool
    words: str  # "accepted", "rejected — sign not match: check the secret", ...
    status: int | None = None
    reasons: tuple[str, ...] = field(default=())
    route: str = ""  # "via http://127.0.0.1:7890 (?proxy=)"; "" when no proxy is configured


def send_test_notice(options: Mapping[str, Any]) -> Notice:
    """The test message: an info-level alert that says where it comes from."""
    service = options.get("service") or "your app"
    text = (
        f"erralert test message from {service} on {socket.gethostname()}: "
        "alerts of unhandled errors will arrive in this chat"
    )
    event = build_message_event(
        text,
        level="info",
        service=options.get("service"),
        environment=options.get("environment"),
        release=options.get("release"),
        culprit="erralert send-test",
    )
    occurrences = Occurrences(
        count=1,
        total=1,
        first_seen=event.timestamp,
        last_seen=event.timestamp,
        window=float(options.get("window") or 300.0),
        is_new=True,
    )
    # no mentions: a test must not page anyone
    return Notice("alert", event, occurrences, created_at=event.timestamp)


def send_test(
    channels: Iterable[Channel],
    options: Mapping[str, Any],
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 10.0,
) -> list[TestResult]:
    """Send the test message to each channel now (not through the outbox: its answer is
    wanted, not retried) and say what each platform answered. Each goes the way the app's
    messages go (``proxy``, ``?proxy=``, the environment's proxies, ``ca_bundle``: the
    same ``ProxyRoutes``, the same client factory)."""
    renderer = renderer_for(options)
    notice = send_test_notice(options)
    routes = proxy_routes(options, transport)
    results = []
    with sync_sender(routes, timeout) as send:
        for channel in channels:
            message = renderer.render(notice, channel)
            if channel.local:
                channel.deliver_locally(message)
                results.append(TestResult(channel.name, channel.platform, True, "written locally"))
                continue
            try:
                route = routes.route(channel)
            except ConfigError as exc:
                words = f"not sent — {exc}"
                results.append(TestResult(channel.name, channel.platform, False, words))
                continue
            shown = str(route) if route.source else ""
            request = channel.build_request(message)
            try:
                response = send(request, channel)
            except httpx.HTTPError as exc:
                words = f"not delivered — {_network_words(channel, exc, route)}"
                results.append(
                    TestResult(channel.name, channel.platform, False, words, route=shown)
                )
                continue
            judgement = channel.judge(response)
            results.append(
                TestResult(
                    channel.name,
                    channel.platform,
                    judgement.verdict is Verdict.OK,
                    _verdict_words(channel, judgement, response.status_code),
                    response.status_code,
                    route=shown,
                )
            )
    return results


def _network_words(channel: Channel, exc: httpx.HTTPError, route: Route) -> str:
    reason = channel.redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.ProxyError):
        return f"the proxy refused ({reason}): check its address, credentials and rules"
    if route.proxy is not None and isinstance(exc, httpx.ConnectError):
        return f"could not connect to the proxy ({reason}): check its address, and that it is up"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({reason}): check the host and port, and that it is up"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time: the platform or a proxy is slow or unreachable"
    return reason


# (pattern in the platform's answer, what to do about it): the fix a user needs, in the
# order the patterns are tried
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), hint)
    for pattern, hint in (
        (r"sign not match|19021|signature", "check the secret (?secret=) and this machine's clock"),
        (r"invalid timestamp|timestamp", "this machine's clock is off: sync it (NTP)"),
        (r"keywords? not in content|19024", "add ?keyword=<one of the robot's keywords>"),
        (r"whitelist|not allowed|19022|ip ", "add this machine's IP to the robot's allow-list"),
        (
            r"token|access_token|300001|93000|invalid webhook|no_service",
            "the token is wrong or the robot was removed: copy the URL again",
        ),
        (r"channel_is_archived|archived", "the channel was archived: pick another one"),
        (
            r"channel_not_found|not found|404",
            "the webhook URL is wrong or was deleted: copy it again",
        ),
        (
            r"action_prohibited|403|forbidden|unauthori[sz]ed|401",
            "the webhook is not allowed to post: check its permissions",
        ),
        (r"chat not found|chat_id", "check the chat id, and that the bot was added to the chat"),
        (
            r"too many|rate|exceed|frequency|429",
            "the platform's rate limit is spent: wait and try again",
        ),
    )
)


def _verdict_words(channel: Channel, judgement: Judgement, status: int) -> str:
    if judgement.verdict is Verdict.OK:
        return "accepted"
    reason = judgement.reason or f"HTTP {status}"
    hint = next((h for p, h in _HINTS if p.search(f"{reason} {status}")), None)
    kind = "rejected" if judgement.verdict is Verdict.FAIL else "not accepted now (retryable)"
    words = f"{kind} — {reason}"
    return f"{words}: {hint}" if hint else words

"""Routing rules and owners (erralert._routing): matching, order, ``continue``, silence, the
default route, the throttle keys that carry a decision, owners, and every configuration
mistake named by its rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from erralert._core.errors import ConfigError
from erralert._routing import (
    Facts,
    Router,
    build_router,
    compile_glob,
    facts_from_text,
    plan_channels,
)
from erralert.channels.registry import parse_webhook
from tests.shop.payments import PaymentDeclined, PaymentError

A = "webhook+http://127.0.0.1:9/a"
B = "webhook+http://127.0.0.1:9/b"
C = "webhook+http://127.0.0.1:9/c"
DEFAULT = "webhook+http://127.0.0.1:9/default"
DING = "dingtalk+http://127.0.0.1:9/robot/send?access_token=t"
SLACK = "slack+http://127.0.0.1:9/services/T/B/X"


def router(*routes: dict[str, Any], owners: Any = None, webhooks: Any = (DEFAULT,)) -> Router:
    plan = plan_channels(list(webhooks), list(routes), parse_webhook)
    return build_router(list(routes), owners, plan)


def goes(r: Router, facts: Facts) -> list[str]:
    """Where a decision sends: the webhooks' last path segment, or ["silenced"]."""
    decision = r.decide(facts)
    if decision.silenced:
        return ["silenced"]
    return [r.channels[i].url.rsplit("/", 1)[-1] for i in decision.channels]


def of(exc: BaseException | None = None, **fields: Any) -> Facts:
    """Facts as the alerter reads them from an event, with ``exc``'s class and bases."""
    from erralert._core.frames import type_names

    if exc is not None:
        cls = type(exc)
        fields["exception_class"] = cls
        fields["exception_types"] = tuple((m, q) for q, m in map(type_names, cls.__mro__))
    return Facts(**fields)


SHOP = "/srv/shop/app/payments/charge.py"

# (match, facts, does the rule match)
MATCHING: list[tuple[str, dict[str, Any], Facts, bool]] = [
    ("type by name", {"exception": "ValueError"}, of(ValueError()), True),
    ("type: another", {"exception": "ValueError"}, of(KeyError()), False),
    ("subclass by base name", {"exception": "LookupError"}, of(KeyError()), True),
    ("base does not match subclass rule", {"exception": "KeyError"}, of(LookupError()), False),
    (
        "subclass by dotted base",
        {"exception": "tests.shop.payments.PaymentError"},
        of(PaymentDeclined()),
        True,
    ),
    ("subclass by class object", {"exception": PaymentError}, of(PaymentDeclined()), True),
    ("builtins dotted", {"exception": "builtins.KeyError"}, of(KeyError()), True),
    ("any of a list", {"exception": ["OSError", "KeyError"]}, of(KeyError()), True),
    ("a message has no exception", {"exception": "Exception"}, of(None), False),
    ("path glob, relative, deep", {"path": "app/payments/**"}, of(path=SHOP), True),
    (
        "path glob: not a prefix of a segment",
        {"path": "app/payments/**"},
        of(path="/srv/shop/app/paymentsx/charge.py"),
        False,
    ),
    (
        "path glob: * stays in a segment",
        {"path": "app/payments/*.py"},
        of(path="/srv/shop/app/payments/sub/x.py"),
        False,
    ),
    ("path glob: **/name", {"path": "**/charge.py"}, of(path=SHOP), True),
    ("path glob: absolute", {"path": "/srv/shop/**"}, of(path="/other/srv/shop/x.py"), False),
    ("path glob: ?", {"path": "app/paym?nts/charge.py"}, of(path=SHOP), True),
    ("path glob: [class]", {"path": "app/[pq]ayments/charge.py"}, of(path=SHOP), True),
    (
        "path: windows separators",
        {"path": "app/payments/**"},
        of(path=r"C:\shop\app\payments\c.py"),
        True,
    ),
    ("path unknown", {"path": "**"}, of(), False),
    (
        "module: package and below",
        {"module": "app.payments"},
        of(module="app.payments.charge"),
        True,
    ),
    ("module: not a sibling", {"module": "app.payments"}, of(module="app.paymentsx"), False),
    ("module: * one name", {"module": "app.*.views"}, of(module="app.shop.views"), True),
    ("module: * not two", {"module": "app.*.views"}, of(module="app.shop.sub.views"), False),
    ("module: ** many", {"module": "app.**.views"}, of(module="app.shop.sub.views"), True),
    (
        "route glob on the template",
        {"route": "/api/payments/**"},
        of(route="/api/payments/{id}", url_path="/api/payments/7"),
        True,
    ),
    (
        "route glob: another route",
        {"route": "/api/payments/**"},
        of(route="/api/orders/{id}", url_path="/api/orders/7"),
        False,
    ),
    ("route glob on the path", {"route": "/api/payments/*"}, of(url_path="/api/payments/7"), True),
    ("route: * one segment", {"route": "/api/*"}, of(url_path="/api/payments/7"), False),
    ("method any of", {"method": ["POST", "put"]}, of(method="PUT"), True),
    ("method another", {"method": ["POST", "put"]}, of(method="GET"), False),
    ("environment", {"environment": "prod"}, of(environment="prod"), True),
    ("environment glob", {"environment": "staging*"}, of(environment="staging-eu"), True),
    ("environment unknown", {"environment": "prod"}, of(), False),
    ("level any of", {"level": ["error", "critical"]}, of(level="critical"), True),
    ("level another", {"level": ["error", "critical"]}, of(level="warning"), False),
    ("logger and below", {"logger": "app.jobs"}, of(logger="app.jobs.nightly"), True),
    ("logger another", {"logger": "app.jobs"}, of(logger="app.web"), False),
    (
        "tags subset",
        {"tags": {"tenant": ["acme", "globex"]}},
        of(tags={"tenant": "acme", "region": "eu"}),
        True,
    ),
    ("tags: other value", {"tags": {"tenant": "acme"}}, of(tags={"tenant": "initech"}), False),
    ("tags: missing", {"tags": {"tenant": "acme"}}, of(tags={}), False),
    ("tags: number", {"tags": {"shard": 3}}, of(tags={"shard": "3"}), True),
    (
        "every key must hold",
        {"exception": "ValueError", "environment": "prod"},
        of(ValueError(), environment="staging"),
        False,
    ),
    (
        "every key holds",
        {"exception": "ValueError", "environment": "prod"},
        of(ValueError(), environment="prod"),
        True,
    ),
    ("no match keys: everything", {}, of(KeyError()), True),
]


@pytest.mark.parametrize(
    ("match", "facts", "matches"),
    [pytest.param(m, f, ok, id=name) for name, m, f, ok in MATCHING],
)
def test_matching(match: dict[str, Any], facts: Facts, matches: bool) -> None:
    r = router({"match": match, "webhooks": [A]})
    assert goes(r, facts) == (["a"] if matches else ["default"])


KEY = of(KeyError(), environment="prod")

# (routes, facts, where it goes)
FLOW: list[tuple[str, list[dict[str, Any]], Facts, list[str]]] = [
    (
        "first match wins",
        [{"match": {"exception": "KeyError"}, "webhooks": [A]}, {"webhooks": [B]}],
        KEY,
        ["a"],
    ),
    (
        "later rule when the first does not match",
        [{"match": {"exception": "OSError"}, "webhooks": [A]}, {"webhooks": [B]}],
        KEY,
        ["b"],
    ),
    (
        "continue adds the next matching rule",
        [
            {"match": {"exception": "KeyError"}, "webhooks": [A], "continue": True},
            {"match": {"environment": "prod"}, "webhooks": [B]},
            {"webhooks": [C]},
        ],
        KEY,
        ["a", "b"],
    ),
    (
        "continue skips rules that do not match",
        [
            {"match": {"exception": "KeyError"}, "webhooks": [A], "continue": True},
            {"match": {"environment": "staging"}, "webhooks": [B]},
            {"match": {"level": "error"}, "webhooks": [C]},
        ],
        KEY,
        ["a", "c"],
    ),
    (
        "continue into nothing: only its own channels, not the default",
        [{"match": {"exception": "KeyError"}, "webhooks": [A], "continue": True}],
        KEY,
        ["a"],
    ),
    (
        "the same webhook twice is sent once",
        [
            {"match": {"exception": "KeyError"}, "webhooks": [A], "continue": True},
            {"match": {"environment": "prod"}, "webhooks": [A, B]},
        ],
        KEY,
        ["a", "b"],
    ),
    ("silence", [{"match": {"exception": "KeyError"}, "webhooks": []}], KEY, ["silenced"]),
    (
        "silence then continue to a channel",
        [
            {"match": {"exception": "KeyError"}, "webhooks": [], "continue": True},
            {"match": {"environment": "prod"}, "webhooks": [B]},
        ],
        KEY,
        ["b"],
    ),
    (
        "silence stops the rules after it",
        [{"match": {"exception": "KeyError"}, "webhooks": []}, {"webhooks": [B]}],
        KEY,
        ["silenced"],
    ),
    ("default route", [{"match": {"exception": "OSError"}, "webhooks": [A]}], KEY, ["default"]),
]


@pytest.mark.parametrize(
    ("routes", "facts", "expected"),
    [pytest.param(r, f, e, id=name) for name, r, f, e in FLOW],
)
def test_rule_order_continue_silence_and_default(
    routes: list[dict[str, Any]], facts: Facts, expected: list[str]
) -> None:
    assert goes(router(*routes), facts) == expected


def test_a_route_window_is_the_first_matching_rules() -> None:
    r = router(
        {"match": {"exception": "KeyError"}, "webhooks": [A], "continue": True},
        {"match": {"environment": "prod"}, "webhooks": [B], "window": 900},
        {"webhooks": [C], "window": 60},
    )
    assert r.decide(KEY).window == 900
    assert r.decide(of(OSError())).window == 60
    assert router({"match": {"exception": "OSError"}, "webhooks": [A]}).decide(KEY).window is None


def test_throttle_keys_carry_the_decision_and_come_back() -> None:
    routes = (
        {"name": "keys", "match": {"exception": "KeyError"}, "webhooks": [A], "continue": True},
        {"match": {"environment": "prod"}, "webhooks": [B]},
    )
    r = router(*routes)
    decision = r.decide(KEY)
    assert decision.suffix.startswith("|route:keys+r")
    fingerprint, again = r.for_key("f00d" + decision.suffix)
    assert fingerprint == "f00d"
    assert again.channels == decision.channels
    # another process, the same configuration: the same ids (a digest of the rule's text)
    assert router(*routes).decide(KEY).suffix == decision.suffix
    # the default route adds nothing; a key of rules no longer configured: the default
    assert r.decide(of(OSError(), environment="dev")).suffix == ""
    assert r.for_key("f00d") == ("f00d", r.default)
    assert r.for_key("f00d|route:gone") == ("f00d", r.default)


def test_a_route_rate_rides_on_its_urls_unless_they_have_one() -> None:
    r = router({"webhooks": [A, f"{B}?rate=3/10"], "rate": "20/60"})
    rates = {c.url.rsplit("/", 1)[-1]: str(c.options.rate) for c in r.channels}
    assert rates == {"default": "None", "a": "20/60s", "b": "3/10s"}


# -- owners ----------------------------------------------------------------------------------------
def test_owners_last_match_wins_and_mention_on_their_platform() -> None:
    r = router(
        {
            "match": {"path": "app/payments/**"},
            "webhooks": [DING],
            "mention": ["dingtalk:13700000000"],
        },
        webhooks=[SLACK],
        owners={
            "app/**": ["slack:U0APP0001"],
            "app/payments/**": ["dingtalk:13800000000", "slack:U0PAY0001"],
        },
    )
    payments = r.decide(of(path=SHOP))
    ding, slack = r.channels[1], r.channels[0]
    assert r.mentions(payments, SHOP) == (
        (ding.key, ("13700000000", "13800000000")),
    )  # the route's, then the owners'; slack's owner has no channel in this decision
    elsewhere = "/srv/shop/app/catalog.py"
    assert r.mentions(r.decide(of(path=elsewhere)), elsewhere) == ((slack.key, ("U0APP0001",)),)
    assert r.mentions(r.decide(of(path="/srv/lib/x.py")), "/srv/lib/x.py") == ()


def test_owners_file(tmp_path: Path) -> None:
    owners = tmp_path / "OWNERS"
    owners.write_text(
        "# culprit path glob      mentions\n"
        "app/**                   slack:U0APP0001\n"
        "\n"
        "app/payments/**          slack:U0PAY0001   # the payments team\n"
    )
    r = router(webhooks=[SLACK], owners=str(owners))
    slack = r.channels[0]
    assert r.mentions(r.decide(of(path=SHOP)), SHOP) == ((slack.key, ("U0PAY0001",)),)


# -- configuration mistakes, named by their rule ---------------------------------------------------
MISTAKES: list[tuple[str, list[dict[str, Any]], Any, str]] = [
    (
        "unknown matcher",
        [{"name": "pay", "match": {"exeption": "X"}, "webhooks": [A]}],
        None,
        "routes[0] \"pay\": unknown matcher 'exeption' (did you mean 'exception'?)",
    ),
    ("unknown rule key", [{"match": {}, "webhook": [A]}], None, "routes[0]: unknown key 'webhook'"),
    ("webhooks missing", [{"match": {}}], None, "routes[0]: 'webhooks' is missing"),
    (
        "bad glob",
        [{"webhooks": [A]}, {"match": {"path": "app/[payments/**"}, "webhooks": [B]}],
        None,
        "routes[1]: 'app/[payments/**': '[' without its ']'",
    ),
    ("bad glob ***", [{"match": {"route": "/api/***"}, "webhooks": [A]}], None, "'***' means"),
    ("empty glob", [{"match": {"module": ""}, "webhooks": [A]}], None, "routes[0]: module"),
    (
        "mention for a platform the route has no channel on",
        [{"name": "pay", "match": {}, "webhooks": [DING], "mention": ["slack:U0123ABCD"]}],
        None,
        "routes[0] \"pay\": mention 'slack:U0123ABCD' is for slack, but there is no slack channel",
    ),
    (
        "mention without a platform",
        [{"match": {}, "webhooks": [DING], "mention": ["13800000000"]}],
        None,
        "must be written 'platform:id'",
    ),
    (
        "mention on a silence rule",
        [{"match": {}, "webhooks": [], "mention": ["dingtalk:13800000000"]}],
        None,
        "no dingtalk channel here (channels: none (it silences))",
    ),
    ("bad level", [{"match": {"level": "loud"}, "webhooks": [A]}], None, "'loud' is not a level"),
    ("bad window", [{"match": {}, "webhooks": [A], "window": -5}], None, "window must be"),
    ("bad continue", [{"match": {}, "webhooks": [A], "continue": "yes"}], None, "continue must"),
    ("bad exception", [{"match": {"exception": "not a type"}, "webhooks": [A]}], None, "exception"),
    ("empty list", [{"match": {"exception": []}, "webhooks": [A]}], None, "empty list"),
    ("bad name", [{"name": "a b", "match": {}, "webhooks": [A]}], None, "name must be"),
    (
        "the same name twice",
        [{"name": "x", "webhooks": [A], "continue": True}, {"name": "x", "webhooks": [B]}],
        None,
        'routes[1] "x": routes[0] "x" has the same name',
    ),
    (
        "bad webhook in a rule",
        [{"name": "pay", "webhooks": ["nope://x"]}],
        None,
        'routes[0] "pay" webhooks:',
    ),
    ("bad owner glob", [], {"app/[x": ["dingtalk:13800000000"]}, "owners['app/[x']"),
    (
        "owner mention for a platform without a channel",
        [],
        {"app/**": ["feishu:ou_123"]},
        "owners['app/**']: mention 'feishu:ou_123' is for feishu, but there is no feishu channel",
    ),
    ("tags not a table", [{"match": {"tags": "x"}, "webhooks": [A]}], None, "tags: expected"),
]


@pytest.mark.parametrize(
    ("routes", "owners", "message"),
    [pytest.param(r, o, m, id=name) for name, r, o, m in MISTAKES],
)
def test_configuration_mistakes_name_the_rule(
    routes: list[dict[str, Any]], owners: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        router(*routes, owners=owners, webhooks=[DING])
    assert message in str(caught.value)


def test_routes_without_a_default_route_need_a_catch_all() -> None:
    with pytest.raises(ConfigError, match="errors no rule matches would go nowhere"):
        router({"match": {"exception": "KeyError"}, "webhooks": [A]}, webhooks=[])
    # a last rule without match is the default route
    r = router(
        {"match": {"exception": "KeyError"}, "webhooks": [A]}, {"webhooks": [B]}, webhooks=[]
    )
    assert goes(r, of(OSError())) == ["b"]


def test_a_mention_the_platform_cannot_make_fails_at_configuration() -> None:
    with pytest.raises(ConfigError, match=r"routes\[0\]: mention 'webhook:someone'"):
        router({"webhooks": [A], "mention": ["webhook:someone"]})


# -- globs and --explain ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("**", "a/b/c", True),
        ("a/**", "a", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/xb", False),
        ("**/b", "b", True),
        ("*.py", "x.py", True),
        ("*.py", "d/x.py", False),
        ("[!a]x", "bx", True),
        ("[!a]x", "ax", False),
    ],
)
def test_globs(pattern: str, text: str, matches: bool) -> None:
    assert bool(compile_glob(pattern).fullmatch(text)) is matches


def test_explain_text_reads_every_fact() -> None:
    facts = facts_from_text(
        "tests.shop.payments.PaymentDeclined at app/payments/charge.py:42 "
        "route=/pay method=post env=prod level=warning logger=app.pay module=app.payments.charge "
        "tag.tenant=acme"
    )
    assert facts.exception_class is PaymentDeclined  # importable: its bases are known
    assert ("tests.shop.payments", "PaymentError") in facts.exception_types
    assert (facts.path, facts.route, facts.method, facts.environment) == (
        "app/payments/charge.py",
        "/pay",
        "POST",
        "prod",
    )
    assert (facts.level, facts.logger, facts.module) == (
        "warning",
        "app.pay",
        "app.payments.charge",
    )
    assert facts.tags == {"tenant": "acme"}
    unknown = facts_from_text("shop.Missing at x.py")
    assert unknown.exception_types == (("shop", "Missing"),)
    with pytest.raises(ValueError, match="unknown key 'rout'"):
        facts_from_text("KeyError rout=/x")

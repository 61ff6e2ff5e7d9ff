"""Routing and ownership: which channels an error goes to, and whom its alert mentions.

    Alerter(
        webhooks=["slack://T000/B000/XXXX"],                  # the default route
        routes=[
            {"name": "payments",
             "match": {"exception": "app.payments.PaymentError", "environment": "prod"},
             "webhooks": ["dingtalk://TOKEN?secret=SEC"],
             "mention": ["dingtalk:13800000000"], "window": 600},
            {"match": {"environment": "staging"}, "webhooks": []},    # silenced, counted
        ],
        owners={"app/payments/**": ["dingtalk:13900000000", "slack:U0123ABCD"]},
    )

Rules are tried in order; the first that matches decides unless it says ``continue``, in
which case the next matching rules add their channels too (as Alertmanager's routes do).
An error no rule matches takes the default route (the top-level ``webhooks``). A rule with
``"webhooks": []`` silences what it matches: nothing is sent, the occurrences are counted
(``erralert check`` shows the counts).

Matchers: ``exception`` (a class name or dotted path; subclasses match), ``module`` and
``path`` (globs on the culprit frame's module and file), ``route`` (a glob on the route
template or the path), ``method``, ``environment``, ``level``, ``logger``, ``tags`` (a
dict that must be a subset of the event's tags). A list means any of; all the keys of one
``match`` must hold.

Globs: ``*`` and ``?`` stay inside one path segment (one module name), ``**`` spans any
number of them, ``[abc]`` is a class. A path glob not starting with ``/`` may match from
any directory down (``app/payments/**`` matches ``/srv/shop/app/payments/charge.py``); a
module or logger glob without wildcards means that package and everything under it.

Owners map path globs of the culprit frame to mentions written ``platform:id``; when
several globs match, the last one wins (as in a CODEOWNERS file). They mention people on
the alert of a new error only, on channels of their platform; digests never mention.

The decision is made per error (fingerprint) from its first occurrence the process sees
and kept: the fingerprint already holds the exception type and the in-app call stack, so
its culprit, module, path and route are the same for every repeat. Level, logger and the
tags the rules look at are part of the decision's key, as they may change between
occurrences. Throttling is per error *and* decision: an error that one set of rules sends
to two channels is counted once and appears once in each.
"""

from __future__ import annotations

from erralert._routing.configure import ChannelPlan, OwnersSpec, build_router, plan_channels
from erralert._routing.explain_text import facts_from_text
from erralert._routing.globs import compile_glob
from erralert._routing.matchers import Facts
from erralert._routing.router import Decision, Router, Rule

__all__ = [
    "ChannelPlan",
    "Decision",
    "Facts",
    "OwnersSpec",
    "Router",
    "Rule",
    "build_router",
    "compile_glob",
    "facts_from_text",
    "plan_channels",
]

"""The routing table and ``--explain`` of ``erralert check``, in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from erralert._routing.matchers import Facts
from erralert._routing.router import Decision, Router, Rule
from erralert._stores.base import Silenced

__all__ = ["explain", "owners_table", "routing_table"]


def _where(router: Router, channels: Sequence[int]) -> str:
    if not channels:
        return "silenced (counted, not sent)"
    return ", ".join(router.channels[i].name for i in channels)


def _match(rule: Rule) -> str:
    return "; ".join(f"{c.key}={c.wanted}" for c in rule.conditions) or "(everything)"


def routing_table(router: Router, silenced: Mapping[str, Silenced] | None) -> list[list[str]]:
    """Rows (a header first) of the rules in order, then the default route. ``silenced``:
    the store's counts per rule id (None: not known here, e.g. the memory store)."""
    rows = [["#", "rule", "match", "goes to", "mention", "window", "then"]]
    for rule in router.rules:
        goes = _where(router, rule.channels)
        if rule.silences:
            if silenced is None:
                goes += " — counts live in the app's process (memory store)"
            else:
                seen = silenced.get(rule.id)
                count = seen.count if seen is not None else 0
                goes += f" — {count} silenced so far"
        rows.append(
            [
                str(rule.index),
                rule.name or rule.id,
                _match(rule),
                goes,
                ", ".join(f"{p}:{e}" for p, e in rule.mentions) or "—",
                f"{rule.window:g} s" if rule.window is not None else "—",
                "continue" if rule.go_on else "stop",
            ]
        )
    rows.append(
        ["", "default", "(no rule matched)", _where(router, router.default.channels), "—", "—", ""]
    )
    return rows


def owners_table(router: Router) -> list[list[str]]:
    rows = [["culprit path", "mentions (new errors; the last matching line wins)"]]
    rows += [[o.pattern, ", ".join(f"{p}:{e}" for p, e in o.mentions)] for o in router.owners]
    return rows


def explain(router: Router, facts: Facts, *, window: float) -> str:
    """Which rule an error with ``facts`` matches and why, where it goes, whom it mentions."""
    lines = [f"error: {_describe(facts)}"]
    stopped = False
    for rule in router.rules:
        if stopped:
            lines.append(f"  {rule.label}: not tried (a rule above stopped the search)")
            continue
        checks = [c.check(facts) for c in rule.conditions]
        holds = all(c.holds for c in checks)
        verdict = "matches" if holds else "does not match"
        lines.append(f"  {rule.label}: {verdict}")
        if not checks:
            lines.append("      (no match keys: every error)")
        for c in checks:
            mark = "✓" if c.holds else "✗"
            lines.append(f"      {mark} {c.key}: {c.seen} — the rule wants {c.wanted}")
        if holds:
            if rule.go_on:
                lines.append("      → continue: the rules below may add their channels")
            else:
                stopped = True
    decision = router.decide(facts)
    lines.append(_outcome(router, decision, facts, window))
    return "\n".join(lines)


def _outcome(router: Router, decision: Decision, facts: Facts, window: float) -> str:
    if decision.silenced:
        names = ", ".join(rule.label for rule in decision.rules)
        return f"→ silenced by {names}: counted, not sent"
    route = (
        "the default route (no rule matched)"
        if not decision.rules
        else " + ".join(rule.label for rule in decision.rules)
    )
    length = decision.window if decision.window is not None else window
    out = [
        f"→ {route}: {_where(router, decision.channels)}",
        f"→ window {length:g} s: repeats are counted and summed up in one digest per window",
    ]
    owner = router.owners_of(facts.path)
    mentions = router.mentions(decision, facts.path)
    if mentions:
        by_key = {router.channels[i].key: router.channels[i] for i in decision.channels}
        for key, entries in mentions:
            who = ", ".join(entries)
            out.append(f"→ its first alert (a new error) mentions {who} on {by_key[key].name}")
        if owner is not None:
            out.append(f"  (owners: {owner.pattern})")
    else:
        out.append("→ its first alert mentions nobody beyond the channels' own ?mention=")
    return "\n".join(out)


def _describe(facts: Facts) -> str:
    parts = []
    if facts.exception_types:
        module, name = facts.exception_types[0]
        parts.append(f"{module}.{name}" if module not in ("", "builtins") else name)
        if facts.exception_class is None:
            parts.append(
                "(not importable here: its bases are unknown, subclass rules cannot match)"
            )
    else:
        parts.append("a message")
    for label, value in (
        ("at", facts.path),
        ("module", facts.module),
        ("route", facts.route),
        ("method", facts.method),
        ("env", facts.environment),
        ("level", facts.level),
        ("logger", facts.logger),
    ):
        if value:
            parts.append(f"{label} {value}")
    parts += [f"tag {k}={v}" for k, v in facts.tags.items()]
    return ", ".join(parts)

"""What recognising credentials by their format costs per captured error (issue 17).

Scrubbing runs once per *new* error, on the thread that captured it (a repeat inside its
window builds no event and scrubs nothing: the ``errors`` scenario measures that path).
Measured in-process, on the sample alert event (a Starlette route's declined payment: a
request with headers, tags, a 6-frame stack and its traceback text):

* the scrubber with its key rules only (``formats=()``), the baseline;
* the same with every credential format of ``erralert._capture.credentials`` (the default);
* that event with three credentials in it (the message, a header, a tag);
* the formats alone on a 10 000-character message (the longest a message is kept), with
  no credential in it and with one.

Source lines are cached per scrubber as in a running process (a new error at a known line
scrubs its source line once); every other string is scrubbed again on each round.
"""

from __future__ import annotations

import dataclasses
import random
import string
from collections.abc import Callable

from benchmarks.report import Row, Section
from benchmarks.run import ROUNDS, measure
from erralert._capture.credentials import CredentialPatterns
from erralert._capture.scrub import Scrubber
from erralert._core.event import Event
from erralert.cli.sample import sample_event

NOW = 1795717201.0


def _token(alphabet: str, size: int, rng: random.Random) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def with_credentials(event: Event) -> Event:
    """``event`` with an AWS key id in its message, a GitHub token in a header and a Slack
    webhook URL in a tag (built from random characters: no real credential)."""
    rng = random.Random(17)
    aws = "AKIA" + _token(string.ascii_uppercase + "234567", 16, rng)
    github = "ghp_" + _token(string.ascii_letters + string.digits, 36, rng)
    hook = "https://hooks.slack.com/services/T0/B0/" + _token(string.ascii_letters, 24, rng)
    exception = dataclasses.replace(
        event.exceptions[-1], message=f"upstream refused {aws}: card declined"
    )
    assert event.request is not None
    request = dataclasses.replace(
        event.request, headers={**event.request.headers, "x-upstream-token": github}
    )
    return dataclasses.replace(
        event,
        exceptions=(exception,),
        request=request,
        tags={**event.tags, "notify": hook},
        title=f"RuntimeError: upstream refused {aws}",
    )


def long_message(credential: str = "") -> str:
    words = "the payment provider answered with an unexpected status while retrying order"
    text = (words + " 1042; ") * 120
    return (text[:5000] + credential + text[5000:])[:10_000]


def section(*, quick: bool = False) -> Section:
    n = 20 if quick else 2000
    rounds = 3 if quick else ROUNDS
    event = sample_event(NOW)
    leaky = with_credentials(event)
    keys_only, full = Scrubber(formats=()), Scrubber()
    formats = CredentialPatterns()
    plain, holding = long_message(), long_message(" AKIA" + "Q" * 16 + " ")

    def run(scrub: Scrubber, subject: Event) -> Callable[[int], None]:
        def go(count: int) -> None:
            for _ in range(count):
                scrub.event(subject)

        return go

    def redact(text: str) -> Callable[[int], None]:
        def go(count: int) -> None:
            for _ in range(count):
                formats.redact(text)

        return go

    base, ours, leaking = measure(
        n, run(keys_only, event), run(full, event), run(full, leaky), rounds=rounds
    )
    long_plain, long_holding = measure(n, redact(plain), redact(holding), rounds=rounds)
    baseline = "scrub the sample alert event, key rules only"
    rows = (
        Row(baseline, base.median * 1e6, "µs", best=base.best * 1e6),
        Row(
            "scrub the sample alert event, with the credential formats",
            ours.median * 1e6,
            "µs",
            baseline,
            ours.best * 1e6,
            "the default: what a new error pays",
        ),
        Row(
            "scrub it holding 3 credentials (message, header, tag)",
            leaking.median * 1e6,
            "µs",
            baseline,
            leaking.best * 1e6,
        ),
        Row(
            "credential formats on a 10 000-character message, none in it",
            long_plain.median * 1e6,
            "µs",
            best=long_plain.best * 1e6,
        ),
        Row(
            "credential formats on a 10 000-character message holding one",
            long_holding.median * 1e6,
            "µs",
            best=long_holding.best * 1e6,
        ),
    )
    notes = (
        "Per new error, on the capturing thread; a repeat scrubs nothing (section 3).",
        f"{n} operations per round, {rounds} rounds, medians (best round in brackets).",
    )
    title = "3b. Scrubbing a new error: credentials recognised by their format"
    return Section(title, rows, notes=notes)

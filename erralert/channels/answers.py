"""Reading a platform's JSON answer: numbers and codes however the platform spells them,
and the verdict of a group robot's ``{"errcode": …, "errmsg": …}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from erralert.channels.base import Judgement, Verdict

__all__ = ["errcode_verdict", "json_code", "json_number", "json_object"]


def json_number(value: object) -> float | None:
    """A number from a platform's JSON answer, which may spell it as a string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def json_code(value: object) -> int | None:
    """An error code from a platform's JSON answer (``0``, ``"45009"``, ``-1``)."""
    number = json_number(value)
    return None if number is None or not number.is_integer() else int(number)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The platform's JSON answer when it is an object; None for anything else (a gateway's
    HTML page, an empty body)."""
    try:
        answer = json.loads(response.content)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def errcode_verdict(answer: Mapping[str, Any], *, retry: Mapping[int, float | None]) -> Judgement:
    """The verdict of a group robot's ``{"errcode": …, "errmsg": …}`` answer (DingTalk,
    WeCom): 0 is success; a code in ``retry`` is retried (after the wait it maps to, or the
    outbox's backoff for None); any other code refuses the message for good, in the
    platform's own words. The HTTP status was 200: these platforms answer 200 either way."""
    code = json_code(answer.get("errcode"))
    if code is None:
        return Judgement(Verdict.RETRY, f"no errcode in the answer: {answer!r:.300}")
    if code == 0:
        return Judgement.ok()
    reason = f"errcode {code}: {str(answer.get('errmsg', ''))[:300]}"
    if code in retry:
        return Judgement(Verdict.RETRY, reason, retry[code])
    return Judgement(Verdict.FAIL, reason)

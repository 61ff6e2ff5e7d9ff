"""The words erralert's own code adds to a message, outside the templates: the time and
event id of a Feishu card's note, the Discord footer, the Google Chat subtitle, the line
that says how much a cut dropped. Each comes in every language of
``erralert._render.locale.LOCALES`` (English for any other), and a time is written the one way
``|datetime`` writes it.

>>> from zoneinfo import ZoneInfo
>>> format_time(1795717201.0, ZoneInfo("Asia/Shanghai"))
'2026-11-27 02:20:01 UTC+8'
>>> event_label("5f0c2a9e0b7d41c6", "zh")
'事件 5f0c2a9e0b7d'
"""

# ruff: noqa: RUF001, RUF002  (full-width punctuation is right in Chinese text)

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = [
    "TRUNCATION_LINE",
    "cut_note",
    "event_label",
    "format_day",
    "format_time",
    "kind_label",
    "links_label",
    "truncation_marker",
]

ELLIPSIS = "…"


def format_time(seconds: float, zone: tzinfo = UTC) -> str:
    """UNIX seconds as ``2026-11-26 18:20:01 UTC``, or in ``zone`` with its offset at that
    moment: ``2026-11-27 02:20:01 UTC+8``. Raises ``OverflowError``, ``OSError`` or
    ``ValueError`` for a time ``datetime`` cannot hold."""
    moment = datetime.fromtimestamp(seconds, zone)
    return moment.strftime("%Y-%m-%d %H:%M:%S ") + _offset_label(moment.utcoffset())


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_day(seconds: float, now: float, zone: tzinfo = UTC, locale: str = "en") -> str:
    """UNIX seconds as a short day, the way a phone's chat reads well: the time on the day
    of ``now`` (``10:02 UTC``), the day in the year of ``now`` (``3 Dec``), else the day
    and year (``3 Dec 2025``); in Chinese ``10:02 UTC``, ``12月3日``, ``2025年12月3日``.
    Raises like ``format_time`` for a time ``datetime`` cannot hold."""
    moment = datetime.fromtimestamp(seconds, zone)
    today = datetime.fromtimestamp(now, zone)
    if moment.date() == today.date():
        return moment.strftime("%H:%M ") + _offset_label(moment.utcoffset())
    if locale == "zh":
        day = f"{moment.month}月{moment.day}日"
        return day if moment.year == today.year else f"{moment.year}年{day}"
    day = f"{moment.day} {_MONTHS[moment.month - 1]}"
    return day if moment.year == today.year else f"{day} {moment.year}"


def _offset_label(offset: timedelta | None) -> str:
    """``UTC``, ``UTC+8``, ``UTC-4``, ``UTC+5:30``: an offset a reader can add without
    knowing what ``CST`` stands for (China, Cuba or Central Standard Time)."""
    seconds = round(offset.total_seconds()) if offset is not None else 0
    if seconds == 0:
        return "UTC"
    sign = "+" if seconds > 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    label = f"UTC{sign}{hours}"
    if minutes or seconds:
        label += f":{minutes:02d}"
    if seconds:  # local mean time of the 19th century
        label += f":{seconds:02d}"
    return label


_EVENT = {"en": "event {}", "zh": "事件 {}"}


def event_label(event_id: str, locale: str = "en") -> str:
    """``event 5f0c2a9e0b7d`` (``事件 5f0c2a9e0b7d``): the start of the id to look for in
    the logs (``capture_exception`` returns it); empty without an id."""
    return _EVENT.get(locale, _EVENT["en"]).format(event_id[:12]) if event_id else ""


_LINKS = {"en": "Links", "zh": "链接"}


def links_label(locale: str = "en") -> str:
    """``Links`` (``链接``): the heading of the configured links where a platform shows them
    under one (a Discord field)."""
    return _LINKS.get(locale, _LINKS["en"])


# per locale: a digest, a storm, an alert of each level, an alert of any other level
_KINDS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "en": ("Repeated error", "Error storm", {}, "{} alert"),
    "zh": (
        "重复错误",
        "错误风暴",
        {
            "error": "错误告警",
            "critical": "严重告警",
            "fatal": "致命告警",
            "warning": "警告",
            "info": "通知",
            "debug": "调试",
        },
        "{} 告警",
    ),
}


def kind_label(kind: str, level: str, locale: str = "en") -> str:
    """What a message is, in two or three words: ``Repeated error`` (a digest), ``Error
    storm``, ``Error alert``, ``Warning alert`` (``重复错误``, ``错误风暴``, ``错误告警``,
    ``警告``)."""
    digest, storm, levels, other = _KINDS.get(locale, _KINDS["en"])
    if kind == "digest":
        return digest
    if kind == "storm":
        return storm
    word = level.lower() or "error"
    return levels.get(word) or other.format(level.capitalize() or "Error")


# per locale: the line for one dropped line, and for more
_MARKERS = {
    "en": (
        f"{ELLIPSIS} truncated, {{}} more line {ELLIPSIS}",
        f"{ELLIPSIS} truncated, {{}} more lines {ELLIPSIS}",
    ),
    "zh": (f"{ELLIPSIS} 已截断，省略 {{}} 行 {ELLIPSIS}",) * 2,
}


def truncation_marker(dropped: int, locale: str = "en") -> str:
    """The line a cut puts where it dropped lines: ``… truncated, 3 more lines …``
    (``… 已截断，省略 3 行 …``)."""
    one, more = _MARKERS.get(locale, _MARKERS["en"])
    return (one if dropped == 1 else more).format(dropped)


TRUNCATION_LINE = re.compile(
    "|".join(
        re.escape(marker).replace(r"\{\}", r"\d+")
        for marker in dict.fromkeys(m for pair in _MARKERS.values() for m in pair)
    )
)
"""A ``truncation_marker`` line in any language (match it against the line alone)."""

_CUT = {"en": "…(truncated)", "zh": "…（已截断）"}


def cut_note(locale: str = "en") -> str:
    """``…(truncated)`` (``…（已截断）``): what ends a text cut short without a line plan."""
    return _CUT.get(locale, _CUT["en"])

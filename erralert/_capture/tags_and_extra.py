"""An event's tags and extra as plain data: bounded, cleaned, JSON-ready, whatever the
application passed."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from erralert._capture.safe_text import MAX_MESSAGE, cut, safe_repr, safe_str
from erralert._core.event import clean_text

__all__ = ["clean_extra", "clean_tags"]


_MAX_TAGS = 100
_MAX_TAG_KEY = 200
_MAX_TAG_VALUE = 1000
_MAX_EXTRA_DEPTH = 8
_MAX_EXTRA_ITEMS = 1000  # per container
_MAX_EXTRA_VALUES = 5000  # in all of extra: a dict of 1000 lists of 1000 is still one alert
_MAX_EXTRA_REPR = 1000
# ~1200 digits: nobody reads more, and past 4300 digits CPython refuses to print an int
_MAX_INT_BITS = 4000


def clean_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """The event's tags: at most ``_MAX_TAGS`` of them, keys and values as bounded text."""
    try:
        if not tags:
            return {}
        items = list(itertools.islice(tags.items(), _MAX_TAGS))
    except Exception:  # a mapping whose __len__ or items() raises
        return {}
    # keys of any type (1, None, (2, 3)) become their text: a tag is a line of text
    return {safe_str(k, _MAX_TAG_KEY): safe_str(v, _MAX_TAG_VALUE) for k, v in items}


class _Walk:
    """One walk over ``extra``: the containers open on the way (cycles) and how many more
    values may be kept in all."""

    __slots__ = ("active", "left")

    def __init__(self) -> None:
        self.active: set[int] = set()
        self.left = _MAX_EXTRA_VALUES


def _jsonable(value: Any, depth: int, walk: _Walk) -> Any:
    """``value`` as plain JSON data (exact types: subclasses may override anything), or its
    bounded repr when it is not JSON data, too deep or cyclic."""
    walk.left -= 1
    if value is None or isinstance(value, bool):
        return value
    try:
        if isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                return f"<int of {value.bit_length()} bits>"
            return int.__int__(value)
        if isinstance(value, float):
            number = float.__float__(value)
            return number if math.isfinite(number) else repr(number)
        if isinstance(value, str):
            return clean_text(cut(str.__str__(value), MAX_MESSAGE))
        if isinstance(value, Mapping | list | tuple) and depth < _MAX_EXTRA_DEPTH:
            return _container(value, depth, walk)
    except Exception:  # a container whose items() or iteration raises
        pass
    return safe_repr(value, _MAX_EXTRA_REPR)


def _key(key: object) -> str:
    """A JSON object key: extra's keys may be of any type (1, None, (2, 3)), of any size."""
    if type(key) is str:
        return clean_text(cut(key, _MAX_TAG_KEY))
    return safe_str(key, _MAX_TAG_KEY)


def _container(
    value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], depth: int, walk: _Walk
) -> Any:
    if id(value) in walk.active:
        return "[Circular]"
    if walk.left <= 0:
        return "[...]"  # the values kept so far are enough to read
    walk.active.add(id(value))
    try:
        room = max(min(_MAX_EXTRA_ITEMS, walk.left), 0)
        if isinstance(value, Mapping):
            return {
                _key(k): _jsonable(v, depth + 1, walk)
                for k, v in itertools.islice(value.items(), room)
            }
        return [_jsonable(v, depth + 1, walk) for v in itertools.islice(value, room)]
    finally:
        walk.active.discard(id(value))


def clean_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event's extra as bounded JSON data (see ``_jsonable``)."""
    try:
        if not extra:
            return {}
    except Exception:  # a mapping whose __len__ raises
        return {}
    result = _jsonable(extra, 0, _Walk())
    return result if isinstance(result, dict) else {"extra": result}

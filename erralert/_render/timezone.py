"""The time zone ``|datetime`` and ``|day`` show times in, from what a user wrote."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, tzinfo

from erralert._core.errors import ConfigError

__all__ = ["load_timezone", "zone_name"]


def load_timezone(value: str | tzinfo) -> tzinfo:
    """The time zone ``|datetime`` shows times in: an IANA name (``"Asia/Shanghai"``) or a
    ``tzinfo``. ``"UTC"`` needs no time zone database; an unknown name is a ``ConfigError``
    that says when the database itself is missing (``pip install tzdata``)."""
    if isinstance(value, tzinfo):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"timezone must be a time zone name, got {type(value).__name__}")
    name = value.strip()
    if name.upper() == "UTC":
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: absolute or ".." keys, or a file that is no zone; OSError: a folder
        pass
    known = zoneinfo.available_timezones()
    if not known:
        raise ConfigError(
            f"timezone {value!r}: this machine has no time zone database "
            "(install the tzdata package: pip install tzdata), or use 'UTC'"
        )
    hint = next((zone for zone in sorted(known) if zone.casefold() == name.casefold()), None)
    advice = f"did you mean {hint!r}?" if hint else "use an IANA name such as 'Asia/Shanghai'"
    raise ConfigError(f"timezone {value!r} is not a known time zone: {advice}")


def zone_name(zone: tzinfo) -> str:
    """``Asia/Shanghai`` for a ZoneInfo, ``UTC`` for UTC, else the zone's own name."""
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else str(zone)

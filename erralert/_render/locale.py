"""The languages erralert's messages come in, and what users may write for them."""

from __future__ import annotations

from erralert._core.errors import ConfigError

__all__ = ["LOCALES", "normalise_locale"]

LOCALES: tuple[str, ...] = ("en", "zh")
"""The languages erralert's templates come in; ``templates/<locale>/`` for all but English."""

# what people write for Simplified Chinese, folded to lower case with "_" as "-"
_LOCALE_ALIASES = {"en": "en", "zh": "zh", "zh-cn": "zh", "zh-hans": "zh"}


def normalise_locale(value: str) -> str:
    """One of ``LOCALES`` for what a user wrote: ``"zh-CN"``, ``"zh_CN"`` and ``"zh-Hans"``
    are ``"zh"`` (case does not matter); anything else is a ``ConfigError``.

    >>> normalise_locale("zh_CN")
    'zh'
    """
    if isinstance(value, str):
        found = _LOCALE_ALIASES.get(value.strip().casefold().replace("_", "-"))
        if found is not None:
            return found
    raise ConfigError(
        f"locale {value!r} is not supported: use one of {', '.join(map(repr, LOCALES))} "
        "(zh-CN, zh_CN and zh-Hans mean 'zh')"
    )

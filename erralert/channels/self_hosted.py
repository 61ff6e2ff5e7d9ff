"""The webhook URL of a self-hosted chat server (Mattermost, Rocket.Chat) from its short form."""

from __future__ import annotations

import re

__all__ = ["self_hosted_hook"]

# host[:port] or [ipv6][:port], and the path segments of a self-hosted server's prefix
_HOST_PORT = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def self_hosted_hook(
    host: str, path: str, *, tokens: int, token: re.Pattern[str], form: str, tokens_are: str
) -> str:
    """``https://host[/prefix]/hooks/<tokens>`` from the short form of a self-hosted
    server's webhook (``mattermost://host[:port][/prefix]/key``): the last ``tokens`` path
    segments are the hook's credentials, anything before them the server's path prefix (a
    pasted ``/hooks/`` is accepted). Raises ``ValueError`` naming ``form``; never quotes a
    token."""
    segments = [s for s in path.split("/") if s]
    if not host or len(segments) < tokens:
        raise ValueError(f"the short form is {form}")
    match = _HOST_PORT.fullmatch(host)
    # the regex takes up to five digits; 65535 is the largest port there is
    if not match or int(match["port"] or 0) > 65535:
        raise ValueError(f"the short form {form} has no valid host[:port]: {host!r}")
    prefix, keys = segments[:-tokens], segments[-tokens:]
    if prefix and prefix[-1] == "hooks":  # as pasted from the webhook URL
        prefix.pop()
    if not all(token.fullmatch(k) for k in keys) or not all(
        _PATH_SEGMENT.fullmatch(s) for s in prefix
    ):
        raise ValueError(f"{tokens_are} (in {form})")
    return f"https://{host}/{'/'.join([*prefix, 'hooks', *keys])}"

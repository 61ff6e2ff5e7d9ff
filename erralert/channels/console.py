"""``console://`` (standard error) and ``console://stdout``: messages written to the terminal.

The fallback when no webhook is configured, and handy while developing. The configured
links follow the message, a ``name: url`` line each, which terminals make clickable.
"""

from __future__ import annotations

import sys
from typing import TextIO
from urllib.parse import urlsplit

from erralert._core.errors import ConfigError
from erralert.channels.base import Channel, ChannelOptions, Message
from erralert.channels.dialects import plain
from erralert.channels.masking import mask_url_secrets

__all__ = ["CHANNELS", "DIALECT", "ConsoleChannel"]

_STREAMS = ("stderr", "stdout")
_RULE_WIDTH = 72


class ConsoleChannel(Channel):
    platform = "console"
    sample_url = "console://stdout"
    dialect = "plain"
    max_length = 100000
    local = True
    short_form = "console://[stderr|stdout]"

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        return f"console://{host}{path}"  # __init__ checks the stream name

    def __init__(self, url: str = "console://", options: ChannelOptions | None = None) -> None:
        parts = urlsplit(url)
        target = parts.netloc or "stderr"
        if target not in _STREAMS or parts.path.strip("/") or parts.query:
            raise ConfigError(
                f"webhook URL {mask_url_secrets(url)}: the console takes console://, "
                "console://stderr or console://stdout"
            )
        super().__init__(f"console://{target}", options)
        self.stream_name = target

    @property
    def masked_url(self) -> str:
        return self.url  # no credentials in it

    def deliver_locally(self, message: Message) -> None:
        # looked up at each call: tests and tools replace sys.stderr after import
        stream: TextIO = getattr(sys, self.stream_name)
        rule = "-" * min(max(len(message.title), 3), _RULE_WIDTH)
        links = "".join(f"{link.name}: {link.url}\n" for link in message.links)
        if links:
            links = "\n" + links
        stream.write(f"{message.title}\n{rule}\n{message.body.rstrip()}\n{links}\n")
        stream.flush()


# the registry's entry: this module's channels and their dialect
CHANNELS: tuple[type[Channel], ...] = (ConsoleChannel,)
DIALECT = plain.DIALECT  # nothing is markup

"""Characters no chat message should carry, whatever its markup: terminal controls and
the bidirectional overrides."""

from __future__ import annotations

__all__ = ["strip_controls"]

# C0 controls but \t and \n, DEL, and C1 controls: a terminal acts on ESC and CSI (colour
# changes, cursor moves that overwrite earlier lines), and chat APIs reject or mangle NUL.
# The bidirectional overrides and isolates go too: they make a file name or a URL display
# in another order than it reads ("Trojan Source").
_CONTROLS: dict[int, None] = dict.fromkeys(
    [
        *range(0x09),  # NUL to BS
        0x0B,
        0x0C,
        *range(0x0E, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)


def strip_controls(text: str) -> str:
    """``text`` without control characters and bidirectional overrides; a CR ends a line."""
    if "\r" in text:
        # a lone CR would let text overwrite the line before it on a terminal; CRLF is a
        # line break written the Windows way
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_CONTROLS)

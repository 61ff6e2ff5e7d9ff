"""The local chat inbox: a stand-in for every chat platform erralert posts to, with a page
that shows each message the way the platform would (``erralert inbox``).

>>> from erralert.inbox import start                          # doctest: +SKIP
>>> with start() as inbox:
...     print(inbox.url)   # point erralert at f"slack+{inbox.url}/services/T/B/X"

How paths reach platforms is in ``erralert.inbox.receive``. The inbox imports nothing of
erralert's sending side (only its safe logger): it is there to check that code, so each
platform's imitation is written again from the platform's documentation, one module per
platform in ``erralert.inbox.platforms``.
"""

from __future__ import annotations

from erralert.inbox.app import create_app, require_token_for
from erralert.inbox.receive import NATIVE_PATHS
from erralert.inbox.server import RunningInbox, default_db_path, serve, start
from erralert.inbox.store import InboxMessage, InboxStore

__all__ = [
    "NATIVE_PATHS",
    "InboxMessage",
    "InboxStore",
    "RunningInbox",
    "create_app",
    "default_db_path",
    "require_token_for",
    "serve",
    "start",
]

"""What a channel would receive, without sending it: the title, the body and the exact
request, rendered by the same renderer and channel code as a real alert.

``erralert preview`` prints it; ``erralert check`` renders every channel's templates with it
so that a template that fails at run time (not only one that does not compile) is found
before deployment.
"""

from __future__ import annotations

import json
import os
import runpy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erralert._alerter.alerter import Alerter
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.notice import Kind
from erralert._render.renderer import Renderer
from erralert.channels.base import Channel, Message
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.cli.sample import sample_event, sample_notice

__all__ = ["SAMPLE_URLS", "Preview", "event_from_script", "preview"]

# a stand-in webhook per platform (fake credentials), for a preview without one: each
# platform module declares its own (``sample_url``)
SAMPLE_URLS: Mapping[str, str] = {
    name: channel.sample_url for name, channel in sorted(PLATFORMS.items()) if channel.sample_url
}


@dataclass(frozen=True, slots=True)
class Preview:
    """One rendered message and the request that would carry it."""

    channel: Channel
    kind: Kind
    message: Message
    method: str | None  # None for a local channel (console)
    url: str | None  # credentials masked
    headers: dict[str, str]
    payload: Any  # the request's JSON body

    @property
    def template_error(self) -> str | None:
        """Why the channel's template failed (the message fell back to the built-in one)."""
        return self.message.template_error

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.channel.platform,
            "kind": self.kind,
            "title": self.message.title,
            "body": self.message.body,
            "template_error": self.template_error,
            "request": None
            if self.method is None
            else {
                "method": self.method,
                "url": self.url,
                "headers": self.headers,
                "json": self.payload,
            },
        }

    def to_text(self) -> str:
        """Title, body and payload, each under a rule, for a terminal."""
        parts = [
            f"── {self.channel.platform} · {self.kind} ──",
            f"title: {self.message.title}",
            "── body ──",
            self.message.body,
        ]
        if self.method is not None:
            parts += [
                f"── request: {self.method} {self.url} ──",
                json.dumps(self.payload, ensure_ascii=False, indent=2),
            ]
        return "\n".join(parts) + "\n"


def preview(
    channel: Channel | str,
    kind: Kind = "alert",
    *,
    event: Event | None = None,
    renderer: Renderer | None = None,
    now: float | None = None,
) -> Preview:
    """Render ``kind`` for ``channel`` (a channel, a webhook URL or a platform name) from
    ``event`` (default: the sample payment error) and build its request."""
    if isinstance(channel, str):
        channel = parse_webhook(SAMPLE_URLS.get(channel, channel))
    moment = time.time() if now is None else now
    # the sample happened a little while ago, so that "first seen" reads naturally
    event = event or sample_event(moment - (_WINDOW_BEFORE.get(kind, 0.0)))
    notice = sample_notice(kind, event)
    message = (renderer or Renderer()).render(notice, channel)
    if channel.local:
        return Preview(channel, kind, message, None, None, {}, None)
    request = channel.build_request(message, now=moment)
    try:
        payload: Any = json.loads(request.content)
    except ValueError:
        payload = request.content.decode("utf-8", "replace")
    url = channel.redact(str(request.url))
    headers = {k: channel.redact(v) for k, v in request.headers.items()}
    return Preview(channel, kind, message, request.method, url, headers, payload)


# a digest is sent when the window ends, a storm summary a little after the storm
_WINDOW_BEFORE: dict[str, float] = {"digest": 300.0, "storm": 48.0}


def event_from_script(path: str | os.PathLike[str], **options: Any) -> Event:
    """Run the Python file ``path`` (as ``__main__``) and capture what it raises through
    erralert's own capture, scrubbing and grouping (``options`` are Alerter options such as
    ``service``). Raises ``ConfigError`` when the file cannot run or raises nothing."""
    from erralert.testing import capture_alerts  # the recorder: nothing is sent

    script = Path(path)
    if not script.is_file():
        raise ConfigError(f"--exception-from: {script} is not a file")
    with Alerter(webhooks=["console://"], **options) as alerter, capture_alerts(alerter) as got:
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            raise ConfigError(f"{script} exited ({exc.code!r}) without raising") from None
        except BaseException as exc:
            alerter.capture_exception(exc)
        else:
            raise ConfigError(f"{script} ran to the end without raising an exception")
    if not got:
        raise ConfigError(f"the exception {script} raised was ignored (see ignore= / before_send)")
    return got[0].notice.event

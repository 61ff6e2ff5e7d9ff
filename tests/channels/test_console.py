"""The console channel writes messages to standard error (or standard output)."""

from __future__ import annotations

import io
import sys

import pytest

from erralert._core.errors import ConfigError
from erralert.channels.base import ChannelOptions, Message
from erralert.channels.console import ConsoleChannel

MESSAGE = Message(kind="alert", title="KeyError: 'order 1'", body="Traceback …\nKeyError\n")


def test_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleChannel().deliver_locally(MESSAGE)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("KeyError: 'order 1'\n-------------------\nTraceback …\nKeyError\n\n")


def test_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleChannel("console://stdout").deliver_locally(MESSAGE)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("KeyError: 'order 1'\n---")


def test_stream_is_looked_up_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    channel = ConsoleChannel("console://stderr")
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    channel.deliver_locally(MESSAGE)
    assert replaced.getvalue().startswith("KeyError: 'order 1'\n")


def test_rule_is_capped() -> None:
    stream = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stderr", stream)
        ConsoleChannel().deliver_locally(Message(kind="alert", title="x" * 500, body="b"))
    assert stream.getvalue().split("\n")[1] == "-" * 72


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("console://", "console://stderr"),
        ("console://stderr", "console://stderr"),
        ("console://stdout", "console://stdout"),
    ],
)
def test_urls(url: str, normalised: str) -> None:
    channel = ConsoleChannel(url, ChannelOptions(name="dev"))
    assert channel.url == normalised
    assert channel.masked_url == normalised
    assert repr(channel) == "<ConsoleChannel dev>"


@pytest.mark.parametrize("url", ["console://printer", "console://stdout/x", "console://stderr?x=1"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="console://stdout"):
        ConsoleChannel(url)

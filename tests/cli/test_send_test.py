"""`erralert send-test`: one test message per channel, sent to a real local receiver, and
each platform's verdict in plain words."""

from __future__ import annotations

import socket

import pytest

from erralert.cli import main
from tests.receiver import Answer, Receiver


def send_test(capsys: pytest.CaptureFixture[str], *urls: str) -> tuple[int, list[str]]:
    argv = ["send-test", "--timeout", "5"]
    for url in urls:
        argv += ["--webhook", url]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, (out + err).splitlines()


def test_every_channel_gets_one_test_message_and_its_verdict(
    capsys: pytest.CaptureFixture[str], receiver: Receiver
) -> None:
    def answer(got: object) -> Answer:
        path = getattr(got, "path", "")
        if path.startswith("/robot/"):
            return Answer(body={"errcode": 310000, "errmsg": "sign not match, more: [...]"})
        if path.startswith("/open-apis/"):
            return Answer(body={"code": 19024, "msg": "Key Words Not Found"})
        return Answer(body="ok")

    receiver.answer_for = answer
    code, lines = send_test(
        capsys,
        f"slack+{receiver.base}/services/T/B/tok3n",
        f"dingtalk+{receiver.base}/robot/send?access_token=t0k&secret=SECwrong",
        f"feishu+{receiver.base}/open-apis/bot/v2/hook/h00k",
    )
    assert code == 1
    assert len(receiver.requests) == 3  # one each, no retry
    assert lines[0].startswith("✓ slack:")
    assert lines[0].endswith(": accepted")
    assert lines[1].startswith("✗ dingtalk:")
    assert lines[1].endswith(
        "rejected — errcode 310000: sign not match, more: [...]: "
        "check the secret (?secret=) and this machine's clock"
    )
    assert lines[2].startswith("✗ feishu:")
    assert "rejected — code 19024: Key Words Not Found: add ?keyword=" in lines[2]
    # the test message says what it is and where it comes from, and pings nobody
    body = receiver.requests[1].json
    assert "erralert test message from" in body["markdown"]["text"]
    assert socket.gethostname() in body["markdown"]["text"]
    assert body["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    assert receiver.requests[0].headers["x-erralert-kind"] == "alert"


def test_all_accepted_exits_0(capsys: pytest.CaptureFixture[str], receiver: Receiver) -> None:
    receiver.default = Answer(status=204, body=b"")
    code, lines = send_test(capsys, f"discord+{receiver.base}/api/webhooks/1/t0k")
    assert code == 0
    assert lines == ["✓ discord:" + lines[0].split("discord:", 1)[1]]
    assert lines[0].endswith(": accepted")
    assert "t0k" not in lines[0]


def test_a_server_that_is_down_is_said_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, lines = send_test(capsys, f"slack+http://127.0.0.1:{port}/services/T/B/X")
    assert code == 1
    assert "not delivered — could not connect" in lines[0]
    assert "check the host and port" in lines[0]


def test_a_retryable_answer_is_not_called_a_rejection(
    capsys: pytest.CaptureFixture[str], receiver: Receiver
) -> None:
    receiver.default = Answer(status=429, body=b"rate_limited", headers={"Retry-After": "30"})
    code, lines = send_test(capsys, f"slack+{receiver.base}/services/T/B/X")
    assert code == 1
    assert "not accepted now (retryable)" in lines[0]
    assert "rate limit" in lines[0]


def test_no_webhook_configured_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send-test"])
    assert exited.value.code == 1
    assert "no webhook configured" in capsys.readouterr().err

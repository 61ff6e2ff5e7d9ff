"""Golden payloads: the exact request each platform's default template produces for the
sample alert, digest and storm. A template or envelope change shows up in review as a
change of these files. Regenerate with ``ERRALERT_UPDATE_GOLDEN=1 pytest tests/channels``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from erralert.channels.registry import PLATFORMS, parse_webhook
from tests import samples
from tests.channels.conformance import render

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ERRALERT_UPDATE_GOLDEN") == "1"

# one realistic URL per platform (fake tokens), options included where the platform has them
SAMPLE_URLS = {
    "slack": "slack://T0AB1CD2E/B0FG3HI4J/abcDEF123ghiJKL456mnoPQR",
    "discord": "discord://123456789012345678/abcDEF-123_ghi",
    "teams": "https://prod-12.westus.logic.azure.com:443/workflows/0a1b2c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S1G",
    "googlechat": "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=K3Y&token=T0K",
    "mattermost": "mattermost+https://chat.example.com/hooks/xyz123abc456",
    "rocketchat": "rocketchat+https://chat.example.com/hooks/ABC123/xyz456",
    "telegram": "telegram://123456:ABC-DEF1234ghIkl/-1001234567890",
    "dingtalk": "dingtalk://0123abcd4567ef?secret=SEC0123456789abcdef&keyword=alert",
    "wecom": "wecom://693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
    "feishu": "feishu://0a1b2c3d-4e5f-6789-abcd-ef0123456789?secret=f3cr3t",
    "lark": "lark://0a1b2c3d-4e5f-6789-abcd-ef0123456789?secret=f3cr3t",
    "webhook": "webhook+https://alerts.example.com/erralert?secret=w3bh00k",
}

CASES = [
    (platform, kind)
    for platform, channel in sorted(PLATFORMS.items())
    if not channel.local
    for kind in ("alert", "digest", "storm")
]


@pytest.mark.parametrize(("platform", "kind"), CASES)
def test_golden_payload(platform: str, kind: str) -> None:
    channel = parse_webhook(SAMPLE_URLS[platform])
    request = render(channel, kind)
    check_golden(request, GOLDEN / f"{platform}-{kind}.json")


def check_golden(request: httpx.Request, path: Path) -> None:
    got = {
        "method": request.method,
        "url": str(request.url),
        "content-type": request.headers.get("content-type"),
        "body": json.loads(request.content),
    }
    text = json.dumps(got, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path.name} did not exist; written now, review and commit it")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "platform", [p for p, channel in sorted(PLATFORMS.items()) if not channel.local]
)
def test_golden_payload_of_a_digest_from_a_fleet(platform: str) -> None:
    # only a digest whose repeats came from several processes or releases says so: the
    # sample digest above (one process) is unchanged
    request = render(parse_webhook(SAMPLE_URLS[platform]), notice=samples.fleet_digest())
    check_golden(request, GOLDEN / f"{platform}-digest-fleet.json")


def test_every_platform_has_a_sample_url() -> None:
    assert set(PLATFORMS) - {"console"} <= set(SAMPLE_URLS)


@pytest.mark.parametrize(("platform", "kind"), CASES)
def test_every_request_says_its_kind(platform: str, kind: str) -> None:
    # the local inbox and routing proxies tell alerts, digests and storms apart by it
    request = render(parse_webhook(SAMPLE_URLS[platform]), kind)
    assert request.headers["X-Erralert-Kind"] == kind

"""Checking the request signatures DingTalk, Feishu/Lark and erralert's generic webhook
carry, the way each platform checks them.

Written apart from the channels' signing code on purpose: a mistake shared by the signer
and the checker would sign and accept the same wrong thing and hide itself. Each function
returns None for a good signature, else the platform's own words for the refusal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = [
    "DINGTALK_BAD_SIGN",
    "DINGTALK_BAD_TIMESTAMP",
    "FEISHU_BAD_SIGN",
    "MAX_SKEW",
    "check_dingtalk",
    "check_feishu",
    "check_webhook",
]

MAX_SKEW = 3600.0  # seconds: DingTalk and Feishu refuse a timestamp more than an hour off
WEBHOOK_SKEW = 300.0  # what erralert's verify_signature() documents for the generic webhook
DINGTALK_BAD_SIGN = "sign not match"
DINGTALK_BAD_TIMESTAMP = "invalid timestamp"
# Feishu gives one answer (code 19021) for a wrong signature and a stale timestamp alike
FEISHU_BAD_SIGN = "sign match fail or timestamp is not within one hour from current time"


def check_dingtalk(secret: str, timestamp: str | None, sign: str | None, now: float) -> str | None:
    """DingTalk: ``timestamp`` in milliseconds within an hour of ``now`` (seconds), and
    ``sign`` (already URL-decoded) = base64(HMAC-SHA256(key=secret, msg="ts\\nsecret"))."""
    if timestamp is None or not timestamp.isdigit():
        return DINGTALK_BAD_TIMESTAMP
    if abs(now * 1000 - int(timestamp)) > MAX_SKEW * 1000:
        return DINGTALK_BAD_TIMESTAMP
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    expected = base64.b64encode(mac.digest()).decode()
    if sign is None or not hmac.compare_digest(expected.encode(), sign.encode()):
        return DINGTALK_BAD_SIGN
    return None


def check_feishu(secret: str, timestamp: object, sign: object, now: float) -> str | None:
    """Feishu and Lark: the body's ``timestamp`` in seconds within an hour of ``now``, and
    its ``sign`` = base64(HMAC-SHA256(key="ts\\nsecret", msg=b"")): the key is the string,
    the message empty (unlike DingTalk)."""
    text = str(timestamp) if isinstance(timestamp, int | str) else ""
    if not text.isdigit() or abs(now - int(text)) > MAX_SKEW:
        return FEISHU_BAD_SIGN
    mac = hmac.new(f"{text}\n{secret}".encode(), b"", hashlib.sha256)
    expected = base64.b64encode(mac.digest()).decode()
    if not isinstance(sign, str) or not hmac.compare_digest(expected.encode(), sign.encode()):
        return FEISHU_BAD_SIGN
    return None


def check_webhook(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """erralert's generic webhook: ``X-Erralert-Signature: sha256=<hex HMAC-SHA256(secret,
    b"<ts>." + body)>`` and ``X-Erralert-Timestamp`` within five minutes of ``now``."""
    if timestamp is None or not timestamp.isdigit():
        return "missing or malformed X-Erralert-Timestamp"
    if abs(now - int(timestamp)) > WEBHOOK_SKEW:
        return "X-Erralert-Timestamp is more than 5 minutes off"
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    expected = f"sha256={mac.hexdigest()}"
    if signature is None or not hmac.compare_digest(expected.encode(), signature.encode()):
        return "X-Erralert-Signature does not match"
    return None

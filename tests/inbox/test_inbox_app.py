"""The inbox app: the paths of every platform, the page and its API, the token."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from erralert.inbox import InboxStore, require_token_for
from erralert.inbox.receive import resolve


@pytest.mark.parametrize(
    ("path", "platform", "hook"),
    [
        ("/services/T/B/X", "slack", "T/B/X"),
        ("/api/webhooks/1/tok", "discord", "1/tok"),
        ("/api/v10/webhooks/1/tok", "discord", "1/tok"),
        (
            "/workflows/w/triggers/manual/paths/invoke",
            "teams",
            "workflows/w/triggers/manual/paths/invoke",
        ),
        (
            "/powerautomate/automations/direct/workflows/w",
            "teams",
            "powerautomate/automations/direct/workflows/w",
        ),
        ("/v1/spaces/S/messages", "googlechat", "S"),
        ("/hooks/key", "mattermost", "key"),
        ("/hooks/id/tok", "rocketchat", "id/tok"),
        ("/bot1:abc/sendMessage", "telegram", "1:abc/sendMessage"),
        ("/robot/send", "dingtalk", "/robot/send"),
        ("/cgi-bin/webhook/send", "wecom", "/cgi-bin/webhook/send"),
        ("/open-apis/bot/v2/hook/h", "feishu", "h"),
        ("/lark/open-apis/bot/v2/hook/h", "lark", "h"),
        ("/webhook/errors", "webhook", "errors"),
        ("/slack/anything/at/all", "slack", "anything/at/all"),
        ("/telegram/bot1:abc/sendMessage", "telegram", "1:abc/sendMessage"),
    ],
)
def test_paths(path: str, platform: str, hook: str) -> None:
    route = resolve(path)
    assert route is not None
    assert (route.platform, route.hook) == (platform, hook)


def test_unknown_path_is_404_and_stored(client: TestClient, store: InboxStore) -> None:
    response = client.post("/nowhere", json={"text": "x"})
    assert response.status_code == 404
    (message,) = store.messages()
    assert message.platform == "unknown"
    assert message.error is not None
    assert "/services/T/B/X" in message.error


def test_kind_from_header_or_document(client: TestClient, store: InboxStore) -> None:
    client.post("/services/T/B/X", json={"text": "x"}, headers={"X-Erralert-Kind": "digest"})
    client.post("/webhook/x", json={"kind": "storm"})
    client.post("/services/T/B/X", json={"text": "x"}, headers={"X-Erralert-Kind": "bogus"})
    assert [m.kind for m in store.messages()] == [None, "storm", "digest"]


def test_api(client: TestClient, store: InboxStore) -> None:
    client.post("/services/T/B/X", json={"text": "*one*"})
    client.post("/hooks/k", json={"text": "two"})
    client.post("/services/T/B/X", json={"text": "three"})
    data = client.get("/api/messages").json()
    assert [m["title"] for m in data["messages"]] == ["three", "two", "*one*"]  # newest first
    assert data["counts"] == {"mattermost": 1, "slack": 2}
    assert data["total"] == 3
    assert "<b>one</b>" in data["messages"][2]["html"]
    first = data["messages"][2]["id"]
    newer = client.get(f"/api/messages?after={first}").json()["messages"]
    assert [m["title"] for m in newer] == ["three", "two"]
    slack = client.get("/api/messages?platform=slack").json()["messages"]
    assert {m["platform"] for m in slack} == {"slack"}
    assert client.get(f"/api/messages/{first}").json() == {"text": "*one*"}
    assert client.get("/api/messages/9999").status_code == 404
    assert client.get("/api/messages?after=x").status_code == 400
    assert client.delete("/api/messages").status_code == 204
    assert store.count() == 0


def test_page_is_self_contained_and_server_rendered(client: TestClient) -> None:
    client.post(
        "/services/T/B/X", json={"text": "hello *world*"}, headers={"X-Erralert-Kind": "alert"}
    )
    response = client.get("/")
    page = response.text
    assert response.status_code == 200
    assert "<b>world</b>" in page
    assert "kind-alert" in page
    assert "http://" not in page.replace("http://127.0.0.1:8025", "")  # nothing from the network
    policy = response.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page
    assert "default-src 'none'" in policy


def test_token_guards_every_route(
    make_client: Callable[..., TestClient], store: InboxStore
) -> None:
    client = make_client(token="s3cret")
    for method, path in (("GET", "/"), ("GET", "/api/messages"), ("DELETE", "/api/messages")):
        assert client.request(method, path).status_code == 401
        assert client.request(method, f"{path}?token=wrong").status_code == 401
    assert client.post("/services/T/B/X", json={"text": "x"}).status_code == 401
    assert store.count() == 0  # the webhook was not taken

    hook = client.post("/services/T/B/X?token=s3cret", json={"text": "x"})
    assert hook.status_code == 200
    assert store.messages()[0].path == "/services/T/B/X"  # the inbox's token is not shown
    bearer = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/messages", headers=bearer).status_code == 200
    assert client.get("/api/messages", headers={"Authorization": "Bearer nope"}).status_code == 401
    # Google Chat's URL has a token of its own: inbox_token= carries the inbox's
    chat = "/v1/spaces/S/messages?key=k&token=chat-token&inbox_token=s3cret"
    assert client.post(chat, json={"text": "x"}).status_code == 200
    assert "token=chat-token" in store.messages()[0].path

    page = client.get("/?token=s3cret")
    assert page.status_code == 200
    assert "erralert_inbox_token" in page.headers["set-cookie"]
    assert "httponly" in page.headers["set-cookie"].lower()
    # the cookie the page set lets its own fetches through
    assert client.get("/api/messages").status_code == 200
    client.cookies.clear()
    assert client.get("/api/messages").status_code == 401


@pytest.mark.parametrize(
    ("host", "needed"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.5", True),
        ("inbox.example.com", True),
    ],
)
def test_require_token_for(host: str, needed: bool) -> None:
    assert require_token_for(host) is needed

"""Every imitated platform by the name in its erralert URL (``slack+http://…``)."""

from __future__ import annotations

from erralert.inbox.platforms.base import Platform
from erralert.inbox.platforms.dingtalk import DingTalk
from erralert.inbox.platforms.discord import Discord
from erralert.inbox.platforms.feishu import Feishu, Lark
from erralert.inbox.platforms.googlechat import GoogleChat
from erralert.inbox.platforms.mattermost import Mattermost
from erralert.inbox.platforms.rocketchat import RocketChat
from erralert.inbox.platforms.slack import Slack
from erralert.inbox.platforms.teams import Teams
from erralert.inbox.platforms.telegram import Telegram
from erralert.inbox.platforms.webhook import Webhook
from erralert.inbox.platforms.wecom import WeCom

__all__ = ["PLATFORMS"]

PLATFORMS: dict[str, Platform] = {
    platform.name: platform
    for platform in (
        DingTalk(),
        Discord(),
        Feishu(),
        GoogleChat(),
        Lark(),
        Mattermost(),
        RocketChat(),
        Slack(),
        Teams(),
        Telegram(),
        Webhook(),
        WeCom(),
    )
}

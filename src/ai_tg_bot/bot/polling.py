"""Before long polling: never silently take the updates a webhook deployment serves."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class WebhookRegisteredError(Exception):
    """Polling refused: Telegram sends this bot's updates to a webhook (one line to show)."""

    def __init__(self, url: str) -> None:
        self.host = webhook_host(url)
        super().__init__(
            f"a webhook is registered at {self.host} (another deployment may be serving it); "
            "set WEBHOOK_URL to serve it, or POLLING_TAKEOVER=true to delete it and poll"
        )


def webhook_host(url: str) -> str:
    """The host (and port) of a webhook URL: its path may carry a secret, so never shown."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "an unreadable URL"
    return f"{host}:{port}" if port else host


async def claim_updates(bot: Bot, *, takeover: bool) -> None:
    """Make getUpdates possible, deleting a registered webhook only if told to.

    Deleting it unasked (what a polling start used to do) would silently take every
    update away from the instances serving it. Telegram refuses getUpdates while a
    webhook is set, so without `takeover` the start stops with WebhookRegisteredError.
    """
    info = await bot.get_webhook_info()
    if not info.url:
        return
    if not takeover:
        raise WebhookRegisteredError(info.url)
    log.warning(
        "deleting the webhook at %s to poll instead (POLLING_TAKEOVER=true)",
        webhook_host(info.url),
    )
    await bot.delete_webhook(drop_pending_updates=False)

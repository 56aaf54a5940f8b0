"""Before long polling: never silently take the updates a webhook deployment serves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

from ai_tg_bot.errors import EXIT_UNEXPECTED, StartupError

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class WebhookRegisteredError(StartupError):
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


class PollingConflictError(StartupError):
    """Another process polls with this token: Telegram answers 409 to one of the two."""

    def __init__(self) -> None:
        super().__init__(
            "another instance is polling with this TELEGRAM_BOT_TOKEN (409 Conflict): stop "
            "it, or run several instances in webhook mode (WEBHOOK_URL)",
            EXIT_UNEXPECTED,
        )


class ConflictWatch(BaseRequestMiddleware):
    """Count getUpdates' 409 Conflicts. At start (the first `window` seconds), `limit`
    of them mean another instance already polls: `on_conflict` stops this one, which
    then exits with one line. Later, an instance started beside this one is the one to
    leave; this one only warns."""

    def __init__(self, *, limit: int = 3, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.started: float | None = None
        self.conflicts = 0
        self.tripped = False
        self.on_conflict: Callable[[], None] | None = None
        # Called once, as the first getUpdates goes out (polling has begun).
        self.on_first_poll: Callable[[], None] | None = None

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)
        if not polling:
            return await make_request(bot, method)
        now = time.monotonic()
        if self.started is None:
            self.started = now
            if self.on_first_poll is not None:
                self.on_first_poll()
        try:
            return await make_request(bot, method)
        except TelegramConflictError:
            self.conflicts += 1
            if now - self.started > self.window:
                log.warning("another instance polls with this token (409 Conflict)")
            elif self.conflicts >= self.limit and not self.tripped:
                self.tripped = True
                if self.on_conflict is not None:
                    self.on_conflict()
            raise

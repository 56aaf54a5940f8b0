"""Polling mode's redelivery: an update that failed because the database was down is
handled again, with a back-off, before anyone is told.

In webhook mode Telegram redelivers an update the bot answered with 500; a polled update
is taken once, so without this a blip of the database would lose the question (the user
sees an error line, then nothing). Handlers already take redeliveries (exactly once by
Telegram message id), so handling one again here is what a webhook redelivery does.
Only an outage is waited out; an error that would recur is raised at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from ai_tg_bot.storage import ride_out

log = logging.getLogger(__name__)


class RedeliverMiddleware(BaseMiddleware):
    """Handle an update again while the database is down, for `patience_seconds`."""

    def __init__(self, patience_seconds: float, *, max_pause_seconds: float = 5.0) -> None:
        self.patience_seconds = patience_seconds
        self.max_pause_seconds = max_pause_seconds

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if data.get("redeliverable"):
            return await handler(event, data)  # webhook mode: Telegram redelivers
        update_id = event.update_id if isinstance(event, Update) else "-"

        def say(exc: BaseException, pause: float) -> None:
            log.warning(
                "update %s: the database is unavailable (%s); handling it again in %.1fs",
                update_id,
                type(exc).__name__,
                pause,
            )

        return await ride_out(
            lambda: handler(event, data),
            self.patience_seconds,
            first_pause=0.25,
            max_pause=self.max_pause_seconds,
            on_retry=say,
        )

"""The last line of defence: log what failed, tell the user briefly, keep serving."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ai_tg_bot.bot import texts

log = logging.getLogger(__name__)
STORAGE_ERRORS = (OperationalError, DBAPIError, PoolTimeoutError, ConnectionError, OSError)


async def on_error(event: ErrorEvent, bot: Bot, redeliverable: bool = False) -> None:
    """Log with context (never the message text) and answer with one short line.

    With `redeliverable` (webhook mode) a storage failure is raised again after telling
    the user, so the webhook answers 500 and Telegram delivers the update again later.
    """
    update = event.update
    message = update.message
    user_id = message.from_user.id if message and message.from_user else None
    storage_down = isinstance(event.exception, STORAGE_ERRORS)
    log.error(
        "update %s of user %s failed: %s",
        update.update_id,
        user_id,
        type(event.exception).__name__,
        exc_info=not storage_down,
    )
    if message is None:
        return
    try:
        await bot.send_message(
            message.chat.id, texts.STORAGE_DOWN if storage_down else texts.INTERNAL_ERROR
        )
    except TelegramAPIError:
        log.warning("could not tell chat %s about the failure", message.chat.id)
    if storage_down and redeliverable:
        raise event.exception


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router

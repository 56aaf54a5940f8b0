"""The last line of defence: log what failed, tell the user briefly, keep serving."""

from __future__ import annotations

import logging
import time

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.private import topic_of
from ai_tg_bot.storage import STORAGE_ERRORS, is_outage

log = logging.getLogger(__name__)
# During an outage Telegram redelivers every failed webhook update; one line a minute
# per chat says it all. (In polling mode each failure is a lost message: always say so.)
NOTICE_INTERVAL_SECONDS = 60.0


class ErrorReporter:
    """Logs failures with context (never message text) and tells the user briefly."""

    def __init__(self) -> None:
        self._last_notice: dict[int, float] = {}

    async def handle(self, event: ErrorEvent, bot: Bot, redeliverable: bool = False) -> None:
        """Handle an error from any handler.

        With `redeliverable` (webhook mode) a storage failure is raised again after telling
        the user, so the webhook answers 500 and Telegram delivers the update again later.
        """
        update = event.update
        message = update.message
        callback = update.callback_query
        sender = message.from_user if message else (callback.from_user if callback else None)
        user_id = sender.id if sender else None
        # Only an outage is worth Telegram's redelivery; an error that would recur (a
        # constraint, bad data) is reported once and the update acknowledged.
        storage_down = isinstance(event.exception, STORAGE_ERRORS) and is_outage(event.exception)
        log.error(
            "update %s of user %s failed: %s",
            update.update_id,
            user_id,
            type(event.exception).__name__,
            exc_info=not storage_down,
        )
        if message is not None and (not redeliverable or self._should_notify(message.chat.id)):
            try:
                await bot.send_message(
                    message.chat.id,
                    texts.STORAGE_DOWN if storage_down else texts.INTERNAL_ERROR,
                    message_thread_id=topic_of(message),
                )
            except TelegramAPIError:
                log.warning("could not tell chat %s about the failure", message.chat.id)
        if callback is not None:
            # A pressed button shows a spinner until answered: end it with the notice.
            try:
                await callback.answer(
                    texts.STORAGE_DOWN if storage_down else texts.INTERNAL_ERROR, show_alert=True
                )
            except TelegramAPIError:
                log.warning("could not answer the button press of user %s", user_id)
        if storage_down and redeliverable:
            raise event.exception

    def _should_notify(self, chat_id: int) -> bool:
        now = time.monotonic()
        if now - self._last_notice.get(chat_id, -NOTICE_INTERVAL_SECONDS) < NOTICE_INTERVAL_SECONDS:
            return False
        if len(self._last_notice) > 10_000:  # forget old chats; this is only politeness
            self._last_notice = {
                chat: at
                for chat, at in self._last_notice.items()
                if now - at < NOTICE_INTERVAL_SECONDS
            }
        self._last_notice[chat_id] = now
        return True


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    # A bound coroutine method: aiogram awaits only what looks like a coroutine function.
    router.errors.register(ErrorReporter().handle)
    return router

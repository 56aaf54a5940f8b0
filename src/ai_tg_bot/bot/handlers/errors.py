"""The last line of defence: log what failed, tell the user briefly, keep serving."""

from __future__ import annotations

import logging
import time

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, ErrorEvent, Message

from ai_tg_bot.bot import texts
from ai_tg_bot.config import Settings
from ai_tg_bot.storage import STORAGE_ERRORS, database_hint, is_outage

log = logging.getLogger(__name__)
# Webhook mode: while the database is down Telegram redelivers the update, and one that
# is then stored and answered needs no error line. Its user is told once, only when it
# has kept failing this long (Telegram may be about to give up on it).
GIVE_UP_SECONDS = 120.0
# Updates whose failures are remembered (older ones are forgotten first).
REMEMBERED_UPDATES = 10_000


class ErrorReporter:
    """Logs failures with context (never message text) and tells the user once, when the
    bot gives up on an update: at once for an error that would recur; for a database
    outage, after polling mode's own patience (bot.middlewares.redeliver), or in
    webhook mode once Telegram's redeliveries have failed for GIVE_UP_SECONDS."""

    def __init__(
        self, give_up_seconds: float = GIVE_UP_SECONDS, *, pgbouncer: bool = False
    ) -> None:
        self.give_up_seconds = give_up_seconds
        # DB_PGBOUNCER: whether a pooler's broken prepared statements are a known setup.
        self.pgbouncer = pgbouncer
        self._hinted: set[str] = set()
        # update id -> when it first failed with the database down (webhook mode).
        self._failing: dict[int, float] = {}
        self._told: set[int] = set()

    async def handle(self, event: ErrorEvent, bot: Bot, redeliverable: bool = False) -> None:
        """Handle an error from any handler.

        With `redeliverable` (webhook mode) a storage failure is raised again, so the
        webhook answers 500 and Telegram delivers the update again later.
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
        hint = database_hint(event.exception, pgbouncer=self.pgbouncer)
        if hint is not None and hint not in self._hinted:
            self._hinted.add(hint)  # once per process: the fix is the same every time
            log.error("%s", hint)
        if not (storage_down and redeliverable) or self._gave_up(update.update_id):
            await self._tell(bot, message, callback, user_id, storage_down)
        if storage_down and redeliverable:
            raise event.exception

    async def _tell(
        self,
        bot: Bot,
        message: Message | None,
        callback: CallbackQuery | None,
        user_id: int | None,
        storage_down: bool,
    ) -> None:
        text = texts.STORAGE_DOWN if storage_down else texts.INTERNAL_ERROR
        if message is not None:
            try:
                # In the question's topic: a private chat's, or a forum group's.
                thread = message.message_thread_id if message.is_topic_message else None
                await bot.send_message(message.chat.id, text, message_thread_id=thread)
            except TelegramAPIError:
                log.warning("could not tell chat %s about the failure", message.chat.id)
        if callback is not None:
            # A pressed button shows a spinner until answered: end it with the notice.
            try:
                await callback.answer(text, show_alert=True)
            except TelegramAPIError:
                log.warning("could not answer the button press of user %s", user_id)

    def _gave_up(self, update_id: int) -> bool:
        """Whether a redelivered update has failed long enough to tell its user (once)."""
        now = time.monotonic()
        first = self._failing.setdefault(update_id, now)
        if update_id in self._told or now - first < self.give_up_seconds:
            return False
        self._told.add(update_id)
        if len(self._failing) > REMEMBERED_UPDATES:  # forget the oldest half
            for old in sorted(self._failing, key=self._failing.__getitem__)[
                : len(self._failing) // 2
            ]:
                self._failing.pop(old, None)
                self._told.discard(old)
        return True


def make_router(settings: Settings) -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    # A bound coroutine method: aiogram awaits only what looks like a coroutine function.
    router.errors.register(ErrorReporter(pgbouncer=settings.db_pgbouncer).handle)
    return router

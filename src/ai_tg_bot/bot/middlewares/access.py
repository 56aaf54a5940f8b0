"""Who may use the bot: ALLOWED_USER_IDS (config) and blocking (database); admins always."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from ai_tg_bot.bot import texts
from ai_tg_bot.config import Settings
from ai_tg_bot.storage.accounts import Accounts

log = logging.getLogger(__name__)


class AccessMiddleware(BaseMiddleware):
    """Turn away users who are not allowed or are blocked, with one line and nothing else.

    Runs before every handler, so a refused user costs no LLM call and stores nothing.
    """

    def __init__(self, settings: Settings, accounts: Accounts) -> None:
        self.settings = settings
        self.accounts = accounts

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or self.settings.is_admin(user.id):
            return await handler(event, data)
        if not self.settings.is_allowed(user.id):
            log.info("refused user_id=%s: not in ALLOWED_USER_IDS", user.id)
            await _answer(event, texts.not_allowed(user.id))
            return None
        if await self.accounts.is_blocked(user.id):
            log.info("refused user_id=%s: blocked", user.id)
            await _answer(event, texts.BLOCKED)
            return None
        return await handler(event, data)


async def _answer(event: TelegramObject, text: str) -> None:
    if isinstance(event, Message):
        await event.answer(text)
    elif isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)

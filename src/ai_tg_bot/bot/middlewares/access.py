"""Who may use the bot, and in which language it speaks to them.

ALLOWED_USER_IDS (config) and blocking (database), admins always; the language is the
user's /language choice, else their Telegram app's, else DEFAULT_LANGUAGE (ADR 0012).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import (
    CallbackQuery,
    InlineQuery,
    Message,
    PreCheckoutQuery,
    TelegramObject,
    User,
)

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.inline_results import answer_inline, notice_article
from ai_tg_bot.bot.notices import tell_member
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import pick_language, set_language
from ai_tg_bot.storage import AccountsStore

log = logging.getLogger(__name__)


class AccessMiddleware(BaseMiddleware):
    """Turn away users who are not allowed or are blocked, with one line and nothing else,
    and handle everyone else's update in their language (`data["language"]`).

    Runs before every handler, so a refused user costs no LLM call and stores nothing.
    One read per update gives both the block and the language. In a group the line is
    shown to the refused member alone (bot.notices), never posted to the group.
    """

    def __init__(
        self, settings: Settings, accounts: AccountsStore, capabilities: Capabilities
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        # Whether the Bot API server has ephemeral messages (bot.notices), learned once.
        self.capabilities = capabilities

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        default = self.settings.default_language
        # Set for the rest of the update's task, not just this call: the errors handler
        # (an outer middleware of the update) answers after this call has returned.
        if user is None:
            set_language(default)
            return await handler(event, data)
        if _moves_money(event):
            # Stars taken (or given back) are recorded whoever the user is now; a
            # pre-checkout is refused by its handler, in words, not left unanswered.
            set_language(pick_language(None, user.language_code, default))
            return await handler(event, data)
        if not self.settings.is_allowed(user.id):
            log.info("refused user_id=%s: not in ALLOWED_USER_IDS", user.id)
            set_language(pick_language(None, user.language_code, default))
            await self._refuse(event, data, user.id, texts.not_allowed(user.id))
            return None
        set_language(pick_language(None, user.language_code, default))  # if the read fails
        standing = await self.accounts.standing(user.id)
        language = pick_language(standing.language, user.language_code, default)
        set_language(language)
        if standing.is_blocked and not self.settings.is_admin(user.id):
            log.info("refused user_id=%s: blocked", user.id)
            await self._refuse(event, data, user.id, texts.BLOCKED)
            return None
        data["language"] = language
        return await handler(event, data)

    async def _refuse(
        self, event: TelegramObject, data: dict[str, Any], user_id: int, text: str
    ) -> None:
        """The one line: in a group, to the member alone; elsewhere, as a reply."""
        if isinstance(event, Message):  # (in a private chat, a reply as before)
            await tell_member(event, user_id, data["bot"], text, self.capabilities)
        else:
            await _answer(event, text)


def _moves_money(event: TelegramObject) -> bool:
    if isinstance(event, PreCheckoutQuery):
        return True
    return isinstance(event, Message) and bool(event.successful_payment or event.refunded_payment)


async def _answer(event: TelegramObject, text: str) -> None:
    if isinstance(event, Message):
        await event.answer(text)
    elif isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    elif isinstance(event, InlineQuery):  # inline mode: the one result says why
        await answer_inline(event, [notice_article(text)])

"""Everything the bot does not understand yet gets one polite line."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from ai_tg_bot.bot import texts


async def unsupported(message: Message) -> None:
    """Stickers, voice, photos, files and the like."""
    await message.answer(texts.UNSUPPORTED)


async def stale_button(callback: CallbackQuery) -> None:
    """A button no handler knows (an older version's, or forged): answer, change nothing."""
    await callback.answer(texts.BUTTON_EXPIRED, show_alert=True)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(unsupported)
    router.callback_query.register(stale_button)
    return router

"""Everything the bot does not understand yet gets one polite line."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from ai_tg_bot.bot import texts


async def unsupported(message: Message) -> None:
    """Stickers, voice, photos, files and the like."""
    await message.answer(texts.UNSUPPORTED)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(unsupported)
    return router

"""/start and /help."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.config import Settings
from ai_tg_bot.storage import Storage


async def start(message: Message, user_id: int, store: Storage, settings: Settings) -> None:
    """Register the user and greet them."""
    await store.ensure_user(user_id)
    await message.answer(texts.greeting(payments=bool(settings.stars_packs)))


async def help_(message: Message, settings: Settings) -> None:
    """List every command."""
    await message.answer(texts.help_text(payments=bool(settings.stars_packs)))


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(start, CommandStart(), F.from_user.id.as_("user_id"))
    router.message.register(help_, Command("help"))
    return router

"""/reset and /retry: the history itself."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.reply import TelegramPresenter
from ai_tg_bot.chat import ChatService
from ai_tg_bot.config import Settings
from ai_tg_bot.storage import Storage


async def reset(message: Message, user_id: int, store: Storage) -> None:
    """Forget the dialogue (soft delete), keep the role."""
    cleared = await store.clear_history(user_id)
    await message.answer(
        f"Done: I've forgotten our dialogue ({cleared} messages). Your role is unchanged."
        if cleared
        else "Our dialogue is already empty. Your role is unchanged."
    )


async def retry(
    message: Message, user_id: int, bot: Bot, chat: ChatService, settings: Settings
) -> None:
    """Answer the last user message again; its previous answer is dropped."""
    presenter = TelegramPresenter.for_message(bot, message, settings)
    if not await chat.retry(user_id, presenter):
        await message.answer(texts.NOTHING_TO_RETRY)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(reset, Command("reset"), F.from_user.id.as_("user_id"))
    router.message.register(retry, Command("retry"), F.from_user.id.as_("user_id"))
    return router

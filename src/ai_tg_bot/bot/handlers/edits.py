"""Edited messages: the stored dialogue does not change; say so."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from ai_tg_bot.bot import texts


async def edited(message: Message) -> None:
    """An edit of an earlier message: nothing is re-answered or re-stored."""
    await message.answer(texts.EDITED)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.edited_message.register(edited)
    return router

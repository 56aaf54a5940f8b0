"""/reset and /retry: the history itself."""

from __future__ import annotations

from collections.abc import Callable

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.presenter import TelegramPresenter
from ai_tg_bot.bot.private import say_privately, topic_of
from ai_tg_bot.bot.speaking import VoiceReplies
from ai_tg_bot.chat import ChatService
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import _, ngettext, number
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.storage import AskedElsewhereError, Storage, utc_now


async def reset(message: Message, user_id: int, store: Storage, bot: Bot) -> None:
    """Clear the current conversation (soft delete), keep its role."""
    cleared = await store.clear_history(user_id, topic_of(message))
    await say_privately(
        message,
        user_id,
        bot,
        ngettext(
            "Done: I've forgotten our dialogue ({count} message). Your role is unchanged.",
            "Done: I've forgotten our dialogue ({count} messages). Your role is unchanged.",
            cleared,
        ).format(count=number(cleared))
        if cleared
        else _("Our dialogue is already empty. Your role is unchanged."),
    )


async def retry(
    message: Message,
    user_id: int,
    bot: Bot,
    chat: ChatService,
    settings: Settings,
    on_stored: Callable[[], None] | None = None,
    capabilities: Capabilities | None = None,
    speaker: VoiceReplies | None = None,
) -> None:
    """Answer the last user message again; its previous answer is dropped.

    Counted like a message against the daily and per-minute limits.
    """
    presenter = TelegramPresenter.for_message(bot, message, settings, capabilities, speaker)
    try:
        retried = await chat.retry(
            user_id,
            presenter,
            telegram_chat_id=message.chat.id,
            telegram_message_id=message.message_id,
            on_stored=on_stored,
            # In a group, only a question asked in that group: another chat's question
            # (a private one) and its answer must not appear there.
            same_chat_only=message.chat.type != ChatType.PRIVATE,
            telegram_thread_id=topic_of(message),
        )
    except AskedElsewhereError:
        await message.answer(texts.RETRY_ELSEWHERE)
        return
    except QuotaExceededError as exc:
        await say_privately(message, user_id, bot, exc.user_message(utc_now()))
        return
    if not retried:
        await message.answer(texts.NOTHING_TO_RETRY)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(reset, Command("reset"), F.from_user.id.as_("user_id"))
    router.message.register(retry, Command("retry"), F.from_user.id.as_("user_id"))
    return router

"""/reset and /retry: the history itself."""

from __future__ import annotations

from collections.abc import Callable

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.asking import asking, is_group
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.notices import tell_over_limit
from ai_tg_bot.bot.presenter import TelegramPresenter
from ai_tg_bot.bot.private import say_privately, topic_of
from ai_tg_bot.i18n import _, ngettext, number
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.storage import AskedElsewhereError


async def reset(message: Message, user_id: int, bot: Bot, deps: Deps) -> None:
    """Clear the current conversation (soft delete), keep its role. In a group: the
    group's shared conversation (the topic's), by its administrators only."""
    if is_group(message):
        if not await deps.group_admins.is_admin(bot, message.chat.id, user_id):
            await message.answer(texts.GROUP_ADMINS_ONLY)
            return
        where = asking(message, user_id)
        cleared = await deps.storage.clear_history(where.owner_id, where.thread_id)
        await message.answer(
            ngettext(
                "Done: this group's conversation with me is cleared ({count} message).",
                "Done: this group's conversation with me is cleared ({count} messages).",
                cleared,
            ).format(count=number(cleared))
        )
        return
    cleared = await deps.storage.clear_history(user_id, topic_of(message))
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
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """Answer the last user message again; its previous answer is dropped.

    Counted like a message against the daily and per-minute limits.
    """
    presenter = TelegramPresenter.for_message(
        bot, message, deps.settings, deps.capabilities, deps.speaker
    )
    where = asking(message, user_id)  # in a group: its conversation, counted to the sender
    try:
        retried = await deps.turns.retry(
            where.owner_id,
            presenter,
            telegram_chat_id=message.chat.id,
            telegram_message_id=message.message_id,
            on_stored=on_stored,
            # In a group, only a question asked in that group: another chat's question
            # (a private one) and its answer must not appear there.
            same_chat_only=message.chat.type != ChatType.PRIVATE,
            telegram_thread_id=where.thread_id,
            author_id=where.author_id,
        )
    except AskedElsewhereError:
        await message.answer(texts.RETRY_ELSEWHERE)
        return
    except QuotaExceededError as exc:
        await tell_over_limit(message, user_id, bot, exc, deps.capabilities)
        return
    if not retried:
        await message.answer(texts.NOTHING_TO_RETRY)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(reset, Command("reset"), F.from_user.id.as_("user_id"))
    router.message.register(retry, Command("retry"), F.from_user.id.as_("user_id"))
    return router

"""Plain text: one chat turn (TurnService, turns.service, does the turn itself).

Unknown commands are answered here too, not sent to the LLM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import Bot, F, Router
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.asking import asking, question_text
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.notices import tell_over_limit
from ai_tg_bot.bot.presenter import TelegramPresenter
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.storage import Attachment, DuplicateMessageError, EmptyTextError

log = logging.getLogger(__name__)


async def unknown_command(message: Message, bot: Bot) -> None:
    """A command no handler took: say so, unless it was addressed to another bot."""
    command = (message.text or "").split(maxsplit=1)[0]
    _, _, mention = command.partition("@")
    if mention and mention.lower() != ((await bot.me()).username or "").lower():
        return
    await message.answer(texts.UNKNOWN_COMMAND)


async def turn(
    message: Message,
    user_id: int,
    text: str,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
    *,
    kind: str | None = None,
    attachments: list[Attachment] | None = None,
) -> None:
    """Store the message, then stream its answer (and any queued before it).

    Photos and voice come through here too (handlers.media), with their `kind`.
    `deps.capabilities` says how this bot's server shows answers; `deps.speaker` (TTS_MODEL
    set) also speaks them for users with /voice on (or auto, for voice messages).
    """
    presenter = TelegramPresenter.for_message(
        bot, message, deps.settings, deps.capabilities, deps.speaker
    )
    # A group's question joins the group's shared conversation, counted to its asker.
    where = asking(message, user_id)
    try:
        text = await question_text(message, text, deps.turns.storage, kind=kind)
        await deps.turns.turn(
            where.owner_id,
            text,
            presenter,
            telegram_chat_id=message.chat.id,
            telegram_message_id=message.message_id,
            on_stored=on_stored,
            kind=kind,
            attachments=attachments,
            telegram_thread_id=where.thread_id,
            author_id=where.author_id,
        )
    except EmptyTextError:
        await message.answer(texts.EMPTY_MESSAGE)
    except QuotaExceededError as exc:
        await tell_over_limit(message, user_id, bot, exc, deps.capabilities)
    except DuplicateMessageError:
        # Telegram sent this update again (slow answer, a restart, another instance)
        # and it was answered already: answering twice would double it. (One still
        # pending is resumed by TurnService instead.)
        log.info("duplicate update ignored: user_id=%s message_id=%s", user_id, message.message_id)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(turn, F.text.as_("text"), F.from_user.id.as_("user_id"))
    return router

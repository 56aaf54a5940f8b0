"""Plain text: one chat turn. Unknown commands are answered here too, not sent to the LLM."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.reply import StreamingReply, present
from ai_tg_bot.chat import ChatService
from ai_tg_bot.config import Settings
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.limits import QuotaExceededError


async def unknown_command(message: Message, bot: Bot) -> None:
    """A command no handler took: say so, unless it was addressed to another bot."""
    command = (message.text or "").split(maxsplit=1)[0]
    _, _, mention = command.partition("@")
    if mention and mention.lower() != ((await bot.me()).username or "").lower():
        return
    await message.answer(texts.UNKNOWN_COMMAND)


async def turn(
    message: Message, user_id: int, text: str, bot: Bot, chat: ChatService, settings: Settings
) -> None:
    """Store the message, stream the answer, store the answer."""
    interval = settings.stream_edit_interval_seconds
    async with StreamingReply(bot, message.chat.id, edit_interval=interval) as reply:
        try:
            result = await chat.turn(user_id, text, on_delta=reply.feed)
        except ValueError:
            await reply.send_notice(texts.EMPTY_MESSAGE)
            return
        except QuotaExceededError as exc:
            await reply.send_notice(exc.user_message(utc_now()))
            return
        await present(reply, result)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(turn, F.text.as_("text"), F.from_user.id.as_("user_id"))
    return router

"""Answers that carry a user's own data go to their private chat, never to a group.

One rule for every such command (/search, /status, /role, /limits, /export, /forget,
/model, /reset's count, an admin's /user and /stats) and for a refusal that names the
user's own limit or model:
asked in a private chat, the answer goes there, exactly as any other answer. Asked in a
group, it goes to the asker's private chat and the group sees one neutral line: that it
was sent, or, when Telegram will not let the bot write there (the user never pressed
Start, or blocked the bot), a link that opens the private chat. Never the content.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup, InputFile, Message, ReplyParameters
from aiogram.utils.deep_linking import create_start_link

from ai_tg_bot.bot import texts

log = logging.getLogger(__name__)
# The /start payload of the link a group gets; /start with it simply greets.
START_PAYLOAD = "private"


def topic_of(message: Message) -> int | None:
    """The topic of the user's private chat a message was sent in: its conversation
    (ADR 0014). None outside topics, and in groups, whose threads are not the user's."""
    if message.chat.type == ChatType.PRIVATE and message.is_topic_message:
        return message.message_thread_id
    return None


@dataclass(frozen=True, slots=True)
class PrivateChat:
    """The asker's private chat (and topic, when they asked from one)."""

    bot: Bot
    chat_id: int
    thread_id: int | None = None

    async def answer(self, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> Message:
        """Send a text, optionally with inline buttons."""
        return await self.bot.send_message(
            self.chat_id, text, reply_markup=reply_markup, message_thread_id=self.thread_id
        )

    async def answer_document(self, document: InputFile, caption: str) -> Message:
        """Send a file with a caption."""
        return await self.bot.send_document(
            self.chat_id, document, caption=caption, message_thread_id=self.thread_id
        )


Deliver = Callable[[PrivateChat], Awaitable[object]]


def unreachable(error: TelegramForbiddenError | TelegramBadRequest) -> bool:
    """Telegram refuses the private chat: never started (403, or 400 for an unknown user)."""
    return isinstance(error, TelegramForbiddenError) or "chat not found" in error.message.lower()


async def answer_privately(message: Message, user_id: int, bot: Bot, deliver: Deliver) -> None:
    """Run `deliver` on the user's private chat; from a group, tell the group only where."""
    if message.chat.type == ChatType.PRIVATE:
        thread_id = message.message_thread_id if message.is_topic_message else None
        await deliver(PrivateChat(bot, message.chat.id, thread_id))
        return
    try:
        await deliver(PrivateChat(bot, user_id))
    except (TelegramForbiddenError, TelegramBadRequest) as error:
        if not unreachable(error):
            raise
        log.info("private chat of user_id=%s unreachable: %s", user_id, type(error).__name__)
        notice = texts.open_private_chat(await create_start_link(bot, START_PAYLOAD))
    else:
        notice = texts.SENT_PRIVATELY
    # A reply, so the group sees whom the line is for (and nothing else).
    reply = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
    await message.answer(notice, reply_parameters=reply)


async def tell_operator(message: Message, bot: Bot, text: str) -> None:
    """An operator's command's reply (it names another user's account, limits, payments
    or tools): in the operator's private chat when sent from a group, which sees one
    neutral line; as any reply in a private chat."""
    sender = message.from_user
    await say_privately(message, sender.id if sender else message.chat.id, bot, text)


async def say_privately(message: Message, user_id: int, bot: Bot, text: str) -> None:
    """One line about the user's own usage or settings, by the same rule."""

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(text)

    await answer_privately(message, user_id, bot, deliver)

"""Where the bot talks: private chats, and groups only when GROUP_CHATS is on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.types import Message, TelegramObject


class ChatScopeMiddleware(BaseMiddleware):
    """Drop, silently, messages the bot should not answer.

    Private chats always pass. Groups pass only with GROUP_CHATS on, and then only
    messages addressed to the bot (a mention, a reply to it, or a command), so a bot
    added to a busy group does not answer (or store) everyone's chatter. A group's
    questions join the group's shared conversation (bot.asking); a member's own
    conversations never reach it.
    """

    def __init__(self, *, group_chats: bool) -> None:
        self.group_chats = group_chats

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or event.chat.type == ChatType.PRIVATE:
            return await handler(event, data)
        if event.chat.type == ChatType.CHANNEL or not self.group_chats:
            return None
        if event.sender_chat is not None or event.is_automatic_forward:
            # Anonymous admins, "send as channel" and linked-channel posts all arrive
            # from one shared service account: they would mix many people's dialogues.
            return None
        bot: Bot = data["bot"]
        if await _addressed(event, bot):
            return await handler(event, data)
        return None


async def _addressed(message: Message, bot: Bot) -> bool:
    text = message.text or message.caption or ""
    if text.startswith("/"):
        return True
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    # Telegram marks mentions as entities: "@test_bot_fan" is not "@test_bot".
    username = f"@{(await bot.me()).username or ''}".lower()
    for entity in message.entities or message.caption_entities or []:
        if entity.type == "mention" and entity.extract_from(text).lower() == username:
            return True
        if entity.type == "text_mention" and entity.user is not None and entity.user.id == bot.id:
            return True
    return False

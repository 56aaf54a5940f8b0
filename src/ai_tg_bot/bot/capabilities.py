"""What this bot's Bot API server and each chat accept, learned from their refusals.

Drafts need Bot API 10.x (an older self-hosted server does not know them); rich messages
too, and a chat may refuse them (RICH_MESSAGES=auto|on|off); ephemeral messages need
10.2 (bot.notices). One object per process, shared by every answer: a refusal is met
once, not on every answer.
"""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramAPIError, TelegramNotFound

log = logging.getLogger(__name__)
MAX_REMEMBERED_CHATS = 100_000


class Capabilities:
    """What the Bot API server and each chat accept, learned from refusals, for the
    process: drafts (an older self-hosted server does not know them) and rich messages
    (RICH_MESSAGES=auto|on|off; `auto` stops trying where they were refused)."""

    def __init__(self, rich_messages: str = "auto") -> None:
        self.rich_messages = rich_messages
        self.drafts = True
        self.rich_server = True
        self.rich_refused_chats: set[int] = set()
        # Ephemeral messages in groups (Bot API 10.2): None until the server was asked.
        self.ephemeral: bool | None = None

    def rich_for(self, chat_id: int) -> bool:
        """Whether to send this chat's final answers as rich messages."""
        if self.rich_messages == "off":
            return False
        if self.rich_messages == "on":
            return True
        return self.rich_server and chat_id not in self.rich_refused_chats

    def rich_refused(self, chat_id: int, exc: TelegramAPIError) -> None:
        """Remember a refusal (in `auto`): the whole server, or this chat."""
        if self.rich_messages != "auto":
            log.warning("rich message refused in chat %s (%s); sent as entities", chat_id, exc)
            return
        if isinstance(exc, TelegramNotFound):
            self.rich_server = False
            log.warning("the Bot API server has no rich messages (%s); entities from now on", exc)
        elif not _about_this_message(exc):
            if len(self.rich_refused_chats) >= MAX_REMEMBERED_CHATS:
                self.rich_refused_chats.clear()  # bounded: a chat is asked again, once
            self.rich_refused_chats.add(chat_id)
            log.warning("chat %s refuses rich messages (%s); entities from now on", chat_id, exc)
        else:
            log.warning("rich message refused in chat %s (%s); sent as entities", chat_id, exc)


def _about_this_message(exc: TelegramAPIError) -> bool:
    """A refusal of this message's content (not of rich messages in the chat)."""
    text = exc.message.lower()
    return any(word in text for word in ("parse", "too long", "too_long", "too many", "invalid"))

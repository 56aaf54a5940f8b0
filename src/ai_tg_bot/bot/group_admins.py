"""Who administers a group: asked of Telegram (getChatMember), remembered briefly.

A group's shared conversation is reset, and its role set, by the group's administrators
only (issue 27). Telegram is the source of truth for who they are; the answer is kept
for ADMIN_CACHE_SECONDS so a burst of commands does not cost a request each, and a
demoted admin loses the right within that time.
"""

from __future__ import annotations

import logging
import time

from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError

log = logging.getLogger(__name__)
ADMIN_CACHE_SECONDS = 60.0
# Entries kept at most (the oldest half is forgotten past it).
ADMIN_CACHE_ENTRIES = 10_000
ADMIN_STATUSES = {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR}


class GroupAdmins:
    """Whether a member administers a group, from getChatMember, cached briefly."""

    def __init__(self, ttl_seconds: float = ADMIN_CACHE_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._known: dict[tuple[int, int], tuple[float, bool]] = {}

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """Whether `user_id` is the group's creator or one of its administrators (False
        when Telegram cannot say: the safe side)."""
        key, now = (chat_id, user_id), time.monotonic()
        cached = self._known.get(key)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramAPIError as exc:
            log.warning("getChatMember in chat %s failed: %s", chat_id, type(exc).__name__)
            return False
        admin = member.status in ADMIN_STATUSES
        if len(self._known) >= ADMIN_CACHE_ENTRIES:
            for old in sorted(self._known, key=lambda k: self._known[k][0])[
                : len(self._known) // 2
            ]:
                del self._known[old]
        self._known[key] = (now, admin)
        return admin

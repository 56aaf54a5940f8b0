"""/new, /chats, the per-conversation /role, and titles: the user's commands on their
conversations (where each message goes is storage.placement; ADR 0014)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from ai_tg_bot.db import Message, utc_now
from ai_tg_bot.limits import resolve_prompt
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import StorageBase, as_utc
from ai_tg_bot.storage.budgets import charge
from ai_tg_bot.storage.placement import (
    CURRENT_OF_USER,
    RECENT_CONVERSATIONS,
    SET_CURRENT,
    ConversationSummary,
    conversations,
    ensure_conversation,
    find_conversation,
    has_active_messages,
    in_conversation,
    recent_statement,
    short_title,
    summary_of,
    touch,
    users,
)
from ai_tg_bot.storage.records import TokenUsage, clean_text, without_nul
from ai_tg_bot.storage.summaries import forget_summary

# The most messages one conversation's page shows (the newest; the rest are counted).
SHOWN_MESSAGES = 500


@dataclass(frozen=True, slots=True)
class ShownMessage:
    """One message of a conversation as the Mini App's reader shows it; `in_context`
    is False for one trimmed out of the context window."""

    role: str
    content: str
    created_at: datetime
    in_context: bool
    kind: str | None


@dataclass(frozen=True, slots=True)
class ConversationView:
    """One of the user's conversations with its newest messages (oldest first), the
    prompt it is answered with, and how many older messages were left out."""

    id: int
    title: str | None
    is_current: bool
    system_prompt: str
    topic: int | None
    messages: list[ShownMessage]
    omitted: int


def _titled(user_id: int, conversation_id: int, title: str) -> Any:
    """The user's conversation, if it still has this title."""
    return select(conversations.c.id).where(
        conversations.c.id == conversation_id,
        conversations.c.user_id == user_id,
        conversations.c.title == title,
    )


class ConversationsMixin(StorageBase):
    """/new, /chats, the per-conversation /role, and titles."""

    async def start_conversation(self, user_id: int) -> bool:
        """/new: the next message outside a topic opens a new conversation; the current
        one keeps every message (and /chats goes back to it). False when the current
        conversation holds no history (nothing to keep: it simply stays)."""
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            current = await find_conversation(session, user_id, None)
            if current is None:
                return False
            found = await session.execute(
                select(has_active_messages()).where(conversations.c.id == current)
            )
            if not found.scalar():
                return False
            await session.execute(SET_CURRENT, {"b_user_id": user_id, "b_current": None})
            return True

    async def recent_conversations(
        self, user_id: int, limit: int = RECENT_CONVERSATIONS
    ) -> list[ConversationSummary]:
        """The user's recent conversations outside topics (what /chats lists)."""
        async with self.database.connection(read_only=True) as session:
            rows = await session.execute(recent_statement(user_id, limit), {"b_user_id": user_id})
            return [summary_of(row) for row in rows]

    async def switch_conversation(self, user_id: int, conversation_id: int) -> str | None:
        """Make one of the user's conversations outside topics the current one; its
        title ("" when untitled), or None when it is not theirs (or gone)."""
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            found = await session.execute(
                select(conversations.c.title).where(
                    conversations.c.id == conversation_id,
                    conversations.c.user_id == user_id,
                    conversations.c.telegram_thread_id.is_(None),
                    conversations.c.deleted_at.is_(None),
                )
            )
            row = found.first()
            if row is None:
                return None
            await session.execute(SET_CURRENT, {"b_user_id": user_id, "b_current": conversation_id})
            # Chosen now: not idle (CONVERSATION_IDLE_MINUTES), it takes the next message.
            await touch(session, conversation_id)
            return str(row.title or "")

    async def conversation(
        self, user_id: int, conversation_id: int, limit: int = SHOWN_MESSAGES
    ) -> ConversationView | None:
        """One of the user's live conversations with its newest `limit` messages, those
        trimmed out of the context too (what /export holds of it); None when it is not
        theirs (or deleted)."""
        mine = (
            conversations.c.id == conversation_id,
            conversations.c.user_id == user_id,
            conversations.c.deleted_at.is_(None),
        )
        shown = statements.exportable(user_id) & (Message.conversation_id == conversation_id)
        async with self.database.connection(read_only=True) as session:
            found = await session.execute(
                select(
                    conversations.c.title,
                    conversations.c.telegram_thread_id,
                    (conversations.c.id == CURRENT_OF_USER.scalar_subquery()).label("current"),
                ).where(*mine),
                {"b_user_id": user_id},
            )
            head = found.first()
            if head is None:
                return None
            _row, stored = await self._conversation_settings(session, user_id, conversation_id)
            rows = await session.execute(
                select(
                    Message.role,
                    Message.content,
                    Message.created_at,
                    statements.IS_ACTIVE.label("in_context"),
                    Message.kind,
                )
                .where(shown)
                .order_by(Message.seq.desc())
                .limit(limit)
            )
            newest = [
                ShownMessage(
                    str(r.role),
                    str(r.content),
                    as_utc(r.created_at) or utc_now(),
                    bool(r.in_context),
                    r.kind,
                )
                for r in rows
            ]
            total = (await session.execute(select(func.count()).where(shown))).scalar_one()
        return ConversationView(
            id=conversation_id,
            title=head.title,
            is_current=bool(head.current),
            system_prompt=resolve_prompt(stored, self.settings),
            topic=head.telegram_thread_id,
            messages=newest[::-1],
            omitted=int(total) - len(newest),
        )

    async def delete_conversation(self, user_id: int, conversation_id: int) -> bool:
        """Delete one of the user's conversations: its messages cleared as /reset clears
        them, its title and summary gone, no longer listed, and no longer current (the
        next message opens a new one). False when it is not theirs (or gone already)."""
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            gone = await session.execute(
                update(conversations)
                .where(
                    conversations.c.id == conversation_id,
                    conversations.c.user_id == user_id,
                    conversations.c.deleted_at.is_(None),
                )
                .values(deleted_at=utc_now(), title=None)
                .returning(conversations.c.id)
            )
            if gone.first() is None:
                return False
            await forget_summary(session, user_id, conversation_id)
            await self._soft_delete(session, "reset", in_conversation(user_id, conversation_id))
            await session.execute(
                update(users)
                .where(users.c.id == user_id, users.c.current_conversation_id == conversation_id)
                .values(current_conversation_id=None)
            )
            return True

    async def conversation_role(self, user_id: int, thread_id: int | None = None) -> str:
        """The prompt the current conversation (the topic's) is answered with."""
        async with self.database.connection(read_only=True) as session:
            conversation_id = await find_conversation(session, user_id, thread_id)
            _row, stored = await self._conversation_settings(session, user_id, conversation_id)
        return resolve_prompt(stored, self.settings)

    async def set_conversation_role(
        self, user_id: int, prompt: str | None, thread_id: int | None = None
    ) -> None:
        """/role: the current conversation's (the topic's) prompt, None: back to the
        user's default; its history (and its summary) starts afresh. Other conversations
        keep theirs."""
        stored = None if prompt is None else clean_text(prompt, what="system prompt")
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            conversation_id = await ensure_conversation(session, user_id, thread_id, utc_now())
            await session.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(system_prompt=stored, title=None, last_active_at=utc_now())
            )
            await self._soft_delete(session, "role", in_conversation(user_id, conversation_id))
            await forget_summary(session, user_id, conversation_id)

    async def titled_by(self, user_id: int, conversation_id: int, question: str) -> bool:
        """Whether the conversation is still titled by this question (its first)."""
        expected = short_title(question)
        if expected is None:
            return False
        async with self.database.connection(read_only=True) as session:
            found = await session.execute(
                _titled(user_id, conversation_id, expected).exists().select()
            )
            return bool(found.scalar())

    async def name_conversation(
        self,
        user_id: int,
        conversation_id: int,
        title: str | None,
        question: str,
        cost: TokenUsage | None = None,
    ) -> bool:
        """TITLE_MODEL's name for the conversation, in place of the title its first
        `question` gave it: only if it still has that title (not cleared, forgotten or
        renamed meanwhile). What naming it `cost` is counted either way. False when
        nothing was renamed."""
        named = short_title(without_nul(title or "").strip().strip("\"'«»"))
        expected = short_title(question)
        async with self.database.connection() as session:
            await charge(self, session, user_id, cost)
            if not named or expected is None:
                return False
            renamed = await session.execute(
                update(conversations)
                .where(conversations.c.id.in_(_titled(user_id, conversation_id, expected)))
                .values(title=named)
            )
            return bool(renamed.rowcount)

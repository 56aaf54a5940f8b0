"""DialogueStore for tests: seed a history directly, and read back what is active.

The bot stores a question only through `DialogueStore.ask` and an answer only through
`DialogueStore.complete`. Tests also need histories in shapes a turn would take many calls to
build (an answered question with no turn, an assistant row alone, a pending question no
lease holds), so `SeedingStorage.add_message` writes one message with the same
primitives those two use: the user's lock and slot, the quotas when asked, the
duplicate check, and the trim.
"""

from __future__ import annotations

from sqlalchemy import select

from ai_tg_bot.db.models import MESSAGE_ROLES, Message
from ai_tg_bot.storage import DialogueStore, HistoryMessage, StoredMessage, TokenUsage, utc_now
from ai_tg_bot.storage.base import Seen, refuse_seen
from ai_tg_bot.storage.placement import place_message
from ai_tg_bot.storage.quotas import check_quotas
from ai_tg_bot.storage.records import Attachment, clean_text
from ai_tg_bot.storage.statements import IS_ACTIVE


class SeedingStorage(DialogueStore):
    """`DialogueStore` plus the seeding and reading the tests use."""

    async def add_message(
        self,
        user_id: int,
        role: str,
        content: str,
        *,
        usage: TokenUsage | None = None,
        enforce_quotas: bool = False,
        pending: bool = False,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        kind: str | None = None,
        attachments: list[Attachment] | None = None,
        thread_id: int | None = None,
    ) -> StoredMessage:
        """Store one message in the user's next slot and trim, in one transaction.

        `enforce_quotas` checks the daily and per-minute limits as `ask` does; `pending`
        queues a user message for an answer, otherwise it is stored answered. It goes
        where a message from the user would: their current conversation, or the topic's
        (`thread_id`).
        """
        if role not in MESSAGE_ROLES:
            raise ValueError(f"role must be one of {', '.join(MESSAGE_ROLES)}, not {role!r}")
        content = clean_text(content, allow_empty=bool(attachments))
        async with self.database.connection() as session:
            seq, limits, current, *_ = await self._next_seq(session, user_id)
            now = utc_now()
            if telegram_message_id is not None:
                await refuse_seen(session, Seen(telegram_chat_id, telegram_message_id))
            if enforce_quotas:
                await check_quotas(session, user_id, limits, now, can_buy=self.can_buy)
            conversation_id = await place_message(
                session,
                user_id,
                current=current,
                thread_id=thread_id,
                content=content if role == "user" else None,
                now=now,
                idle_minutes=self.settings.conversation_idle_minutes,
            )
            await self._insert_message(
                session,
                user_id=user_id,
                conversation_id=conversation_id,
                seq=seq,
                role=role,
                content=content,
                created_at=now,
                status=("pending" if pending else "answered") if role == "user" else None,
                telegram_chat_id=telegram_chat_id,
                telegram_message_id=telegram_message_id,
                kind=kind,
                attachments=tuple(attachments or ()),
                usage=usage,
            )
            trimmed = await self._trim(
                session, user_id, limits.max_history_messages, conversation_id
            )
        return StoredMessage(seq, content, trimmed)

    async def load_history(
        self, user_id: int, conversation_id: int | None = None
    ) -> list[HistoryMessage]:
        """The user's active messages (of one conversation, if given), oldest first, as
        the database holds them."""
        query = select(Message.role, Message.content).where(Message.user_id == user_id, IS_ACTIVE)
        if conversation_id is not None:
            query = query.where(Message.conversation_id == conversation_id)
        async with self.database.connection(read_only=True) as session:
            rows = await session.execute(query.order_by(Message.seq))
        return [{"role": role, "content": content} for role, content in rows]

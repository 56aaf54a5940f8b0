"""The user's data as a whole: export it, forget it, and purge what was deleted long ago."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, insert, literal, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncResult

from ai_tg_bot.db import (
    AlbumPart,
    Conversation,
    MemoryFact,
    Message,
    UsageEvent,
    User,
    run,
    utc_now,
)
from ai_tg_bot.errors import BotError
from ai_tg_bot.limits import day_start, resolve_limits, resolve_prompt
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.accounts import clear_choices
from ai_tg_bot.storage.base import StorageBase
from ai_tg_bot.storage.memory import Fact, facts_of
from ai_tg_bot.storage.placement import find_conversation
from ai_tg_bot.storage.quotas import check_quotas

# Rows fetched per round trip while exporting; the export never holds more than this.
EXPORT_FETCH_ROWS = 500
# Rows hard-deleted per purge transaction: short transactions, short row locks.
PURGE_BATCH_ROWS = 5000
# Conversations with no message left, idle past the cutoff and nobody's current one.
_EMPTIED = update(Conversation).where(
    Conversation.deleted_at.is_(None),
    Conversation.last_active_at < bindparam("cutoff"),
    ~exists().where(Message.conversation_id == Conversation.id),
    ~exists().where(User.current_conversation_id == Conversation.id),
)
# An export still marked running after this long was left by a crashed process.
EXPORT_STALE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ExportedMessage:
    """One message of an export. `in_context` is False for messages trimmed out of it."""

    seq: int
    role: str
    content: str
    created_at: datetime
    in_context: bool
    kind: str | None
    status: str | None
    model: str | None
    attachments: list[dict[str, Any]] | None
    # Its conversation: the export groups messages by it, with its title and own role.
    conversation_id: int = 0
    conversation_title: str | None = None
    conversation_prompt: str | None = None
    conversation_topic: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryExport:
    """The prompt of the user's current conversation, and their messages by conversation,
    oldest first, streamed from the database."""

    user_id: int
    system_prompt: str
    is_default_prompt: bool
    messages: AsyncIterator[ExportedMessage]
    # What the model is told about the user (/memory), oldest first.
    memory: tuple[Fact, ...] = ()


class ExportBusyError(BotError):
    """The user's previous export is still being made; one runs at a time."""


class PrivacyStore(StorageBase):
    """Export, forget and purge: each one transaction (purge: one per batch)."""

    @asynccontextmanager
    async def export_slot(self, user_id: int) -> AsyncIterator[None]:
        """Hold the user's one export slot for the block (the whole export and upload).

        Under the user's lock: ExportBusyError while another export of theirs runs (on
        any instance; one left unfinished by a crash frees itself after
        EXPORT_STALE_AFTER), and QuotaExceededError("rate") when their messages and
        exports of the last minute reach RATE_LIMIT_PER_MINUTE.
        """
        event_id = await self._begin_export(user_id)
        try:
            yield
        finally:
            async with self.database.connection() as session:
                await session.execute(
                    update(UsageEvent)
                    .where(UsageEvent.id == event_id)
                    .values(finished_at=utc_now())
                )

    async def _begin_export(self, user_id: int) -> int:
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            now = utc_now()
            mine = (UsageEvent.user_id == user_id) & (UsageEvent.kind == "export")
            running = await session.execute(
                select(UsageEvent.id).where(
                    mine,
                    UsageEvent.finished_at.is_(None),
                    UsageEvent.created_at > now - EXPORT_STALE_AFTER,
                )
            )
            if running.first() is not None:
                raise ExportBusyError(f"an export of user {user_id} is running")
            # The per-minute guard, counting messages and exports alike (no daily limit,
            # and no token budget: an export calls no LLM, and a user out of tokens may
            # still take their data).
            await check_quotas(
                session,
                user_id,
                resolve_limits(None, self.settings),
                now,
                daily=False,
                budget=False,
            )
            inserted = await session.execute(
                insert(UsageEvent)
                .values(user_id=user_id, kind="export", created_at=now)
                .returning(UsageEvent.id)
            )
            return int(inserted.scalar_one())

    @asynccontextmanager
    async def export_history(self, user_id: int) -> AsyncIterator[HistoryExport]:
        """Open the user's export; iterate `messages` inside the `async with` block.

        One read-only transaction with a server-side cursor: rows arrive in batches of
        EXPORT_FETCH_ROWS, so a long history is never loaded whole. Consume promptly (write
        to a file); never await the network inside the block.
        """
        async with self.database.connection(read_only=True) as connection:
            # The prompt the current conversation is answered with (what /role shows).
            current = await find_conversation(connection, user_id, None)
            _row, stored_prompt = await self._conversation_settings(connection, user_id, current)
            memory = tuple(await facts_of(connection, user_id))
            # Grouped by conversation (oldest conversation first), each oldest first.
            rows = await connection.stream(
                select(
                    Message.seq,
                    Message.role,
                    Message.content,
                    Message.created_at,
                    statements.IS_ACTIVE.label("in_context"),
                    Message.kind,
                    Message.status,
                    Message.model,
                    Message.attachments,
                    Message.conversation_id,
                    Conversation.title,
                    Conversation.system_prompt,
                    Conversation.telegram_thread_id,
                )
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(statements.exportable(user_id))
                .order_by(Conversation.created_at, Conversation.id, Message.seq)
                .execution_options(yield_per=EXPORT_FETCH_ROWS)
            )
            try:
                yield HistoryExport(
                    user_id=user_id,
                    system_prompt=resolve_prompt(stored_prompt, self.settings),
                    is_default_prompt=stored_prompt is None,
                    messages=_exported(rows),
                    memory=memory,
                )
            finally:
                await rows.close()

    async def forget_user(self, user_id: int) -> int:
        """Hard-delete the user's messages, conversations, prompt and model; returns
        how many messages.

        What is kept holds none of their words: the `users` row (blocking, the message
        sequence), the limits an administrator set, and today's questions as
        content-free usage events, so that forgetting refunds no quota and lifts no limit.
        Takes the user's row lock first, so a turn writing for this user finishes before
        (and is deleted too) or stores nothing after. Explicit deletes rather than relying
        on the cascade alone: SQLite's full-text index is kept by delete triggers.
        """
        now = utc_now()
        since = min(day_start(now), now - timedelta(minutes=1))
        async with self.database.connection() as connection:
            locked = await run(connection, statements.LOCK_USER, {"b_user_id": user_id})
            if locked.first() is None:
                return 0
            await connection.execute(
                delete(UsageEvent).where(
                    UsageEvent.user_id == user_id, UsageEvent.created_at < since
                )
            )
            await connection.execute(
                insert(UsageEvent).from_select(
                    ["user_id", "kind", "created_at"],
                    select(Message.user_id, literal("message"), Message.created_at).where(
                        Message.user_id == user_id,
                        statements.IS_COUNTED_QUESTION,
                        Message.created_at >= since,
                    ),
                )
            )
            deleted = await connection.execute(delete(Message).where(Message.user_id == user_id))
            # What they asked in groups' shared conversations, and the answers to it
            # (their words are in those answers' context): gone too. The group keeps the
            # rest of its conversation; their questions today stay counted (usage events).
            # Its summary (SUMMARY_MODEL) may hold their words: it goes.
            joined = select(Message.conversation_id).where(Message.author_id == user_id)
            await connection.execute(
                update(Conversation).where(Conversation.id.in_(joined)).values(summary=None)
            )
            in_groups = await connection.execute(
                delete(Message).where(Message.author_id == user_id)
            )
            # Their conversations (titles are their words, prompts their choices) too,
            # and what the model was told about them.
            await connection.execute(delete(Conversation).where(Conversation.user_id == user_id))
            await connection.execute(delete(MemoryFact).where(MemoryFact.user_id == user_id))
            # An album still being collected (bot.albums): its parts are their words.
            await connection.execute(delete(AlbumPart).where(AlbumPart.user_id == user_id))
            await clear_choices(connection, user_id)
            await connection.execute(
                update(User)
                .where(User.id == user_id)
                .values(
                    turn_lease_owner=None,
                    turn_lease_until=None,
                    current_conversation_id=None,
                    updated_at=now,
                )
            )
        return int(deleted.rowcount) + int(in_groups.rowcount)

    async def purge_deleted(self, older_than: timedelta) -> int:
        """Hard-delete soft-deleted messages whose `deleted_at` is older; returns how many.
        Conversations left with nothing (and idle as long, and nobody's current one) are
        marked deleted: /chats lists them no more (a topic's comes back with its topic).

        Runs in batches of PURGE_BATCH_ROWS, each its own transaction. Several instances
        purging at once is harmless: a row deleted by one is simply not found by another.
        """
        cutoff = utc_now() - older_than
        doomed = (
            select(Message.id)
            .where(Message.deleted_at.is_not(None), Message.deleted_at < cutoff)
            .limit(PURGE_BATCH_ROWS)
        )
        total = 0
        while True:
            async with self.database.connection() as connection:
                result = await connection.execute(delete(Message).where(Message.id.in_(doomed)))
            purged = result.rowcount
            total += purged
            if purged < PURGE_BATCH_ROWS:
                break
            await asyncio.sleep(0)  # let the bot's own transactions in between batches
        async with self.database.connection() as connection:
            # Its title was the user's words: it goes with the messages.
            emptied = _EMPTIED.values(deleted_at=utc_now(), title=None, summary=None)
            await connection.execute(emptied, {"cutoff": cutoff})
        return total


async def _exported(rows: AsyncResult[Any]) -> AsyncIterator[ExportedMessage]:
    row: Row[Any]
    async for row in rows:
        yield ExportedMessage(
            seq=int(row.seq),
            role=str(row.role),
            content=str(row.content),
            created_at=row.created_at,
            in_context=bool(row.in_context),
            kind=row.kind,
            status=row.status,
            model=row.model,
            attachments=row.attachments,
            conversation_id=int(row.conversation_id),
            conversation_title=row.title,
            conversation_prompt=row.system_prompt,
            conversation_topic=row.telegram_thread_id,
        )

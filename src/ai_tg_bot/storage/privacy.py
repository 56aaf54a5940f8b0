"""The user's data as a whole: export it, forget it, and purge what was deleted long ago."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncResult

from ai_tg_bot.db.models import Message, User, UserSettings
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.limits import resolve_prompt
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import StorageBase

# Rows fetched per round trip while exporting; the export never holds more than this.
EXPORT_FETCH_ROWS = 500
# Rows hard-deleted per purge transaction: short transactions, short row locks.
PURGE_BATCH_ROWS = 5000


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


@dataclass(frozen=True, slots=True)
class HistoryExport:
    """The user's prompt now, and their messages oldest first, streamed from the database."""

    user_id: int
    system_prompt: str
    is_default_prompt: bool
    messages: AsyncIterator[ExportedMessage]


def exportable(user_id: int) -> Any:
    """The user's messages they still own: active, or trimmed out of the context window.

    What the user cleared (/reset, /role, /retry) and what expired are left out.
    """
    return (Message.user_id == user_id) & or_(
        Message.deleted_at.is_(None), Message.deleted_reason == "trimmed"
    )


class PrivacyStore(StorageBase):
    """Export, forget and purge: each one transaction (purge: one per batch)."""

    @asynccontextmanager
    async def export_history(self, user_id: int) -> AsyncIterator[HistoryExport]:
        """Open the user's export; iterate `messages` inside the `async with` block.

        One read-only transaction with a server-side cursor: rows arrive in batches of
        EXPORT_FETCH_ROWS, so a long history is never loaded whole. Consume promptly (write
        to a file); never await the network inside the block.
        """
        async with self.database.connection(read_only=True) as connection:
            stored_prompt = (
                await connection.execute(
                    select(UserSettings.system_prompt).where(UserSettings.user_id == user_id)
                )
            ).scalar_one_or_none()
            rows = await connection.stream(
                select(
                    Message.seq,
                    Message.role,
                    Message.content,
                    Message.created_at,
                    Message.deleted_at.is_(None).label("in_context"),
                    Message.kind,
                    Message.status,
                    Message.model,
                    Message.attachments,
                )
                .where(exportable(user_id))
                .order_by(Message.seq, Message.created_at)
                .execution_options(yield_per=EXPORT_FETCH_ROWS)
            )
            try:
                yield HistoryExport(
                    user_id=user_id,
                    system_prompt=resolve_prompt(stored_prompt, self.settings),
                    is_default_prompt=stored_prompt is None,
                    messages=_exported(rows),
                )
            finally:
                await rows.close()

    async def forget_user(self, user_id: int) -> int:
        """Hard-delete every row of the user (messages, settings, the user); returns messages.

        Takes the user's row lock first, so a turn writing for this user finishes before
        (and is deleted too) or starts after (as a new user). Explicit deletes rather than
        relying on the cascade alone: SQLite's full-text index is kept by delete triggers.
        """
        async with self.database.connection() as connection:
            await connection.execute(statements.LOCK_USER, {"b_user_id": user_id})
            deleted = await connection.execute(delete(Message).where(Message.user_id == user_id))
            await connection.execute(delete(UserSettings).where(UserSettings.user_id == user_id))
            await connection.execute(delete(User).where(User.id == user_id))
        return deleted.rowcount

    async def purge_deleted(self, older_than: timedelta) -> int:
        """Hard-delete soft-deleted messages whose `deleted_at` is older; returns how many.

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
                return total
            await asyncio.sleep(0)  # let the bot's own transactions in between batches


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
        )

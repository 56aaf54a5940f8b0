"""Albums (Telegram's media groups) waiting to become one question: each part stored as
it arrives, the album taken once no part has come for a moment, by exactly one process
(bot.albums collects them). Kept in the database, so an album survives a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ai_tg_bot.db import AlbumPart, utc_now
from ai_tg_bot.storage.base import StorageBase
from ai_tg_bot.storage.records import without_nul

_COLUMNS = (
    AlbumPart.id,
    AlbumPart.media_group_id,
    AlbumPart.user_id,
    AlbumPart.chat_id,
    AlbumPart.message_id,
    AlbumPart.details,
    AlbumPart.created_at,
)


@dataclass(frozen=True, slots=True)
class StoredPart:
    """One part of an album as stored: who sent it where, and what the bot read of it."""

    media_group_id: str
    user_id: int
    chat_id: int
    message_id: int
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlbumTake:
    """What `take` found: the album's parts, in message order, if it was taken; else
    none, with the time of its newest part (None: no part is left, taken by another)."""

    parts: tuple[StoredPart, ...] = ()
    newest: datetime | None = None


def _storable(value: Any) -> Any:
    """`value` without NUL in any string (JSONB cannot hold `\\u0000`)."""
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, dict):
        return {without_nul(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


class AlbumsStore(StorageBase):
    """Album parts waiting for the rest of their album (`album_parts`)."""

    async def add_part(
        self,
        media_group_id: str,
        user_id: int,
        chat_id: int,
        message_id: int,
        details: dict[str, Any],
    ) -> bool:
        """Store a part; False if this message was stored before (a redelivered update)."""
        make = sqlite.insert if self.database.is_sqlite else postgresql.insert
        async with self.database.connection() as connection:
            inserted = await connection.execute(
                make(AlbumPart)
                .values(
                    media_group_id=media_group_id,
                    user_id=user_id,
                    chat_id=chat_id,
                    message_id=message_id,
                    details=_storable(details),
                    created_at=utc_now(),
                )
                .on_conflict_do_nothing(index_elements=[AlbumPart.chat_id, AlbumPart.message_id])
                .returning(AlbumPart.id)
            )
            return inserted.first() is not None

    async def take(self, media_group_id: str, window_seconds: float) -> AlbumTake:
        """Take the album if its newest part is older than `window_seconds`: its parts
        are deleted and returned, in message order, in this one transaction. The parts
        are locked first, so of several processes taking at once exactly one gets them;
        the others find none left."""
        async with self.database.connection() as connection:
            rows = (
                await connection.execute(
                    select(*_COLUMNS)
                    .where(AlbumPart.media_group_id == media_group_id)
                    .order_by(AlbumPart.message_id, AlbumPart.id)
                    .with_for_update()
                )
            ).all()
            if not rows:
                return AlbumTake()
            newest = max(row.created_at for row in rows)
            if newest > utc_now() - timedelta(seconds=window_seconds):
                return AlbumTake(newest=newest)
            await connection.execute(
                delete(AlbumPart).where(AlbumPart.id.in_([row.id for row in rows]))
            )
        parts = tuple(
            StoredPart(
                row.media_group_id,
                row.user_id,
                row.chat_id,
                row.message_id,
                dict(row.details),
                row.created_at,
            )
            for row in rows
        )
        return AlbumTake(parts, newest)

    async def waiting(self, idle_seconds: float = 0.0) -> list[str]:
        """The albums not taken yet whose newest part is at least `idle_seconds` old (0:
        every album waiting), oldest first."""
        newest = func.max(AlbumPart.created_at)
        cutoff = utc_now() - timedelta(seconds=idle_seconds)
        async with self.database.connection(read_only=True) as connection:
            rows = await connection.execute(
                select(AlbumPart.media_group_id)
                .group_by(AlbumPart.media_group_id)
                .having(newest <= cutoff)
                .order_by(newest)
            )
            return [str(row.media_group_id) for row in rows]

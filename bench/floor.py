"""The floor: Storage's statements for one turn issued with the bare drivers.

Exactly what `Storage.add_message` and `Storage.load_context` send (see storage.py), one
transaction each, but without SQLAlchemy: asyncpg with its prepared-statement cache on
PostgreSQL, aiosqlite with `BEGIN IMMEDIATE` for writers on SQLite (same driver and
threading model as the project), over a plain queue of open connections.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import aiosqlite
import asyncpg

from bench.dbs import asyncpg_dsn, sqlite_path

DEFAULT_PROMPT = "You are a helpful assistant."

# The same statements Storage emits (SQLAlchemy adds casts and repeats parameters; the
# plans are the same).
BUMP = (
    "UPDATE users SET message_seq = message_seq + 1, updated_at = {0} WHERE id = {1}"
    " RETURNING message_seq, (SELECT max_history_messages FROM user_settings"
    " WHERE user_id = {1})"
)
INSERT = (
    "INSERT INTO messages (id, user_id, seq, role, content, content_length, created_at)"
    " VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6})"
)
TRIM = (
    "UPDATE messages SET deleted_at = {0} WHERE deleted_at IS NULL AND user_id = {1}"
    " AND seq < (SELECT seq FROM messages WHERE user_id = {1} AND deleted_at IS NULL"
    " ORDER BY seq DESC LIMIT 1 OFFSET {2})"
)
PROMPT = "SELECT system_prompt FROM user_settings WHERE user_id = {0}"
HISTORY = (
    "SELECT role, content FROM messages WHERE user_id = {0} AND deleted_at IS NULL"
    " ORDER BY seq"
)
_PG = tuple(f"${n}" for n in range(1, 8))
_LITE = tuple(f":p{n}" for n in range(1, 8))


class FloorStore(Protocol):
    """The two storage operations of a turn."""

    async def add_message(self, user_id: int, role: str, content: str) -> None: ...
    async def load_context(self, user_id: int) -> tuple[str, list[dict[str, str]]]: ...


class PgFloor:
    """Raw asyncpg; `connections` plays the part of SQLAlchemy's pool."""

    def __init__(self, connections: list[Any]) -> None:
        self._idle: asyncio.Queue[Any] = asyncio.Queue()
        for connection in connections:
            self._idle.put_nowait(connection)
        self.connections = connections

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        connection = await self._idle.get()
        try:
            yield connection
        finally:
            self._idle.put_nowait(connection)

    async def add_message(self, user_id: int, role: str, content: str) -> None:
        async with self._connection() as connection, connection.transaction():
            now = datetime.now(UTC)
            seq, limit = await connection.fetchrow(BUMP.format(*_PG), now, user_id)
            await connection.execute(
                INSERT.format(*_PG), uuid.uuid4(), user_id, seq, role, content, len(content), now
            )
            await connection.execute(TRIM.format(*_PG), now, user_id, limit - 1)

    async def load_context(self, user_id: int) -> tuple[str, list[dict[str, str]]]:
        async with self._connection() as connection, connection.transaction():
            prompt = await connection.fetchval(PROMPT.format(*_PG), user_id)
            rows = await connection.fetch(HISTORY.format(*_PG), user_id)
        return prompt or DEFAULT_PROMPT, [{"role": r[0], "content": r[1]} for r in rows]


class SqliteFloor:
    """Raw aiosqlite with the project's pragmas and BEGIN IMMEDIATE for writers."""

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for connection in connections:
            self._idle.put_nowait(connection)
        self.connections = connections

    @asynccontextmanager
    async def _transaction(self, begin: str) -> AsyncIterator[aiosqlite.Connection]:
        connection = await self._idle.get()
        try:
            await connection.execute(begin)
            try:
                yield connection
            except BaseException:
                await connection.execute("ROLLBACK")
                raise
            await connection.execute("COMMIT")
        finally:
            self._idle.put_nowait(connection)

    async def add_message(self, user_id: int, role: str, content: str) -> None:
        async with self._transaction("BEGIN IMMEDIATE") as connection:
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
            async with connection.execute(
                BUMP.format(*_LITE), {"p1": now, "p2": user_id}
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None
            seq, limit = row
            await connection.execute(
                INSERT.format(*_LITE),
                dict(zip(("p1", "p2", "p3", "p4", "p5", "p6", "p7"),
                         (uuid.uuid4().hex, user_id, seq, role, content, len(content), now),
                         strict=True)),
            )  # fmt: skip
            await connection.execute(
                TRIM.format(*_LITE), {"p1": now, "p2": user_id, "p3": limit - 1}
            )

    async def load_context(self, user_id: int) -> tuple[str, list[dict[str, str]]]:
        async with self._transaction("BEGIN") as connection:
            async with connection.execute(PROMPT.format(*_LITE), {"p1": user_id}) as cursor:
                found = await cursor.fetchone()
            async with connection.execute(HISTORY.format(*_LITE), {"p1": user_id}) as cursor:
                rows = await cursor.fetchall()
        prompt = found[0] if found and found[0] else DEFAULT_PROMPT
        return prompt, [{"role": r[0], "content": r[1]} for r in rows]


@asynccontextmanager
async def open_floor(url: str, connections: int) -> AsyncIterator[FloorStore]:
    """A floor store over `connections` open connections to the database at `url`."""
    if url.startswith("postgresql"):
        opened = [await asyncpg.connect(asyncpg_dsn(url)) for _ in range(connections)]
        try:
            yield PgFloor(opened)
        finally:
            for connection in opened:
                await connection.close()
        return
    lite: list[aiosqlite.Connection] = []
    try:
        for _ in range(connections):
            connection = await aiosqlite.connect(sqlite_path(url), timeout=30, isolation_level=None)
            lite.append(connection)
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                           "synchronous=NORMAL"):  # fmt: skip
                await connection.execute(f"PRAGMA {pragma}")
        yield SqliteFloor(lite)
    finally:
        for connection in lite:
            await connection.close()

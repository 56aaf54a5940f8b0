"""The floor: the statements DialogueStore sends for one turn, issued with the bare drivers.

Exactly what `DialogueStore.add_message` (with `enforce_quotas` for the user's message, with
usage for the answer) and `DialogueStore.load_context` send, one transaction each, without
SQLAlchemy: asyncpg with its prepared-statement cache on PostgreSQL, over a plain queue of
open connections; on SQLite the standard library's `sqlite3` called directly on the event
loop, as the bot's driver does since ADR 0017 (`db/sqlite.py`): synchronous calls inside
the coroutine, `BEGIN IMMEDIATE` for writers, the WAL checkpointed by a background thread
(`wal_autocheckpoint` off), one connection (nothing awaits inside a transaction, so no
two of one process ever overlap). Mirrors storage/ as of the conversations change
(ADR 0014): the question goes to the user's current conversation, which it touches (and
titles if untitled), or opens one when there is none; trimming and the history are that
conversation's. Keep it in step with the project's statements.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.sqlite import Checkpointer
from ai_tg_bot.storage.placement import short_title
from bench.dbs import asyncpg_dsn, sqlite_path

# SQLAlchemy adds casts and repeats parameters; the plans are the same.
# The slot, locking the user's row; with it their current conversation (NULL: none yet).
BUMP = (
    "UPDATE users SET message_seq = message_seq + 1, updated_at = {0} WHERE id = {1}"
    " RETURNING message_seq, current_conversation_id,"
    " (SELECT max_history_messages FROM user_settings WHERE user_id = {1}),"
    " (SELECT daily_message_limit FROM user_settings WHERE user_id = {1})"
)
# A question touches its conversation and titles it if untitled (conversations.TOUCH_CURRENT).
TOUCH = (
    "UPDATE conversations SET last_active_at = {0}, title = coalesce(title, {1})"
    " WHERE id = {2} RETURNING id"
)
# No current conversation (or a stale id): the question opens one, now the user's current.
OPEN = (
    "INSERT INTO conversations (user_id, title, created_at, last_active_at)"
    " VALUES ({0}, {1}, {2}, {2}) RETURNING id"
)
SET_CURRENT = "UPDATE users SET current_conversation_id = {0} WHERE id = {1}"
QUOTA = (
    "SELECT count(*) FILTER (WHERE created_at >= {0}), count(*) FILTER (WHERE created_at >= {1}),"
    " min(created_at) FILTER (WHERE created_at >= {1}) FROM messages"
    " WHERE user_id = {2} AND role = 'user' AND created_at >= {3}"
)
INSERT = (
    "INSERT INTO messages (id, user_id, conversation_id, seq, role, content, content_length,"
    " created_at, status, telegram_chat_id, telegram_message_id, model, prompt_tokens,"
    " completion_tokens)"
    " VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, NULL, NULL, {9}, {10}, {11})"
)
# Within the conversation only, as statements.TRIM (its other conversations keep theirs).
TRIM = (
    "UPDATE messages SET deleted_at = {0}, deleted_reason = 'trimmed'"
    " WHERE deleted_at IS NULL AND user_id = {1} AND conversation_id = {2}"
    " AND seq < (SELECT seq FROM messages WHERE user_id = {1} AND conversation_id = {2}"
    " AND deleted_at IS NULL ORDER BY seq DESC LIMIT 1 OFFSET {3})"
)
# The settings row and the conversation's own prompt (statements.CONTEXT_SETTINGS).
SETTINGS = (
    "SELECT id, user_id, max_history_messages, system_prompt, daily_message_limit,"
    " max_context_chars, model, created_at, updated_at,"
    " (SELECT system_prompt FROM conversations WHERE id = {1})"
    " FROM user_settings WHERE user_id = {0}"
)
# The conversation's newest history that fits the character budget (the newest message
# always does), as statements.CONTEXT.
HISTORY = (
    "SELECT role, content, running <= {2} OR position = 1 AS fits FROM ("
    "SELECT seq, role, content, sum(content_length) OVER (ORDER BY seq DESC) AS running,"
    " row_number() OVER (ORDER BY seq DESC) AS position"
    " FROM messages WHERE user_id = {0} AND conversation_id = {1} AND deleted_at IS NULL)"
    " AS newest ORDER BY seq"
)
# A turn: BEGIN, bump, quota, touch, insert, trim, COMMIT; BEGIN, settings, history,
# COMMIT; BEGIN, bump, insert, trim, COMMIT. (A user's first question, with no
# conversation yet, also opens one and makes it current: two more, once per user. The
# benchmarks' users are seeded with a current conversation, so a measured turn never does.)
FLOOR_ROUND_TRIPS = 16
Usage = tuple[str, int, int]  # model, prompt tokens, completion tokens
History = list[dict[str, str]]


class FloorQuotaError(Exception):
    """The floor's stand-in for FloorQuotaErrorError (never raised with the bench limits)."""


class Floor:
    """Shared logic; subclasses talk to one driver."""

    placeholders: Sequence[str] = ()

    def __init__(self, settings: Settings, connections: Sequence[Any]) -> None:
        self.settings = settings
        self.connections = list(connections)
        self._idle: asyncio.Queue[Any] = asyncio.Queue()
        for connection in connections:
            self._idle.put_nowait(connection)
        self.sql = {
            name: statement.format(*self.placeholders)
            for name, statement in (("bump", BUMP), ("quota", QUOTA), ("touch", TOUCH),
                                    ("open", OPEN), ("set_current", SET_CURRENT),
                                    ("insert", INSERT), ("trim", TRIM),
                                    ("settings", SETTINGS), ("history", HISTORY))
        }  # fmt: skip

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        connection = await self._idle.get()
        try:
            yield connection
        finally:
            self._idle.put_nowait(connection)

    async def add_message(
        self, user_id: int, role: str, content: str, *, quota: bool = False,
        usage: Usage | None = None, conversation_id: int | None = None,
    ) -> int:  # fmt: skip
        """Store one message; returns its conversation. A question (no `conversation_id`)
        goes to the user's current one, touched, or opened when there is none; an answer
        is given its question's."""
        raise NotImplementedError

    async def load_context(self, user_id: int, conversation_id: int) -> tuple[str, History]:
        raise NotImplementedError

    def check_quota(self, daily: int | None, today_count: int) -> None:
        limit = self.settings.daily_message_limit if daily is None else daily
        if limit and today_count >= limit:
            raise FloorQuotaError

    def budget(self, stored: int | None) -> int:
        # DialogueStore sends `true` instead of the comparison when the budget is 0 (unlimited).
        budget = self.settings.max_context_chars if stored is None else stored
        return budget or 2**31 - 1

    def history_limit(self, stored: int | None) -> int:
        return self.settings.default_max_history_messages if stored is None else stored

    def prompt(self, settings_row: Any) -> str:
        # The conversation's own prompt, else the user's default.
        stored = (settings_row[9] or settings_row[3]) if settings_row else None
        return str(stored or self.settings.default_system_prompt)


class PgFloor(Floor):
    """Raw asyncpg (prepared statements, its default)."""

    placeholders = tuple(f"${n}" for n in range(1, 13))

    async def add_message(
        self, user_id: int, role: str, content: str, *, quota: bool = False,
        usage: Usage | None = None, conversation_id: int | None = None,
    ) -> int:  # fmt: skip
        sql = self.sql
        async with self.connection() as connection, connection.transaction():
            now = datetime.now(UTC)
            seq, current, limit, daily = await connection.fetchrow(sql["bump"], now, user_id)
            if quota:
                today, minute_ago = _day_start(now), now - timedelta(minutes=1)
                counts = await connection.fetchrow(
                    sql["quota"], today, minute_ago, user_id, min(today, minute_ago)
                )
                self.check_quota(daily, counts[0])
            if conversation_id is None:
                title = short_title(content)
                if current is not None:
                    conversation_id = await connection.fetchval(sql["touch"], now, title, current)
                if conversation_id is None:
                    conversation_id = await connection.fetchval(sql["open"], user_id, title, now)
                    await connection.execute(sql["set_current"], conversation_id, user_id)
            model, prompt_tokens, completion_tokens = usage or (None, None, None)
            await connection.execute(
                sql["insert"], uuid.uuid4(), user_id, conversation_id, seq, role, content,
                len(content), now, _status(role), model, prompt_tokens, completion_tokens,
            )  # fmt: skip
            await connection.execute(
                sql["trim"], now, user_id, conversation_id, self.history_limit(limit) - 1
            )
        return int(conversation_id)

    async def load_context(self, user_id: int, conversation_id: int) -> tuple[str, History]:
        async with self.connection() as connection, connection.transaction():
            row = await connection.fetchrow(self.sql["settings"], user_id, conversation_id)
            budget = self.budget(row[5] if row else None)
            rows = await connection.fetch(self.sql["history"], user_id, conversation_id, budget)
        return self.prompt(row), [{"role": r[0], "content": r[1]} for r in rows if r[2]]


class SqliteFloor(Floor):
    """The standard library's sqlite3 on the loop, with the bot's pragmas: each transaction
    runs start to finish in one step of its task, as the bot's do (ADR 0017)."""

    placeholders = tuple(f":p{n}" for n in range(1, 13))

    async def add_message(
        self, user_id: int, role: str, content: str, *, quota: bool = False,
        usage: Usage | None = None, conversation_id: int | None = None,
    ) -> int:  # fmt: skip
        async with self.connection() as connection:  # never waits: one process, no overlap
            return self._add_message(connection, user_id, role, content, quota, usage,
                                     conversation_id)  # fmt: skip

    def _add_message(
        self, connection: sqlite3.Connection, user_id: int, role: str, content: str,
        quota: bool, usage: Usage | None, conversation_id: int | None,
    ) -> int:  # fmt: skip
        sql = self.sql
        with _transaction(connection, "BEGIN IMMEDIATE"):
            moment = datetime.now(UTC)
            now = _lite_time(moment)
            seq, current, limit, daily = _fetchone(connection, sql["bump"], now, user_id)
            if quota:
                today, minute_ago = _day_start(moment), moment - timedelta(minutes=1)
                counts = _fetchone(
                    connection, sql["quota"], _lite_time(today), _lite_time(minute_ago),
                    user_id, _lite_time(min(today, minute_ago)),
                )  # fmt: skip
                self.check_quota(daily, counts[0])
            if conversation_id is None:
                title = short_title(content)
                if current is not None:
                    touched = _fetchone(connection, sql["touch"], now, title, current)
                    conversation_id = touched[0] if touched else None
                if conversation_id is None:
                    opened = _fetchone(connection, sql["open"], user_id, title, now)
                    conversation_id = opened[0]
                    connection.execute(sql["set_current"], _named(conversation_id, user_id))
            model, prompt_tokens, completion_tokens = usage or (None, None, None)
            connection.execute(sql["insert"], _named(
                uuid.uuid4().hex, user_id, conversation_id, seq, role, content, len(content),
                now, _status(role), model, prompt_tokens, completion_tokens,
            ))  # fmt: skip
            connection.execute(
                sql["trim"], _named(now, user_id, conversation_id, self.history_limit(limit) - 1)
            )
        return int(conversation_id)

    async def load_context(self, user_id: int, conversation_id: int) -> tuple[str, History]:
        async with self.connection() as connection:
            with _transaction(connection, "BEGIN"):
                row = _fetchone(connection, self.sql["settings"], user_id, conversation_id)
                budget = self.budget(row[5] if row else None)
                history = _named(user_id, conversation_id, budget)
                rows = connection.execute(self.sql["history"], history).fetchall()
        return self.prompt(row), [{"role": r[0], "content": r[1]} for r in rows if r[2]]


@contextmanager
def _transaction(connection: sqlite3.Connection, begin: str) -> Iterator[None]:
    connection.execute(begin)
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _status(role: str) -> str | None:
    return "answered" if role == "user" else None


def _named(*values: Any) -> dict[str, Any]:
    return {f"p{n}": value for n, value in enumerate(values, start=1)}


def _fetchone(connection: sqlite3.Connection, sql: str, *values: Any) -> Any:
    return connection.execute(sql, _named(*values)).fetchone()


def _lite_time(moment: datetime) -> str:
    # How SQLAlchemy stores a UTC DateTime on SQLite.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@asynccontextmanager
async def open_floor(url: str, settings: Settings, connections: int) -> AsyncIterator[Floor]:
    """A floor over `connections` open connections to the database at `url` (on SQLite
    one, whatever `connections` says: see the module's docstring)."""
    if url.startswith("postgresql"):
        opened = [await asyncpg.connect(asyncpg_dsn(url)) for _ in range(connections)]
        try:
            yield PgFloor(settings, opened)
        finally:
            for connection in opened:
                await connection.close()
        return
    path = sqlite_path(url)
    # As the bot's driver (db/sqlite.py): autocommit at the driver, BEGIN ours.
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    checkpointer = Checkpointer(path)
    try:
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                       "synchronous=NORMAL", "wal_autocheckpoint=0"):  # fmt: skip
            connection.execute(f"PRAGMA {pragma}")
        checkpointer.start()
        yield SqliteFloor(settings, [connection])
    finally:
        checkpointer.stop()
        connection.close()

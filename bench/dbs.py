"""Throwaway benchmark databases (a PostgreSQL database of our own, SQLite in a temp dir)
and bulk seeding with plain SQL, so DialogueStore finds users with long histories: each user
one conversation, their current one, holding all their messages."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from ai_tg_bot.config.settings import Settings
from tests.dbs import create_pg_database, drop_pg_database, migrate

BACKENDS = ("postgresql", "sqlite")
# How SQLAlchemy stores a DateTime on SQLite; rows seeded here must read back the same way.
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_SEED_TIME = "2000-01-01 00:00:00.000000"
# A seeded user's conversation is titled already, as after its first question.
SEED_TITLE = "seeded conversation"


def bench_settings(url: str, **overrides: Any) -> Settings:
    """Settings for a benchmark: no `.env`, no per-minute limit, and a daily limit so high
    it never bites but is still checked (the check is part of a turn's cost)."""
    values: dict[str, Any] = {"database_url": url, "daily_message_limit": 1_000_000,
                              "rate_limit_per_minute": 0}  # fmt: skip
    return Settings(_env_file=None, **(values | overrides))


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a plain libpq DSN for asyncpg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(url: str) -> str:
    """The file of a `sqlite+aiosqlite:///...` URL."""
    return str(make_url(url).database)


@asynccontextmanager
async def bench_database(backend: str) -> AsyncIterator[str]:
    """A freshly migrated database of `backend`, removed afterwards; yields its URL."""
    if backend == "postgresql":
        url = await create_pg_database("ai_tg_bot_bench")
        try:
            await migrate(url)
            yield url
        finally:
            await drop_pg_database(url)
        return
    with tempfile.TemporaryDirectory(prefix="ai_tg_bot_bench_") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await migrate(url)
        yield url


async def seed(
    url: str,
    first_user: int,
    users: int,
    *,
    messages_per_user: int,
    active: int,
    limit: int = 50,
    content_chars: int = 200,
) -> None:
    """Users `first_user..+users` with `messages_per_user` messages each, the newest
    `active` of them live and the rest soft-deleted, and `users.message_seq` consistent.

    Each user gets one conversation, their current one (`users.current_conversation_id`),
    active as of now (`last_active_at`: the seed time, so no idle timeout opens another),
    and every one of their messages belongs to it. Set-based: one statement per table
    (per slice of users for the messages), never a statement per row."""
    if users <= 0:
        return
    pad = "x" * max(content_chars - 24, 0)
    if url.startswith("postgresql"):
        await _seed_pg(url, first_user, users, messages_per_user, active, limit, pad)
    else:
        await asyncio.to_thread(
            _seed_sqlite, url, first_user, users, messages_per_user, active, limit, pad
        )


# One conversation per user, made their current one, in one statement.
_PG_SEED_CONVERSATIONS = """
WITH opened AS (
    INSERT INTO conversations (user_id, title, created_at, last_active_at)
    SELECT u, $3, now() - interval '7 days', now()
    FROM generate_series($1::bigint, $2::bigint) AS u
    RETURNING id, user_id
)
UPDATE users SET current_conversation_id = opened.id
FROM opened WHERE users.id = opened.user_id
"""
# Each message in its user's (current) conversation, read off the user's row.
_PG_SEED_MESSAGES = """
INSERT INTO messages (id, user_id, conversation_id, seq, role, status, content,
                      content_length, created_at, deleted_at)
SELECT gen_random_uuid(), users.id, users.current_conversation_id, s,
       CASE WHEN s % 2 = 1 THEN 'user' ELSE 'assistant' END,
       CASE WHEN s % 2 = 1 THEN 'answered' END, c, length(c), now() - interval '7 days',
       CASE WHEN s <= $3 - $4 THEN now() - interval '7 days' END
FROM users,
     generate_series(1, $3::bigint) AS s,
     LATERAL (SELECT 'seeded message ' || s || ' ' || $5::text) AS t(c)
WHERE users.id BETWEEN $1::bigint AND $2::bigint
"""


async def _seed_pg(
    url: str, first: int, users: int, per_user: int, active: int, limit: int, pad: str
) -> None:
    last = first + users - 1
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO users (id, message_seq)"
                " SELECT u, $3 FROM generate_series($1::bigint, $2::bigint) u",
                first, last, per_user,
            )  # fmt: skip
            await connection.execute(
                "INSERT INTO user_settings (user_id, max_history_messages)"
                " SELECT u, $3 FROM generate_series($1::bigint, $2::bigint) u",
                first, last, limit,
            )  # fmt: skip
            await connection.execute(_PG_SEED_CONVERSATIONS, first, last, SEED_TITLE)
            # In slices, so a million rows never make one giant transaction's worth of WAL.
            step = max(1, 200_000 // max(per_user, 1))
            for low in range(first, last + 1, step):
                high = min(low + step - 1, last)
                await connection.execute(_PG_SEED_MESSAGES, low, high, per_user, active, pad)
    finally:
        await connection.close()


_SQLITE_SEED_CONVERSATIONS = """
INSERT INTO conversations (user_id, title, created_at, last_active_at)
SELECT id, :title, :at, :now FROM users WHERE id BETWEEN :low AND :high
"""
_SQLITE_SEED_CURRENT = """
UPDATE users SET current_conversation_id =
    (SELECT c.id FROM conversations c WHERE c.user_id = users.id)
WHERE id BETWEEN :low AND :high
"""
_SQLITE_SEED_MESSAGES = """
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :per_user)
INSERT INTO messages (id, user_id, conversation_id, seq, role, status, content,
                      content_length, created_at, deleted_at)
SELECT lower(hex(randomblob(16))), users.id, users.current_conversation_id, s.n,
       CASE WHEN s.n % 2 = 1 THEN 'user' ELSE 'assistant' END,
       CASE WHEN s.n % 2 = 1 THEN 'answered' END,
       'seeded message ' || s.n || ' ' || :pad,
       length('seeded message ' || s.n || ' ' || :pad), :at,
       CASE WHEN s.n <= :per_user - :active THEN :at END
FROM users, s WHERE users.id BETWEEN :low AND :high
"""


def _seed_sqlite(
    url: str, first: int, users: int, per_user: int, active: int, limit: int, pad: str
) -> None:
    connection = sqlite3.connect(sqlite_path(url), isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA cache_size=-262144")  # 256 MiB: random UUID keys
        connection.execute("BEGIN IMMEDIATE")
        ids = range(first, first + users)
        connection.executemany(
            "INSERT INTO users (id, message_seq) VALUES (?, ?)", ((u, per_user) for u in ids)
        )
        connection.executemany(
            "INSERT INTO user_settings (user_id, max_history_messages) VALUES (?, ?)",
            ((u, limit) for u in ids),
        )
        now = datetime.now(UTC).strftime(SQLITE_TIME_FORMAT)
        every = {"low": first, "high": first + users - 1}
        connection.execute(
            _SQLITE_SEED_CONVERSATIONS, every | {"title": SEED_TITLE, "at": SQLITE_SEED_TIME,
                                                 "now": now}
        )  # fmt: skip
        connection.execute(_SQLITE_SEED_CURRENT, every)
        step = max(1, 200_000 // max(per_user, 1))
        for low in range(first, first + users, step):
            params = {"per_user": per_user, "active": active, "pad": pad, "at": SQLITE_SEED_TIME}
            params |= {"low": low, "high": min(low + step - 1, first + users - 1)}
            connection.execute(_SQLITE_SEED_MESSAGES, params)
        connection.execute("COMMIT")
    finally:
        connection.close()


async def analyze(url: str) -> None:
    """Fresh planner statistics (and, on PostgreSQL, a vacuumed visibility map)."""
    if url.startswith("postgresql"):
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()
        return

    def run() -> None:
        connection = sqlite3.connect(sqlite_path(url), isolation_level=None)
        try:
            connection.execute("ANALYZE")
        finally:
            connection.close()

    await asyncio.to_thread(run)


async def active_counts(url: str, first_user: int, users: int) -> dict[int, int]:
    """Active (not soft-deleted) messages per user, for sanity checks after a run."""
    query = (
        "SELECT user_id, count(*) FROM messages WHERE deleted_at IS NULL"
        " AND user_id BETWEEN {a} AND {b} GROUP BY user_id"
    )
    if url.startswith("postgresql"):
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await connection.fetch(query.format(a="$1", b="$2"), first_user,
                                          first_user + users - 1)  # fmt: skip
        finally:
            await connection.close()
        return {int(r[0]): int(r[1]) for r in rows}

    def run() -> dict[int, int]:
        connection = sqlite3.connect(sqlite_path(url))
        try:
            found = connection.execute(
                query.format(a="?", b="?"), (first_user, first_user + users - 1)
            ).fetchall()
        finally:
            connection.close()
        return {int(u): int(n) for u, n in found}

    return await asyncio.to_thread(run)

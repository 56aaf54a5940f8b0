"""Database: stale pooled connections on PostgreSQL, inside and outside the ping window."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ai_tg_bot.db import database as database_module
from ai_tg_bot.db.database import Database
from tests.dbs import _asyncpg_dsn
from tests.fakes.waiting import poll_until


async def backend_pid(database: Database) -> int:
    async with database.connection() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(url: str, pid: int) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


def pooled_driver_connection(database: Database) -> Any:
    """The asyncpg connection resting in a one-connection pool."""
    pool: Any = database.engine.sync_engine.pool
    return pool._pool._queue._queue[0].dbapi_connection.driver_connection


def one_connection(url: str, window: float, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setattr(database_module, "PRE_PING_BYPASS_SECONDS", window)
    return Database(url, pool_size=1, max_overflow=0)


async def test_a_connection_killed_while_idle_is_replaced_by_the_pre_ping(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = one_connection(pg_url, 0.0, monkeypatch)  # every checkout pings
    try:
        first = await backend_pid(database)
        await terminate(pg_url, first)
        second = await backend_pid(database)  # no error: the ping found it dead
        assert second != first
    finally:
        await database.close()


async def test_inside_the_window_a_connection_the_server_closed_is_still_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = one_connection(pg_url, 3600.0, monkeypatch)  # no ping for live-looking ones
    try:
        first = await backend_pid(database)
        await terminate(pg_url, first)
        # Once the driver saw the socket close, the checkout pings, and the ping replaces
        # it. (pg_terminate_backend only signals: on a busy machine the close comes later.)
        await poll_until(lambda: pooled_driver_connection(database).is_closed(), 10, str)
        assert await backend_pid(database) != first
    finally:
        await database.close()


@pytest.mark.parametrize(("window", "expected"), [(3600.0, 0), (0.0, 4)])
async def test_only_connections_idle_past_the_window_are_pinged(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, window: float, expected: int
) -> None:
    pings = 0
    dialect_class = type(create_async_engine(pg_url).dialect)
    real = dialect_class.do_ping

    def counting(self: Any, dbapi_connection: Any) -> bool:
        nonlocal pings
        pings += 1
        return bool(real(self, dbapi_connection))

    monkeypatch.setattr(dialect_class, "do_ping", counting)
    database = one_connection(pg_url, window, monkeypatch)
    try:
        for _ in range(5):
            await backend_pid(database)
    finally:
        await database.close()
    # The first checkout opens a fresh connection, which is never pinged.
    assert pings == expected

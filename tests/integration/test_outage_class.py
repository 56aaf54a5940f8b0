"""Which database errors are an outage (waited out) and which would only recur (reported)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.outages import STORAGE_ERRORS, is_outage
from ai_tg_bot.llm.client import LLMClient
from ai_tg_bot.turns.service import TurnService
from tests.seeding import SeedingStorage


async def raised_by(database: Database, sql: str) -> BaseException:
    try:
        async with database.session() as session:
            await session.execute(text(sql))
    except STORAGE_ERRORS as exc:
        return exc
    raise AssertionError(f"{sql!r} did not fail")


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO users (id, message_seq) VALUES (1, 0), (1, 0)",  # a constraint
        "SELECT * FROM no_such_table",  # a wrong statement
        "INSERT INTO user_settings (user_id, max_history_messages) VALUES (999999, 5)",  # FK
    ],
)
async def test_errors_that_would_recur_are_not_an_outage(database: Database, sql: str) -> None:
    exc = await raised_by(database, sql)
    assert not is_outage(exc), repr(exc)


def test_connection_class_errors_are_an_outage() -> None:
    assert is_outage(ConnectionRefusedError())
    assert is_outage(TimeoutError())
    assert is_outage(PoolTimeoutError("pool exhausted"))
    locked = OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
    assert is_outage(locked)
    missing = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    assert not is_outage(missing)
    assert not is_outage(IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE failed")))

    class ServerError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    for code, outage in [("57P01", True), ("08006", True), ("40001", True), ("23505", False)]:
        assert is_outage(DBAPIError("SELECT 1", {}, ServerError(code))) is outage, code


async def test_a_recurring_error_is_raised_at_once_not_retried(
    database: Database, settings: Settings
) -> None:
    chat = TurnService(SeedingStorage(database, settings), LLMClient(settings))
    # An outage is retried for this long; a recurring error must fail on the first call.
    chat.storage_patience_seconds = 60
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise await raised_by(database, "SELECT * FROM no_such_table")

    with pytest.raises(DBAPIError):
        await chat._durably(failing)
    assert calls == 1

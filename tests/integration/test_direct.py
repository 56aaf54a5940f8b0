"""db.direct: a statement sent on the driver's own connection reads and writes exactly
what SQLAlchemy's execution would, on both backends, inside the same transaction."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from ai_tg_bot.db import Database, Message, User, run, utc_now
from ai_tg_bot.storage import NewQuestion, statements
from tests.seeding import SeedingStorage

USER = 8181


def _message(seq: int, **overrides: Any) -> dict[str, Any]:
    values = {
        "id": uuid.uuid4(), "user_id": USER, "conversation_id": None, "seq": seq,
        "role": "user", "content": "hello", "content_length": 5, "created_at": utc_now(),
        "status": None, "telegram_chat_id": None, "telegram_message_id": None, "kind": None,
        "attachments": [{"kind": "photo", "file_id": "x"}], "model": None,
        "prompt_tokens": None, "completion_tokens": None, "deleted_at": None,
        "deleted_reason": None, "author_id": None,
    }  # fmt: skip
    return values | overrides


async def test_reads_match_sqlalchemy_row_for_row(
    storage: SeedingStorage, database: Database
) -> None:
    await storage.ask(NewQuestion(USER, "the first question", 77, 1), owner="me", lease_seconds=60)
    now = utc_now()
    cases: list[tuple[Any, dict[str, Any]]] = [
        (statements.STANDING, {"b_user_id": USER}),
        (statements.SEEN, {"chat_id": 77, "message_id": 1}),
        (statements.SETTINGS_ROW, {"b_user_id": USER}),
        (
            statements.QUOTA_COUNTS,
            {
                "b_user_id": USER,
                "today": now - timedelta(days=1),
                "minute_ago": now - timedelta(minutes=1),
                "since": now - timedelta(days=1),
            },
        ),
    ]
    async with database.connection(read_only=True) as connection:
        for statement, parameters in cases:
            direct = [tuple(row) for row in (await run(connection, statement, parameters)).all()]
            by_sqlalchemy = (await connection.execute(statement, parameters)).all()
            assert direct == [tuple(row) for row in by_sqlalchemy], statement
            assert direct, "each case reads a row"


async def test_writes_take_python_defaults_and_types_as_sqlalchemy_does(
    storage: SeedingStorage, database: Database
) -> None:
    await storage.add_message(USER, "user", "opens a conversation")
    before = utc_now()
    async with database.connection(read_only=True) as connection:
        conversation_id = (
            await connection.execute(
                text("SELECT conversation_id FROM messages WHERE user_id = :u"), {"u": USER}
            )
        ).scalar()
    async with database.connection() as connection:
        bumped = (await run(connection, statements.NEXT_SEQ, {"b_user_id": USER})).one()
        seq = int(bumped.message_seq) - 1
        await run(
            connection,
            statements.INSERT_MESSAGE,
            _message(seq, conversation_id=conversation_id),  # no `attempts`: its default
        )
    async with database.connection(read_only=True) as connection:
        stored = (
            await connection.execute(
                select(Message.attempts, Message.attachments, Message.created_at).where(
                    Message.user_id == USER, Message.seq == seq
                )
            )
        ).one()
        updated = (
            await connection.execute(select(User.updated_at).where(User.id == USER))
        ).scalar()
    assert stored.attempts == 0, "the column's Python default"
    assert stored.attachments == [{"kind": "photo", "file_id": "x"}]
    assert stored.created_at >= before
    assert updated is not None
    assert updated >= before, "NEXT_SEQ stamped updated_at (its onupdate)"


async def test_a_constraint_broken_raises_sqlalchemy_integrity_error_and_rolls_back(
    storage: SeedingStorage, database: Database
) -> None:
    await storage.add_message(USER, "user", "first")
    async with database.connection(read_only=True) as connection:
        taken = (
            await connection.execute(
                text("SELECT seq, conversation_id FROM messages WHERE user_id = :u"), {"u": USER}
            )
        ).one()
    with pytest.raises(IntegrityError):
        async with database.connection() as connection:
            await run(
                connection,
                statements.INSERT_MESSAGE,
                _message(int(taken.seq), conversation_id=taken.conversation_id),
            )
    async with database.connection() as connection:  # the connection is usable again
        found = await run(connection, statements.STANDING, {"b_user_id": USER})
        assert found.first() is not None


async def test_expanding_parameters_go_through_sqlalchemy(
    storage: SeedingStorage, database: Database
) -> None:
    await storage.ensure_user(USER)
    async with database.connection() as connection:
        result = await run(
            connection,
            statements.RENEW_LEASES,
            {"b_user_ids": [USER], "b_owners": ["nobody"], "b_until": utc_now()},
        )
        assert result.rowcount == 0

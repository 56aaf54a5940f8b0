"""RETENTION_DAYS purge on both backends: old soft-deleted rows go, everything else stays."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import Message
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.storage import privacy as privacy_module
from ai_tg_bot.storage.privacy import PrivacyStore
from tests.seeding import SeedingStorage

USER = 3101
OTHER = 3202
ROOT = Path(__file__).resolve().parents[2]


async def seed(storage: SeedingStorage, database: Database, user_id: int) -> None:
    """Per user: 2 deleted 30 days ago, 2 deleted 2 days ago, 2 deleted just now, 2 active."""
    for number in range(8):
        await storage.add_message(user_id, "user", f"{user_id} message {number}")
    ages = {0: 30, 1: 30, 2: 2, 3: 2}
    async with database.session() as session:
        for number in range(6):
            await session.execute(
                update(Message)
                .where(Message.user_id == user_id, Message.content == f"{user_id} message {number}")
                .values(
                    deleted_at=utc_now() - timedelta(days=ages.get(number, 0)),
                    deleted_reason="trimmed" if number % 2 else "reset",
                )
            )


async def contents(database: Database, user_id: int) -> list[str]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text("SELECT content FROM messages WHERE user_id = :u ORDER BY seq"), {"u": user_id}
        )
        return [row[0] for row in rows]


async def check_sqlite_index(database: Database) -> None:
    """SQLite's full-text index still matches the messages table (kept by triggers)."""
    if database.is_sqlite:
        async with database.session() as session:
            await session.execute(
                text("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
            )


@pytest.fixture
def privacy(database: Database, settings: Settings) -> PrivacyStore:
    return PrivacyStore(database, settings)


async def test_purge_removes_only_old_soft_deleted_messages(
    storage: SeedingStorage, database: Database, privacy: PrivacyStore
) -> None:
    await seed(storage, database, USER)
    await seed(storage, database, OTHER)
    assert await privacy.purge_deleted(timedelta(days=7)) == 4  # two per user
    for user_id in (USER, OTHER):
        assert await contents(database, user_id) == [
            f"{user_id} message {number}" for number in range(2, 8)
        ]
    assert await privacy.purge_deleted(timedelta(days=7)) == 0, "a second run finds nothing"
    assert await privacy.purge_deleted(timedelta(days=1)) == 4, "then the 2-day-old ones"
    assert await contents(database, USER) == [f"{USER} message {n}" for n in range(4, 8)]
    await check_sqlite_index(database)


async def test_purge_works_in_batches_and_concurrent_purges_are_harmless(
    storage: SeedingStorage,
    database: Database,
    privacy: PrivacyStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(privacy_module, "PURGE_BATCH_ROWS", 3)
    for user_id in range(4000, 4005):
        await seed(storage, database, user_id)
    assert await privacy.purge_deleted(timedelta(days=7)) == 10  # 4 batches: 3 + 3 + 3 + 1
    for user_id in range(4005, 4010):
        await seed(storage, database, user_id)
    counts = await asyncio.gather(*(privacy.purge_deleted(timedelta(days=7)) for _ in range(4)))
    assert sum(counts) == 10, counts
    for user_id in range(4000, 4010):
        assert len(await contents(database, user_id)) == 6
    await check_sqlite_index(database)


async def test_make_db_purge_runs_once_and_logs_the_count(
    storage: SeedingStorage, database: Database, database_url: str, tmp_path: Path
) -> None:
    await seed(storage, database, USER)
    env = {k: v for k, v in os.environ.items() if k not in {"RETENTION_DAYS", "LOG_LEVEL"}}
    env |= {"DATABASE_URL": database_url, "PYTHONPATH": str(ROOT / "src")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ai_tg_bot.privacy.retention", "--days", "7",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "purged 2 soft-deleted messages" in stderr.decode()
    assert len(await contents(database, USER)) == 6

    env["RETENTION_DAYS"] = ""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ai_tg_bot.privacy.retention",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "nothing purged" in stderr.decode()
    assert len(await contents(database, USER)) == 6, "unset: keep forever"

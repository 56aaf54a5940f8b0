"""A migration that fails leaves no half-state: the next start migrates as if it never ran.

SQLite used to run DDL outside the transaction, so a batch migration that failed midway
left `_alembic_tmp_<table>` behind and every later upgrade failed on it. Now one upgrade
run is one transaction on both backends, and leftovers from older versions are dropped.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tests.dbs import ROOT, alembic_config, migrate
from tests.integration.test_migrations import upgrade_at_once

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
REAL_HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
BEFORE_HEAD = "35313cf1db1b"  # the revision before REAL_HEAD

# On top of the real head: add a NOT NULL column without a default to a table with rows.
# On SQLite the batch copy is forced, so it fails after `_alembic_tmp_messages` exists
# (while copying the rows); on PostgreSQL the ALTER itself fails.
FAILING_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "f00dfa11ed01"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("messages", recreate=recreate) as batch_op:
        batch_op.add_column(sa.Column("must_have", sa.Integer(), {default}nullable=False))


def downgrade():
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("must_have")
"""


def scripts_with_extra_revision(tmp_path: Path, url: str, *, fixed: bool) -> Config:
    """The project's migrations plus one more on top: failing, or its fixed version."""
    location = tmp_path / ("scripts-fixed" if fixed else "scripts-failing")
    if not location.exists():
        shutil.copytree(
            ROOT / "src" / "ai_tg_bot" / "migrations",
            location,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        revision = FAILING_REVISION.format(
            down=REAL_HEAD, default='server_default="0", ' if fixed else ""
        )
        (location / "versions" / "f00dfa11ed01_extra.py").write_text(revision)
    config = alembic_config(url)
    config.set_main_option("script_location", str(location))
    return config


def describe(connection: Connection) -> dict[str, Any]:
    """Tables, their columns and indexes: enough to see a half-applied migration."""
    inspector = inspect(connection)
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)]
        indexes = sorted(str(i["name"]) for i in inspector.get_indexes(table))
        schema[table] = (columns, indexes)
    return schema


async def snapshot(url: str) -> tuple[dict[str, Any], str, list[tuple[Any, ...]]]:
    """The schema, the recorded revision and the stored messages."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            schema = await connection.run_sync(describe)
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            rows = await connection.execute(text("SELECT seq, content FROM messages ORDER BY seq"))
            return schema, str(version.scalar_one()), [tuple(row) for row in rows]
    finally:
        await engine.dispose()


async def add_rows(url: str) -> None:
    """A user with two messages, so copying the table has something to copy."""
    sqlite = url.startswith("sqlite")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO users (id, message_seq, is_blocked, created_at, updated_at) "
                     "VALUES (1, 2, false, :now, :now)"),
                {"now": NOW},
            )  # fmt: skip
            for seq in (1, 2):
                await connection.execute(
                    text("INSERT INTO messages (id, user_id, seq, role, content, content_length, "
                         "created_at, status) VALUES (:id, 1, :seq, 'user', :content, 5, :now, "
                         "'answered')"),
                    {"id": str(uuid.uuid4()) if sqlite else uuid.uuid4(), "seq": seq,
                     "content": f"row {seq}", "now": NOW},
                )  # fmt: skip
    finally:
        await engine.dispose()


async def upgrade(config: Config, revision: str = "head") -> None:
    await asyncio.to_thread(command.upgrade, config, revision)


async def test_a_failed_migration_rolls_back_whole_and_the_next_upgrade_succeeds(
    empty_url: str, tmp_path: Path
) -> None:
    await migrate(empty_url, BEFORE_HEAD)
    await add_rows(empty_url)
    before = await snapshot(empty_url)

    # One run: the real head's migration succeeds, then the extra one fails midway.
    failing = scripts_with_extra_revision(tmp_path, empty_url, fixed=False)
    with pytest.raises(Exception, match="must_have"):
        await upgrade(failing)

    schema, version, rows = await snapshot(empty_url)
    assert not [t for t in schema if t.startswith("_alembic_tmp_")], schema.keys()
    assert (schema, version, rows) == before, "the whole run is undone, not only the failed step"

    # The same run again on the same file, with the migration fixed: it simply works.
    await upgrade(scripts_with_extra_revision(tmp_path, empty_url, fixed=True))
    schema, version, rows = await snapshot(empty_url)
    assert version == "f00dfa11ed01"
    assert rows == before[2]
    assert "must_have" in [column[0] for column in schema["messages"][0]]
    assert not [t for t in schema if t.startswith("_alembic_tmp_")]


async def test_a_copy_left_by_an_older_version_is_dropped_and_data_kept(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate(url, BEFORE_HEAD)
    await add_rows(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            # What a failed batch migration used to leave behind.
            await connection.execute(
                text("CREATE TABLE _alembic_tmp_messages AS SELECT * FROM messages")
            )
    finally:
        await engine.dispose()

    await migrate(url)

    schema, version, rows = await snapshot(url)
    assert "_alembic_tmp_messages" not in schema
    assert version == REAL_HEAD
    assert rows == [(1, "row 1"), (2, "row 2")]


async def test_a_copy_whose_table_is_gone_stops_the_upgrade_and_is_kept(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}"
    await migrate(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            # The failure came between dropping the table and renaming its copy.
            await connection.execute(text("CREATE TABLE _alembic_tmp_notes (id INTEGER)"))
            await connection.execute(text("INSERT INTO _alembic_tmp_notes VALUES (1)"))
        with pytest.raises(RuntimeError, match="'notes' is missing and '_alembic_tmp_notes'"):
            await migrate(url)
        async with engine.connect() as connection:
            kept = await connection.execute(text("SELECT count(*) FROM _alembic_tmp_notes"))
            assert kept.scalar_one() == 1
    finally:
        await engine.dispose()


async def test_processes_migrating_one_sqlite_file_at_once_take_turns(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    await upgrade_at_once(url, processes=3)
    _, version, _ = await snapshot(url)
    assert version == REAL_HEAD

"""Test databases: a throwaway PostgreSQL database per run and SQLite files, migrated."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def test_database_url() -> str:
    """Where the tests find a PostgreSQL server they may create databases on."""
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL


def in_ci() -> bool:
    """CI must not skip the PostgreSQL half; a laptop without PostgreSQL may."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_pg_database(prefix: str = "ai_tg_bot_test") -> str:
    """Create a fresh, empty database on the test server and return its URL."""
    server_url = make_url(test_database_url())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_asyncpg_dsn(str(server_url)), timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server_url.set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    """Drop a database made by `create_pg_database`, closing anyone still connected."""
    name = make_url(url).database
    server = make_url(test_database_url()).render_as_string(hide_password=False)
    connection = await asyncpg.connect(_asyncpg_dsn(server), timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def pg_reachable() -> str | None:
    """None when the test server answers, else why not."""
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(test_database_url()), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


def alembic_config(url: str) -> Config:
    """An Alembic config aimed at `url`, without touching logging."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


async def migrate(url: str, revision: str = "head") -> None:
    """`alembic upgrade` in a worker thread (env.py runs its own event loop)."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def downgrade(url: str, revision: str) -> None:
    """`alembic downgrade` in a worker thread."""
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)

"""Alembic environment: async engine, the bot's own Settings, one migrator at a time."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic.autogenerate.api import AutogenContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from ai_tg_bot.config import load_settings
from ai_tg_bot.db.database import ensure_sqlite_directory
from ai_tg_bot.db.models import Base
from ai_tg_bot.db.types import UTCDateTime
from alembic import context

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
# Any fixed number works; it only has to be the same for every instance of the bot.
MIGRATION_LOCK_KEY = 7_202_611_220


def database_url() -> str:
    """The URL given by the caller (tests, the bot), else DATABASE_URL from Settings."""
    given = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return str(given) if given else load_settings().database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render project column types as plain SQLAlchemy ones, so migrations import nothing."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave SQLite's FTS5 tables (made by a migration, not the models) out of autogenerate."""
    return not (type_ == "table" and name is not None and name.startswith("messages_fts"))


def configure(url: str, connection: Connection | None = None) -> None:
    context.configure(
        url=url if connection is None else None,
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
        render_item=render_item,
        include_object=include_object,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    configure(database_url())
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    configure(database_url(), connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Instances starting together: one migrates, the others wait here and then
            # find nothing left to do (the current revision is read after the lock).
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


async def run_migrations_online() -> None:
    url = database_url()
    ensure_sqlite_directory(url)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())

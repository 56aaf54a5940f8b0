"""Alembic environment: async engine, the bot's own Settings, one migrator at a time."""

from __future__ import annotations

import asyncio
import logging
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import event, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ai_tg_bot.config import load_settings
from ai_tg_bot.db import SQLITE_BUSY_TIMEOUT_MS, Base, UTCDateTime, ensure_sqlite_directory

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

log = logging.getLogger("alembic.env")
target_metadata = Base.metadata
# Any fixed number works; it only has to be the same for every instance of the bot.
MIGRATION_LOCK_KEY = 7_202_611_220
# Alembic's batch mode on SQLite copies a table through "_alembic_tmp_<name>" (cut to 50).
BATCH_TEMP_PREFIX = "_alembic_tmp_"
BATCH_TEMP_MAX_LENGTH = 50


def database_url() -> str:
    """The URL given by the caller (tests, the bot), else DATABASE_URL from Settings."""
    given = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return str(given) if given else load_settings().migration_url


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
    sqlite = url.startswith("sqlite")
    context.configure(
        url=url if connection is None else None,
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        # SQLite can roll DDL back; Alembic assumes it cannot and would commit each step.
        # With the BEGIN below, one upgrade run is one transaction: all or nothing.
        transactional_ddl=True if sqlite else None,
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


def drop_leftover_batch_tables(connection: Connection) -> None:
    """Drop the copies a batch migration left behind when it failed outside a transaction.

    Earlier versions ran SQLite DDL in autocommit mode, so a batch migration that failed
    halfway left "_alembic_tmp_<table>" behind, and every later run failed on it. The
    original table still exists then and holds the data; the copy is dropped. If the
    original is gone (the failure came between dropping it and renaming the copy), the
    copy holds the only rows: stop and say so rather than guess.
    """
    tables = {
        str(row[0])
        for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    for leftover in sorted(t for t in tables if t.startswith(BATCH_TEMP_PREFIX)):
        stem = leftover.removeprefix(BATCH_TEMP_PREFIX)
        cut = len(leftover) >= BATCH_TEMP_MAX_LENGTH  # the name was cut: a prefix of the original
        originals = [t for t in tables if t == stem or (cut and t.startswith(stem))]
        originals = [t for t in originals if not t.startswith(BATCH_TEMP_PREFIX)]
        if not originals:
            raise RuntimeError(
                f"table {stem!r} is missing and {leftover!r} holds its rows: an earlier "
                f"migration stopped halfway; check {leftover!r} and rename it to {stem!r}"
            )
        log.warning("dropping %s, left behind by an earlier failed migration", leftover)
        connection.exec_driver_sql(f'DROP TABLE "{leftover}"')


def do_run_migrations(connection: Connection) -> None:
    configure(database_url(), connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Instances starting together: one migrates, the others wait here and then
            # find nothing left to do (the current revision is read after the lock).
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        elif connection.dialect.name == "sqlite":
            drop_leftover_batch_tables(connection)
        context.run_migrations()


def make_sqlite_transactional(engine: AsyncEngine) -> None:
    """Run SQLite DDL inside the transaction (TRAPS.md: SQLAlchemy's BEGIN recipe).

    pysqlite (under aiosqlite) opens a transaction only before INSERT/UPDATE/DELETE, so
    CREATE, DROP and ALTER would each commit on their own. Driver-level autocommit plus
    our own BEGIN makes every statement part of the transaction Alembic begins; IMMEDIATE
    takes the write lock at once, so processes migrating one file take turns, as the
    advisory lock makes them on PostgreSQL. Foreign keys stay off (SQLite's default): the
    batch copy drops and renames tables, which must not cascade.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def run_migrations_online() -> None:
    url = database_url()
    ensure_sqlite_directory(url)
    sqlite = url.startswith("sqlite")
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000} if sqlite else {}
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    if sqlite:
        make_sqlite_transactional(engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())

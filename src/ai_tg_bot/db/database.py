"""The engine and its transactions: `async with database.session() as session` (what an
error means and riding out an outage: db.outages)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ai_tg_bot.db import sqlite
from ai_tg_bot.db.sqlite import SQLITE_BUSY_TIMEOUT_MS

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "Database", "ensure_sqlite_directory"]

log = logging.getLogger(__name__)


# A pooled connection given back less than this long ago is not pinged again on checkout
# unless the driver saw it close (HikariCP's "alive bypass window"): under load every
# checkout would otherwise pay the pre-ping's three round trips (asyncpg pings inside
# BEGIN ... ROLLBACK). One that died silently within the window fails its first
# statement as a disconnect, is discarded by the pool, and the caller's retry gets a
# fresh one (ADR 0010).
PRE_PING_BYPASS_SECONDS = 0.5
# Execution option read by the SQLite `begin` hook: readers may use a deferred BEGIN.
_SQLITE_READ_ONLY = "ai_tg_bot_read_only"


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


class Database:
    """Owns the async engine; hands out one short transaction at a time."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        max_overflow: int = 10,
        pgbouncer: bool = False,
    ) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"echo": echo}
        self._checkpointer: sqlite.Checkpointer | None = None
        if self.is_sqlite:
            ensure_sqlite_directory(url)
            options["module"] = sqlite.InlineDriver()  # no thread hop per statement
            path = sqlite.file_of(self.url)
            if path is not None:
                self._checkpointer = sqlite.Checkpointer(path)
                self._checkpointer.start()
        else:
            options.update(pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
        if pgbouncer and not self.is_sqlite:
            # Transaction pooling hands each transaction any server connection: no
            # statement prepared on one may be looked up on another (asyncpg's cache and
            # SQLAlchemy's), and each prepared statement gets a name of its own.
            self.url = self.url.update_query_dict({"prepared_statement_cache_size": "0"})
            options["connect_args"] = {
                "statement_cache_size": 0,
                "prepared_statement_name_func": _unique_statement_name,
            }
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            sqlite.install_hooks(self.engine, _SQLITE_READ_ONLY)
        else:
            _install_ping_bypass(self.engine, PRE_PING_BYPASS_SECONDS)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = self.engine.execution_options(**{_SQLITE_READ_ONLY: True})
        # One statement alone is atomic: on PostgreSQL it needs no BEGIN and COMMIT, two
        # of its three round trips (SQLite's are calls in this process: kept as they are).
        # Not through pgbouncer: outside a transaction the statement's prepare and its
        # execution may reach different server connections.
        self._single_engine = (
            self._read_engine
            if self.is_sqlite or pgbouncer
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on any error.

        On SQLite a writing transaction starts with BEGIN IMMEDIATE so concurrent writers
        queue on the lock instead of failing with "database is locked"; `read_only`
        transactions use a deferred BEGIN and run beside them under WAL.
        """
        session = (self._read_sessions if read_only else self._sessions)()
        try:
            async with session.begin():
                yield session
        finally:
            await session.close()  # not `async with session`: see `connection`

    @asynccontextmanager
    async def connection(
        self, *, read_only: bool = False, single: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """One transaction on a bare connection: the hot path's lighter `session()`.

        `single`: the caller runs one read-only statement, which on PostgreSQL then runs
        in autocommit (one round trip instead of BEGIN, the statement and COMMIT).

        Same commit/rollback and SQLite BEGIN rules; no ORM unit of work, which the
        dialogue's Core statements do not need (measured: most of their CPU cost).

        The connection goes back to the pool by a plain `close()`: SQLAlchemy's
        `async with` closes it in a task of its own (to finish even if the caller is
        cancelled), which costs a trip through the event loop's ready queue while the
        connection is still checked out. Under a herd that queue is long, so every
        connection sat idle but taken for a full round of it (ADR 0017). Returning a
        connection after COMMIT does no I/O on either driver, so there is nothing for a
        cancellation to interrupt.
        """
        engine = self._single_engine if single else self._read_engine if read_only else self.engine
        connection = await engine.connect().start()
        try:
            async with connection.begin():
                yield connection
        finally:
            await connection.close()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except Exception as exc:  # any driver or network error means "not reachable"
            log.debug("database ping failed: %r", exc)
            return False
        return True

    def connections_in_use(self) -> int:
        """Connections checked out of the pool now (0 where the pool does not count)."""
        checked_out = getattr(self.engine.sync_engine.pool, "checkedout", None)
        return int(checked_out()) if callable(checked_out) else 0

    async def close(self) -> None:
        """Dispose of the engine and its pooled connections."""
        await self.engine.dispose()
        if self._checkpointer is not None:
            self._checkpointer.stop()


def ensure_sqlite_directory(url: str) -> None:
    """Create the folder of a SQLite file (`./data/` by default) if it is missing."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database:
        return
    if database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _install_ping_bypass(engine: AsyncEngine, window_seconds: float) -> None:
    """Pre-ping only connections that sat idle in the pool for `window_seconds` or more."""
    dialect: Any = engine.dialect
    ping = dialect.do_ping
    returned: dict[int, float] = {}  # id(DBAPI connection) -> when it was last checked in

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            returned[id(dbapi_connection)] = time.monotonic()

    @event.listens_for(engine.sync_engine, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        returned.pop(id(dbapi_connection), None)

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exception: Any) -> None:
        returned.pop(id(dbapi_connection), None)

    def do_ping(dbapi_connection: Any) -> bool:
        last = returned.get(id(dbapi_connection))
        recent = last is not None and time.monotonic() - last < window_seconds
        if recent and not dbapi_connection._connection.is_closed():
            return True
        # The real ping: a dead connection raises and is replaced, the pool kept.
        return bool(ping(dbapi_connection))

    dialect.do_ping = do_ping

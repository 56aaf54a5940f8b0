"""SQLite without a thread hop per statement (ADR 0017).

aiosqlite runs every call (execute, fetch, commit) on the connection's own thread and
wakes the event loop when it is done: a bot turn's ten statements paid ten hops, each
costing more than the statement. Here the driver is the standard library's `sqlite3`,
called directly: a short transaction runs start to finish on the event loop, with no
hop at all. What must not block the loop is moved off it:

- **Waiting for the write lock.** `busy_timeout` is 0, so another process holding the
  lock makes `BEGIN IMMEDIATE` fail at once; it is retried after an asynchronous sleep
  (the loop keeps serving) until `SQLITE_BUSY_TIMEOUT_MS`. Inside this process a
  transaction that awaits nothing but its statements cannot be interleaved with another.
- **Checkpoints.** The WAL is copied into the database (with its fsyncs) by a
  background thread (`Checkpointer`), not by whichever commit crossed the threshold.

The engine stays SQLAlchemy's aiosqlite dialect, given this module's driver through
`create_async_engine(module=...)`: statements, pooling and error mapping are unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# How often the background thread folds the WAL back into the database file.
CHECKPOINT_INTERVAL_SECONDS = 1.0
_FIRST_RETRY_SECONDS = 0.001
_MAX_RETRY_SECONDS = 0.05


def _pragmas(connection: sqlite3.Connection, *, busy_timeout_ms: int) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


async def _nothing() -> None:
    return None


class InlineCursor(sqlite3.Cursor):
    """A `sqlite3` cursor that tells SQLAlchemy's async engine it was awaited.

    `AsyncConnection.execute` insists that a driver suspends at least once; awaiting a
    coroutine that is already done switches greenlets without a trip through the loop.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> InlineCursor:
        await_only(_nothing())
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> InlineCursor:
        await_only(_nothing())
        return super().executemany(sql, parameters)

    async def _async_soft_close(self) -> None:
        """Nothing to do: rows are fetched without awaiting, in or out of a greenlet."""


class InlineConnection:
    """A DBAPI connection over `sqlite3`, shaped as SQLAlchemy's aiosqlite adapter is."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection  # what SQLAlchemy's get_driver_connection returns

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._connection.isolation_level = value  # type: ignore[assignment]

    def cursor(self, server_side: bool = False) -> sqlite3.Cursor:
        return self._connection.cursor(InlineCursor)

    def begin(self, *, read_only: bool) -> None:
        """BEGIN (readers) or BEGIN IMMEDIATE (writers), waiting for the lock off the loop.

        Runs inside SQLAlchemy's greenlet (the `begin` event of an async engine), where
        `await_only` may suspend this transaction while the loop serves others.
        """
        statement = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause = _FIRST_RETRY_SECONDS
        while True:
            try:
                self._connection.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            await_only(asyncio.sleep(pause))
            pause = min(pause * 2, _MAX_RETRY_SECONDS)

    def commit(self) -> None:
        self._connection.commit()

    def rollback(self) -> None:
        self._connection.rollback()

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._connection.create_function(*args, **kwargs)

    def close(self) -> None:
        self._connection.close()

    def terminate(self) -> None:
        self._connection.close()


class InlineDriver:
    """The DBAPI "module" handed to SQLAlchemy's aiosqlite dialect."""

    paramstyle = "qmark"
    has_stop = True  # connections can be terminated (closed) at once
    Binary = sqlite3.Binary
    PARSE_COLNAMES = sqlite3.PARSE_COLNAMES
    PARSE_DECLTYPES = sqlite3.PARSE_DECLTYPES
    sqlite_version = sqlite3.sqlite_version
    sqlite_version_info = sqlite3.sqlite_version_info
    Error = sqlite3.Error
    DatabaseError = sqlite3.DatabaseError
    IntegrityError = sqlite3.IntegrityError
    NotSupportedError = sqlite3.NotSupportedError
    OperationalError = sqlite3.OperationalError
    ProgrammingError = sqlite3.ProgrammingError
    InterfaceError = sqlite3.InterfaceError
    DataError = sqlite3.DataError
    InternalError = sqlite3.InternalError
    Warning = sqlite3.Warning

    def __init__(self) -> None:
        self.sqlite = sqlite3
        self.aiosqlite = None

    def connect(self, database: str, **kwargs: Any) -> InlineConnection:
        for ours in ("async_creator_fn", "timeout", "isolation_level", "check_same_thread"):
            kwargs.pop(ours, None)
        # Autocommit at the driver level: BEGIN is ours (see `begin`), never pysqlite's.
        connection = sqlite3.connect(
            database, timeout=0, isolation_level=None, check_same_thread=False, **kwargs
        )
        try:
            _pragmas(connection, busy_timeout_ms=0)
            # Checkpoints are the background thread's (the loop must not fsync).
            connection.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            connection.close()
            raise
        return InlineConnection(connection)


class Checkpointer:
    """Folds the WAL back into the database file from a thread of its own."""

    def __init__(self, path: str, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last checkpoint."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            stopping = self._stop.wait(self._interval)
            try:
                if connection is None:
                    connection = sqlite3.connect(self._path, isolation_level=None,
                                                 check_same_thread=False)  # fmt: skip
                    _pragmas(connection, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # a missing or locked file: the next round retries
                log.debug("WAL checkpoint skipped: %r", exc)
            if stopping:
                break
        if connection is not None:
            connection.close()


def install_hooks(engine: AsyncEngine, read_only_option: str) -> None:
    """BEGIN emitted by us: deferred for readers, IMMEDIATE (waited for) for writers."""

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = bool(connection.get_execution_options().get(read_only_option, False))
        inline: InlineConnection = connection.connection.dbapi_connection  # type: ignore[assignment]
        inline.begin(read_only=read_only)


def file_of(url: URL) -> str | None:
    """The database file of a SQLite URL (None in memory)."""
    database = url.database
    if not database or database == ":memory:" or "mode=memory" in str(url):
        return None
    return database

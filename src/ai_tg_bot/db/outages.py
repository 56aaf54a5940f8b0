"""Whether a database error is an outage worth waiting out, riding one out, and what an
error says about the deployment (pgbouncer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

__all__ = ["PGBOUNCER_HINT", "STORAGE_ERRORS", "database_hint", "is_outage", "ride_out"]

T = TypeVar("T")
# What a database that is down or restarting raises, through SQLAlchemy or around it.
# Catch these, then ask `is_outage` whether waiting could help (a constraint or a bad
# value is a DBAPIError too, and fails the same way however often it is retried).
STORAGE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeoutError,
    ConnectionError,
    OSError,
    TimeoutError,
)
# SQLSTATE classes of a server that is unreachable, restarting or overloaded (08
# connection, 53 resources, 57 operator intervention, 58 system) and the codes of a
# conflict that a second attempt resolves (serialization failure, deadlock, lock
# not available).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
# SQLite's OperationalError covers both "database is locked" and "no such table": only
# these are about the file's availability rather than the statement.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o", "readonly database")


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database is unavailable for now (worth waiting out).

    Connection failures, a pool with no free connection, a server shutting down or a
    lock conflict are; a constraint violation, bad data or a wrong statement are not:
    they are logged and reported once instead of retried.
    """
    if isinstance(exc, PoolTimeoutError | ConnectionError | OSError | TimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES or sqlstate in _TRANSIENT_SQLSTATES
    if isinstance(exc, IntegrityError | DataError | ProgrammingError | NotSupportedError):
        return False
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return not _is_sqlite(exc) or any(marker in text for marker in _SQLITE_TRANSIENT)
    return False


# asyncpg's statement cache through a transaction-pooling pgbouncer: the server
# connection a statement was prepared on is another client's now (SQLSTATE 42P05 "already
# exists", 26000 "does not exist", naming asyncpg's own statement names).
_POOLER_MARKERS = ("__asyncpg_stmt_", "__asyncpg_")
PGBOUNCER_HINT = (
    "DATABASE_URL goes through pgbouncer in transaction pooling mode: set DB_PGBOUNCER=true "
    "(and MIGRATION_DATABASE_URL to a direct URL for the migrations)"
)


def database_hint(exc: BaseException, *, pgbouncer: bool) -> str | None:
    """What an error says about the deployment, in one line naming the setting to change;
    None when it says nothing in particular. Today: asyncpg's prepared statements broken
    by pgbouncer while DB_PGBOUNCER is off."""
    text = str(getattr(exc, "orig", None) or exc)
    if not pgbouncer and "prepared statement" in text and any(m in text for m in _POOLER_MARKERS):
        return PGBOUNCER_HINT
    return None


async def ride_out(
    call: Callable[[], Awaitable[T]],
    patience_seconds: float,
    *,
    first_pause: float,
    max_pause: float,
    on_retry: Callable[[BaseException, float], None],
) -> T:
    """`call()`, tried again while the database is down (a back-off from `first_pause`,
    doubling to `max_pause`) for `patience_seconds`, then raised. Only an outage is
    waited out: an error that would recur is raised at once. `on_retry(exc, pause)` says
    so before each wait (the caller's log line)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_seconds
    pause = first_pause
    while True:
        try:
            return await call()
        except STORAGE_ERRORS as exc:
            if not is_outage(exc) or loop.time() + pause > deadline:
                raise
            on_retry(exc, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, max_pause)


def _is_sqlite(exc: DBAPIError) -> bool:
    return type(exc.orig).__module__.startswith(("sqlite3", "aiosqlite"))

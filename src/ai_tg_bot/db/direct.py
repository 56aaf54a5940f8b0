"""The hot path's statements run on the driver's own connection (issue 30, ADR 0022).

SQLAlchemy's async execution costs about 120 µs of CPU a statement (a greenlet hop each
way, an execution context, result metadata) where asyncpg alone costs about 30; a turn
runs fifteen statements. `run(connection, statement, parameters)` compiles a statement
built once (storage.statements, storage.fused) a single time per dialect, with
SQLAlchemy's own compiler, bind and result processors and Python-side defaults, and
then sends it on the connection SQLAlchemy checked out, inside the transaction SQLAlchemy
began (asyncpg: through its prepared-statement cache, starting the transaction as its
cursor would; SQLite: the `sqlite3` connection, already in its BEGIN). Same SQL, same
values, same transaction: only the per-statement machinery is skipped. Driver errors are
raised as SQLAlchemy's (`DBAPIError.instance`), as the callers expect. Anything else (an
ORM session, a statement with expanding parameters) goes through `execute` as before.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

log = logging.getLogger(__name__)
_STATUS = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


class Rows:
    """The rows of one statement, read like SQLAlchemy's Result (the methods used here)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def all(self) -> list[Any]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise LookupError(f"expected at most one row, got {len(self._rows)}")
        return self.scalar()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


@dataclass(frozen=True, slots=True)
class _Plan:
    """One statement compiled for one dialect (and, for an INSERT, one set of keys)."""

    compiled: SQLCompiler
    sql: str
    names: tuple[str, ...]
    binds: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[tuple[str, Callable[[], Any]], ...]
    row: Any  # a namedtuple class, or None for a statement returning no rows
    results: tuple[Callable[[Any], Any] | None, ...]


_plans: dict[tuple[int, str, tuple[str, ...]], _Plan | None] = {}
_keep: list[ClauseElement] = []  # statements planned: their ids stay theirs


def _default(column: Any, insert: bool) -> Callable[[], Any] | None:
    made = column.default if insert else column.onupdate
    if made is None or not (made.is_scalar or made.is_callable):
        return None
    if made.is_scalar:
        return lambda: made.arg
    return lambda: made.arg(None)  # SQLAlchemy wraps a plain callable to take a context


def _plan(statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...]) -> _Plan | None:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=list(keys)))
    if compiled.positiontup is None:
        return None
    if any(p.expanding or p.literal_execute for p in compiled.binds.values()):
        return None  # IN lists and literal parameters are rendered per call: not here
    defaults: list[tuple[str, Callable[[], Any]]] = []
    for insert, columns in ((True, compiled.insert_prefetch), (False, compiled.update_prefetch)):
        for column in columns:
            made = _default(column, insert)
            if made is None:
                return None
            defaults.append((column.key, made))
    processors = compiled._bind_processors
    names = tuple(compiled.positiontup)
    row_class: Any = None
    results: list[Callable[[Any], Any] | None] = []
    if compiled._result_columns:
        fields = [entry[0] for entry in compiled._result_columns]
        row_class = _row_class(fields)
        for entry in compiled._result_columns:
            results.append(entry[3]._cached_result_processor(dialect, None))
    binds = tuple(cast("Callable[[Any], Any] | None", processors.get(n)) for n in names)
    return _Plan(compiled, str(compiled), names, binds, tuple(defaults), row_class, tuple(results))


def _row_class(fields: list[str]) -> Any:
    """A namedtuple class for rows with these columns (read by name, as SQLAlchemy's)."""
    return namedtuple("Row", fields)


def _values(plan: _Plan, parameters: Mapping[str, Any]) -> list[Any]:
    given = dict(parameters)
    for key, made in plan.defaults:
        if key not in given:
            given[key] = made()
    values = plan.compiled.construct_params(given, _check=False)
    return [
        bind(values[name]) if bind is not None else values[name]
        for name, bind in zip(plan.names, plan.binds, strict=True)
    ]


def _rows(plan: _Plan, raw: list[Any]) -> list[Any]:
    if plan.row is None:
        return []
    if not any(plan.results):
        return [plan.row(*record) for record in raw]
    processors = plan.results
    return [
        plan.row(*(p(v) if p is not None else v for p, v in zip(processors, r, strict=True)))
        for r in raw
    ]


async def run(connection: Any, statement: Any, parameters: Mapping[str, Any] | None = None) -> Any:
    """Execute a statement built once, directly on the driver where possible; its Rows
    (or SQLAlchemy's Result, on the fallback)."""
    parameters = parameters or {}
    if not isinstance(connection, AsyncConnection):
        return await connection.execute(statement, parameters)
    dialect = connection.dialect
    keys = tuple(sorted(parameters)) if statement.is_dml and statement.is_insert else ()
    cache_key = (id(statement), dialect.name, keys)
    try:
        plan = _plans[cache_key]
    except KeyError:
        try:
            plan = _plan(statement, dialect, keys)
        except Exception:  # SQLAlchemy's internals moved: its own path, as before
            log.warning("statement not planned for the driver; executed by SQLAlchemy")
            plan = None
        _plans[cache_key] = plan
        _keep.append(statement)
    if plan is None:
        return await connection.execute(statement, parameters)
    values = _values(plan, parameters)
    adapter: Any = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    try:
        if dialect.name == "sqlite":
            cursor = _sqlite3(adapter).execute(plan.sql, values)
            raw = cursor.fetchall() if plan.row is not None else []
            rowcount = cursor.rowcount
        else:
            raw, rowcount = await _asyncpg(adapter, dialect, plan.sql, values)
    except Exception as exc:
        raise _as_sqlalchemy(exc, adapter, dialect, plan.sql, values) from exc
    return Rows(_rows(plan, raw), rowcount)


def _sqlite3(adapter: Any) -> sqlite3.Connection:
    """The `sqlite3` connection under SQLAlchemy's adapter (db.sqlite.InlineConnection)."""
    connection = adapter
    while not isinstance(connection, sqlite3.Connection):
        connection = connection._connection
    return connection


async def _asyncpg(adapter: Any, dialect: Any, sql: str, values: list[Any]) -> tuple[Any, int]:
    """As SQLAlchemy's asyncpg cursor does it: BEGIN first if the transaction has not
    begun, then the prepared statement from the connection's cache."""
    async with adapter._execute_mutex:
        if adapter._transaction is None:
            await adapter._start_transaction()
        prepared, _ = await adapter._prepare(sql, dialect._invalidate_schema_cache_asof)
        raw = await prepared.fetch(*values)
        found = _STATUS.match(prepared.get_statusmsg() or "")
    return raw, int(found.group(1)) if found else -1


def _as_sqlalchemy(
    exc: Exception, adapter: Any, dialect: Any, sql: str, values: list[Any]
) -> Exception:
    """A driver's error as SQLAlchemy raises it (IntegrityError, OperationalError, ...):
    asyncpg's translated by its adapter first, as SQLAlchemy's cursor does."""
    if dialect.name == "sqlite":
        base: type[Exception] = sqlite3.Error
    else:
        base = dialect.loaded_dbapi.Error
        try:
            adapter._handle_exception(exc)  # always raises: the DBAPI-shaped error
        except Exception as translated:
            exc = translated
    if not isinstance(exc, base):
        return exc
    return cast(Exception, DBAPIError.instance(sql, values, exc, base, dialect=dialect))

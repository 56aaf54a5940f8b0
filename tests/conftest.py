"""Shared fixtures: the same suites run on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.storage.accounts import AccountsStore
from tests.dbs import create_pg_database, drop_pg_database, in_ci, migrate, pg_reachable
from tests.seeding import SeedingStorage

BACKENDS = ["sqlite", "postgresql"]
_pg_skipped: list[str] = []


@pytest.fixture(scope="session")
def pg_server() -> None:
    """Skip (outside CI, loudly) or fail (in CI) when the test PostgreSQL is unreachable.

    Synchronous (its check runs on a thread of its own) so that async fixtures may ask
    for it with `request.getfixturevalue` from inside the running loop.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        problem = pool.submit(asyncio.run, pg_reachable()).result()
    if problem is None:
        return
    message = f"PostgreSQL at TEST_DATABASE_URL is unreachable ({problem})"
    if in_ci():
        pytest.fail(message + "; CI=true requires it", pytrace=False)
    _pg_skipped.append(message)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say it loudly when the PostgreSQL half did not run."""
    if _pg_skipped:
        terminalreporter.write_line(
            f"!!! POSTGRESQL TESTS SKIPPED: {_pg_skipped[0]} !!!", red=True, bold=True
        )


@pytest.fixture(scope="session")
async def pg_url(pg_server: None) -> AsyncIterator[str]:
    """A migrated database of our own on the test server, dropped after the run."""
    url = await create_pg_database()
    try:
        await migrate(url)
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file for the run."""
    path: Path = tmp_path_factory.mktemp("sqlite") / "bot.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated test database of each backend in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
async def shared_database(database_url: str) -> AsyncIterator[Database]:
    """One engine per backend for the whole run."""
    database = Database(database_url, pool_size=20, max_overflow=40)
    yield database
    await database.close()


@pytest.fixture
async def database(shared_database: Database) -> AsyncIterator[Database]:
    """The backend's Database, emptied after each test.

    Tests commit for real (concurrency needs separate connections), so isolation is by
    deleting every user afterwards; the foreign keys cascade to the other tables (album
    parts have no user key: deleted too, or the next bot would ask them at start-up).
    """
    yield shared_database
    async with shared_database.session() as session:
        await session.execute(text("DELETE FROM users"))
        await session.execute(text("DELETE FROM album_parts"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings aimed at the test database, ignoring any developer `.env`."""
    return Settings(_env_file=None, database_url=database_url)


@pytest.fixture
def storage(database: Database, settings: Settings) -> SeedingStorage:
    """DialogueStore over the test database."""
    return SeedingStorage(database, settings)


@pytest.fixture
def accounts(database: Database, settings: Settings) -> AccountsStore:
    """AccountsStore (limits, blocking, usage) over the test database."""
    return AccountsStore(database, settings)

"""The bot's migrations, shipped inside the package (`ai_tg_bot/migrations`): applied at
start and by `ai-tg-bot migrate`, undone by `ai-tg-bot rollback`, without the source tree
or alembic.ini (which developers still use for `make db-revision`)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision the package ships (a test keeps it equal to Alembic's head): a
# restart whose database is at it skips loading Alembic and the migration environment,
# about two seconds of a start (bench/startup.py).
HEAD = "b2d4f6a8c0e1"


def at_head(url: str) -> bool:
    """Whether the database at `url` is at HEAD already (False when that cannot be told
    cheaply: Alembic then decides, as always)."""
    try:
        if url.startswith("sqlite"):
            path = unquote(url.partition(":///")[2].partition("?")[0])
            if not path or path == ":memory:" or not Path(path).exists():
                return False
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
                rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        else:
            rows = asyncio.run(_pg_versions(url))
    except Exception:  # no table yet, unreachable, unreadable: let Alembic see
        return False
    return [str(row[0]) for row in rows] == [HEAD]


async def _pg_versions(url: str) -> list[tuple[str]]:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn, timeout=5, statement_cache_size=0)
    try:
        return [
            tuple(row) for row in await connection.fetch("SELECT version_num FROM alembic_version")
        ]
    finally:
        await connection.close()


def alembic_config(url: str) -> Config:
    """An Alembic config for the packaged migrations, aimed at `url`, leaving logging be."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (safe with several instances: env.py locks)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    """Undo migrations down to `revision` (default: the latest one)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision the package ships, as Alembic reads the migrations."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config("")).get_current_head())

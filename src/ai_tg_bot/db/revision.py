"""The schema revision a database is at, read with the bare driver: a restart whose
database is at the newest revision skips loading Alembic (process.schema.at_head)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from urllib.parse import unquote

READ = "SELECT version_num FROM alembic_version"


def stored_revisions(url: str) -> list[str]:
    """The revisions recorded at `url` (`[]` for a SQLite file that does not exist yet);
    raises what the driver raises when the table or the server is not there."""
    if url.startswith("sqlite"):
        path = unquote(url.partition(":///")[2].partition("?")[0])
        if not path or path == ":memory:" or not Path(path).exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return [str(row[0]) for row in connection.execute(READ).fetchall()]
    return asyncio.run(_postgres_revisions(url))


async def _postgres_revisions(url: str) -> list[str]:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn, timeout=5, statement_cache_size=0)
    try:
        return [str(row[0]) for row in await connection.fetch(READ)]
    finally:
        await connection.close()

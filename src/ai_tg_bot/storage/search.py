"""Full-text search over one user's own messages (PostgreSQL GIN, SQLite FTS5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from ai_tg_bot.db.database import Database
from ai_tg_bot.storage.base import as_utc
from ai_tg_bot.storage.records import without_nul

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 12

# Scope: the user's messages still in the history or trimmed out of the context window;
# never what they cleared (/reset, /role, /retry), never anyone else's.
_POSTGRES_FROM = """
    FROM messages m, plainto_tsquery('simple', :words) AS q(query)
    WHERE m.user_id = :user_id
      AND to_tsvector('simple', m.content) @@ q.query
      AND (m.deleted_at IS NULL OR m.deleted_reason = 'trimmed')
"""
_SQLITE_FROM = """
    FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
    WHERE messages_fts MATCH :words
      AND m.user_id = :user_id
      AND (m.deleted_at IS NULL OR m.deleted_reason = 'trimmed')
"""
_POSTGRES = text(
    "SELECT m.seq, m.role, m.created_at, ts_headline('simple', m.content, q.query, "
    "'StartSel=«, StopSel=», MaxWords=18, MinWords=6, MaxFragments=1') AS snippet"
    + _POSTGRES_FROM
    + "ORDER BY ts_rank(to_tsvector('simple', m.content), q.query) DESC, m.seq DESC "
    "LIMIT :limit OFFSET :offset"
)
_SQLITE = text(
    "SELECT m.seq, m.role, m.created_at, snippet(messages_fts, 0, '«', '»', '…', 14) AS snippet"
    + _SQLITE_FROM
    + "ORDER BY bm25(messages_fts), m.seq DESC LIMIT :limit OFFSET :offset"
)
# Counted apart: FTS5's bm25() and snippet() cannot sit beside a window function.
_POSTGRES_COUNT = text("SELECT count(*)" + _POSTGRES_FROM)
_SQLITE_COUNT = text("SELECT count(*)" + _SQLITE_FROM)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One found message: who wrote it, when, and the matching words in context."""

    seq: int
    role: str
    created_at: datetime
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of hits, best first, and how many there are in all."""

    hits: list[SearchHit]
    total: int


def search_words(query: str) -> list[str]:
    """The words of a query (punctuation and operators are not syntax here)."""
    return _WORD.findall(without_nul(query))[:MAX_QUERY_WORDS]


class MessageSearch:
    """Ranked search with snippets; every word must match."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def search(
        self, user_id: int, query: str, *, limit: int = 5, offset: int = 0
    ) -> SearchPage:
        """The user's matching messages; ValueError when the query has no words."""
        words = search_words(query)
        if not words:
            raise ValueError("the search needs at least one word")
        if self.database.is_sqlite:
            # Quoted FTS5 strings: user input can never be read as query syntax.
            given = " ".join('"' + w.replace('"', "") + '"' for w in words)
            statement, counting = _SQLITE, _SQLITE_COUNT
        else:
            given, statement, counting = " ".join(words), _POSTGRES, _POSTGRES_COUNT
        parameters = {"words": given, "user_id": user_id, "limit": limit, "offset": offset}
        async with self.database.connection(read_only=True) as session:
            rows = (await session.execute(statement, parameters)).all()
            total = int((await session.execute(counting, parameters)).scalar_one())
        hits = [
            SearchHit(
                seq=int(row.seq),
                role=str(row.role),
                created_at=as_utc(row.created_at) or datetime.min,
                snippet=" ".join(str(row.snippet).split()),
            )
            for row in rows
        ]
        return SearchPage(hits=hits, total=total)

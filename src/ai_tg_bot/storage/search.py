"""Full-text search over one user's own messages (PostgreSQL GIN, SQLite FTS5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnClause,
    Select,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
)

from ai_tg_bot.db import Message
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import StorageBase, as_utc
from ai_tg_bot.storage.records import without_nul

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 12
# A word longer than this is cut (no language has such words; a 300-character "word"
# made the results message too long for Telegram).
MAX_WORD_CHARS = 40

# Scope: `statements.exportable`, the user's messages still in the history or trimmed
# out of the context window; never what they cleared (/reset, /role, /retry), never
# anyone else's.
_WORDS: BindParameter[str] = bindparam("b_words")
_LIMIT: BindParameter[int] = bindparam("b_limit")
_OFFSET: BindParameter[int] = bindparam("b_offset")

# PostgreSQL: the GIN index ix_messages_content_fts is over exactly this expression.
_SIMPLE: ColumnClause[str] = literal_column("'simple'")
_TSQUERY = func.plainto_tsquery(_SIMPLE, _WORDS)
_TSVECTOR = func.to_tsvector(_SIMPLE, Message.content)
_PG_MATCH = _TSVECTOR.op("@@")(_TSQUERY)
_PG_SNIPPET = func.ts_headline(
    _SIMPLE,
    Message.content,
    _TSQUERY,
    literal_column("'StartSel=«, StopSel=», MaxWords=18, MinWords=6, MaxFragments=1'"),
)

# SQLite: the FTS5 table messages_fts shares the rowid of messages.
_FTS = table("messages_fts", column("rowid"))
_FTS_TABLE: ColumnClause[Any] = literal_column("messages_fts")
_FTS_FROM = _FTS.join(Message, literal_column("messages.rowid") == _FTS.c.rowid)
_FTS_MATCH = _FTS_TABLE.op("MATCH")(_WORDS)
_FTS_SNIPPET = func.snippet(
    _FTS_TABLE, 0, literal_column("'«'"), literal_column("'»'"), literal_column("'…'"), 14
)


# What a hit says besides its snippet.
_HIT = (Message.seq, Message.role, Message.created_at, Message.conversation_id)


def _statements(user_id: int, *, is_sqlite: bool) -> tuple[Select[Any], Select[Any]]:
    """The page of hits and their count, in the user's scope."""
    if is_sqlite:
        where = and_(_FTS_MATCH, statements.exportable(user_id))
        hits = (
            select(*_HIT, _FTS_SNIPPET.label("snippet"))
            .select_from(_FTS_FROM)
            .where(where)
            .order_by(func.bm25(_FTS_TABLE), Message.seq.desc())
        )
        # Counted apart: FTS5's bm25() and snippet() cannot sit beside a window function.
        count = select(func.count()).select_from(_FTS_FROM).where(where)
    else:
        where = and_(statements.exportable(user_id), _PG_MATCH)
        hits = (
            select(*_HIT, _PG_SNIPPET.label("snippet"))
            .where(where)
            .order_by(func.ts_rank(_TSVECTOR, _TSQUERY).desc(), Message.seq.desc())
        )
        count = select(func.count()).select_from(Message).where(where)
    return hits.limit(_LIMIT).offset(_OFFSET), count


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One found message: who wrote it, when, and the matching words in context."""

    seq: int
    role: str
    created_at: datetime
    snippet: str
    # The conversation it belongs to (the Mini App opens it).
    conversation_id: int = 0


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of hits, best first, and how many there are in all."""

    hits: list[SearchHit]
    total: int


def search_words(query: str) -> list[str]:
    """The words of a query (punctuation and operators are not syntax here)."""
    return [word[:MAX_WORD_CHARS] for word in _WORD.findall(without_nul(query))[:MAX_QUERY_WORDS]]


class SearchStore(StorageBase):
    """Ranked search with snippets; every word must match."""

    async def search(
        self, user_id: int, query: str, *, limit: int = 5, offset: int = 0
    ) -> SearchPage:
        """The user's matching messages; ValueError when the query has no words."""
        words = search_words(query)
        if not words:
            raise ValueError("the search needs at least one word")
        is_sqlite = self.database.is_sqlite
        if is_sqlite:
            # Quoted FTS5 strings: user input can never be read as query syntax.
            given = " ".join('"' + w.replace('"', "") + '"' for w in words)
        else:
            given = " ".join(words)
        statement, counting = _statements(user_id, is_sqlite=is_sqlite)
        parameters = {"b_words": given, "b_limit": limit, "b_offset": offset}
        async with self.database.connection(read_only=True) as session:
            rows = (await session.execute(statement, parameters)).all()
            total = int((await session.execute(counting, parameters)).scalar_one())
        hits = [
            SearchHit(
                seq=int(row.seq),
                role=str(row.role),
                created_at=as_utc(row.created_at) or datetime.min,
                snippet=" ".join(str(row.snippet).split()),
                conversation_id=int(row.conversation_id),
            )
            for row in rows
        ]
        return SearchPage(hits=hits, total=total)

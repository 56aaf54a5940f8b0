"""MemoryStore: the short facts about a user the model is given in their private
conversations (issue 31). Each method is one short transaction.

Facts come from /remember and, with MEMORY_TOOL, from the model's `remember` tool; the
user lists and deletes them with /memory, and turns their use off and on there
(`user_settings.memory_enabled`, NULL: on; written by AccountsStore.set_memory). At most
MEMORY_MAX_FACTS are kept: a new fact past it pushes the oldest out. A group's
conversation never reads or writes them (DialogueStore reads them only for a user's own
conversations).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, insert, select

from ai_tg_bot.db import MemoryFact, UserSettings, utc_now
from ai_tg_bot.storage.base import Executor, StorageBase, as_utc

# The user's facts, newest first, as many as the context's block may hold (read with
# db.run on the hot path: DialogueStore._context).
MEMORY_FACTS = (
    select(MemoryFact.text)
    .where(MemoryFact.user_id == bindparam("b_user_id"))
    .order_by(MemoryFact.id.desc())
    .limit(bindparam("b_limit", type_=Integer))
)
# The longest fact kept (a fact is a line, not a document).
FACT_MAX_CHARS = 300
SOURCES = ("command", "tool")


@dataclass(frozen=True, slots=True)
class Fact:
    """One remembered fact, as /memory lists it."""

    id: int
    text: str
    source: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Remembered:
    """What /remember (or the tool) did: the fact kept (None: it was empty), whether it
    was known already, how many facts the user has now, how many old ones went, and
    whether the user's memory is on."""

    fact: Fact | None
    known: bool
    count: int
    dropped: int
    enabled: bool
    # The fact was longer than FACT_MAX_CHARS and was cut.
    cut: bool = False


def fact_text(text: str) -> str:
    """A fact as kept: one line, no NUL, at most FACT_MAX_CHARS (empty: nothing)."""
    line = " ".join(text.replace("\x00", "").split())
    return line if len(line) <= FACT_MAX_CHARS else line[: FACT_MAX_CHARS - 1] + "…"


class MemoryStore(StorageBase):
    """The user's memory facts and whether they are used."""

    async def remember(self, user_id: int, text: str, source: str) -> Remembered:
        """Keep a fact (cleaned by `fact_text`), under the user's lock; the oldest go
        past MEMORY_MAX_FACTS. A fact the user has already is not kept twice."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        line = fact_text(text)
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            enabled = await _enabled(session, user_id)
            # /memory off: the model adds nothing (/remember still keeps what is asked).
            if not line or (source == "tool" and not enabled):
                return Remembered(None, False, await _count(session, user_id), 0, enabled)
            same = await session.execute(
                select(MemoryFact.id, MemoryFact.text, MemoryFact.source, MemoryFact.created_at)
                .where(MemoryFact.user_id == user_id, MemoryFact.text == line)
                .limit(1)
            )
            known = same.first()
            if known is not None:
                count = await _count(session, user_id)
                return Remembered(_fact(known), True, count, 0, enabled)
            now = utc_now()
            inserted = await session.execute(
                insert(MemoryFact)
                .values(user_id=user_id, text=line, source=source, created_at=now)
                .returning(MemoryFact.id)
            )
            fact = Fact(int(inserted.scalar_one()), line, source, now)
            dropped = await self._drop_oldest(session, user_id)
            count = await _count(session, user_id)
        cut = len(" ".join(text.split())) > FACT_MAX_CHARS
        return Remembered(fact, False, count, dropped, enabled, cut)

    async def _drop_oldest(self, session: Executor, user_id: int) -> int:
        """Delete the user's facts older than the newest MEMORY_MAX_FACTS."""
        keep = (
            select(MemoryFact.id)
            .where(MemoryFact.user_id == user_id)
            .order_by(MemoryFact.id.desc())
            .limit(self.settings.memory_max_facts)
        )
        result = await session.execute(
            delete(MemoryFact).where(MemoryFact.user_id == user_id, MemoryFact.id.not_in(keep))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def facts(self, user_id: int) -> tuple[list[Fact], bool]:
        """The user's facts, oldest first, and whether their memory is on."""
        async with self.database.connection(read_only=True) as session:
            return await facts_of(session, user_id), await _enabled(session, user_id)

    async def delete_fact(self, user_id: int, fact_id: int) -> str | None:
        """Delete one of the user's facts; its text, or None if it is not theirs (or gone)."""
        async with self.database.connection() as session:
            deleted = await session.execute(
                delete(MemoryFact)
                .where(MemoryFact.id == fact_id, MemoryFact.user_id == user_id)
                .returning(MemoryFact.text)
            )
            text = deleted.scalar_one_or_none()
        return None if text is None else str(text)


async def facts_of(session: Executor, user_id: int) -> list[Fact]:
    """The user's facts, oldest first, read in the caller's transaction."""
    rows = await session.execute(
        select(MemoryFact.id, MemoryFact.text, MemoryFact.source, MemoryFact.created_at)
        .where(MemoryFact.user_id == user_id)
        .order_by(MemoryFact.id)
    )
    return [_fact(row) for row in rows]


async def _enabled(session: Executor, user_id: int) -> bool:
    found = await session.execute(
        select(UserSettings.memory_enabled).where(UserSettings.user_id == user_id)
    )
    return found.scalar_one_or_none() is not False


async def _count(session: Executor, user_id: int) -> int:
    found = await session.execute(
        select(func.count()).select_from(MemoryFact).where(MemoryFact.user_id == user_id)
    )
    return int(found.scalar_one())


def _fact(row: Any) -> Fact:
    return Fact(int(row.id), str(row.text), str(row.source), as_utc(row.created_at) or utc_now())

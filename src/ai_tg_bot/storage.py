"""Storage: the dialogue API over Database. Each method is one short transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ai_tg_bot.config import MAX_HISTORY_LIMIT, Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import MESSAGE_ROLES, Message, User, UserSettings
from ai_tg_bot.db.types import utc_now

HistoryMessage = dict[str, str]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What `add_message` stored."""

    seq: int
    content: str
    trimmed: int


@dataclass(frozen=True, slots=True)
class Context:
    """What one LLM call needs: the system prompt and the active history, oldest first."""

    system_prompt: str
    history: list[HistoryMessage]


@dataclass(frozen=True, slots=True)
class DialogInfo:
    """What `/status` shows."""

    active_count: int
    max_history_messages: int
    total_characters: int
    deleted_count: int
    first_message_at: datetime | None
    last_message_at: datetime | None
    system_prompt: str
    is_default_prompt: bool


def clean_text(text: str, *, what: str = "content") -> str:
    """Strip NUL (PostgreSQL TEXT cannot hold it); refuse text that is empty after that."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, not {type(text).__name__}")
    cleaned = text.replace("\x00", "")
    if not cleaned.strip():
        raise ValueError(f"{what} must not be empty")
    return cleaned


class Storage:
    """Per-user dialogue storage; the database is the source of truth for everything."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    async def ensure_user(self, user_id: int) -> None:
        """Create the user's `users` and `user_settings` rows if missing (idempotent)."""
        async with self.database.session() as session:
            await self._insert_user(session, user_id)

    async def add_message(self, user_id: int, role: str, content: str) -> StoredMessage:
        """Store one message, then soft-delete the oldest active ones beyond the limit."""
        if role not in MESSAGE_ROLES:
            raise ValueError(f"role must be one of {', '.join(MESSAGE_ROLES)}, not {role!r}")
        content = clean_text(content)
        async with self.database.session() as session:
            seq, limit = await self._next_seq(session, user_id)
            now = utc_now()
            await session.execute(
                insert(Message).values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    seq=seq,
                    role=role,
                    content=content,
                    content_length=len(content),
                    created_at=now,
                )
            )
            trimmed = await self._trim(session, user_id, limit)
        return StoredMessage(seq=seq, content=content, trimmed=trimmed)

    async def load_history(self, user_id: int) -> list[HistoryMessage]:
        """Active messages, oldest first, as `[{"role": ..., "content": ...}]`."""
        async with self.database.session(read_only=True) as session:
            return await self._history(session, user_id)

    async def load_context(self, user_id: int) -> Context:
        """The system prompt and the active history, read in one transaction."""
        async with self.database.session(read_only=True) as session:
            prompt = await self._prompt(session, user_id)
            history = await self._history(session, user_id)
        return Context(system_prompt=prompt, history=history)

    async def clear_history(self, user_id: int) -> int:
        """Soft-delete every active message (what `/reset` does); returns how many."""
        async with self.database.session() as session:
            await self._lock_user(session, user_id)
            return await self._soft_delete(session, Message.user_id == user_id)

    async def get_system_prompt(self, user_id: int) -> str:
        """The user's system prompt, or the default when they have none."""
        async with self.database.session(read_only=True) as session:
            return await self._prompt(session, user_id)

    async def set_system_prompt(self, user_id: int, prompt: str | None) -> None:
        """Set (or with None restore the default) prompt and start a clean history."""
        stored = None if prompt is None else clean_text(prompt, what="system prompt")
        async with self.database.session() as session:
            await self._lock_user(session, user_id)
            await session.execute(
                update(UserSettings)
                .where(UserSettings.user_id == user_id)
                .values(system_prompt=stored, updated_at=utc_now())
            )
            await self._soft_delete(session, Message.user_id == user_id)

    async def set_max_history_messages(self, user_id: int, limit: int) -> int:
        """Set the user's history limit (1..1000) and trim at once; returns how many went."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError("max_history_messages must be an integer")
        if not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise ValueError(f"max_history_messages must be between 1 and {MAX_HISTORY_LIMIT}")
        async with self.database.session() as session:
            await self._lock_user(session, user_id)
            await session.execute(
                update(UserSettings)
                .where(UserSettings.user_id == user_id)
                .values(max_history_messages=limit, updated_at=utc_now())
            )
            return await self._trim(session, user_id, limit)

    async def prepare_retry(self, user_id: int) -> str | None:
        """Soft-delete the answer(s) after the last active user message and return it.

        None when there is no user message to answer again.
        """
        async with self.database.session() as session:
            await self._lock_user(session, user_id)
            last = (
                await session.execute(
                    select(Message.seq, Message.content)
                    .where(_active(user_id), Message.role == "user")
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).first()
            if last is None:
                return None
            await self._soft_delete(session, Message.user_id == user_id, Message.seq > last.seq)
            return str(last.content)

    async def get_dialog_info(self, user_id: int) -> DialogInfo:
        """Counts, sizes and times of the user's dialogue (what `/status` shows)."""
        active = Message.deleted_at.is_(None)
        async with self.database.session(read_only=True) as session:
            row = (
                await session.execute(
                    select(
                        func.count().filter(active),
                        func.coalesce(func.sum(Message.content_length).filter(active), 0),
                        func.count().filter(Message.deleted_at.is_not(None)),
                        func.min(Message.created_at).filter(active),
                        func.max(Message.created_at).filter(active),
                    ).where(Message.user_id == user_id)
                )
            ).one()
            user_settings = await self._settings_row(session, user_id)
        stored_prompt = user_settings.system_prompt if user_settings else None
        return DialogInfo(
            active_count=int(row[0]),
            total_characters=int(row[1]),
            deleted_count=int(row[2]),
            first_message_at=_as_utc(row[3]),
            last_message_at=_as_utc(row[4]),
            max_history_messages=(
                user_settings.max_history_messages
                if user_settings
                else self.settings.default_max_history_messages
            ),
            system_prompt=stored_prompt or self.settings.default_system_prompt,
            is_default_prompt=stored_prompt is None,
        )

    # Internals: each runs inside the caller's transaction.

    async def _insert_user(self, session: AsyncSession, user_id: int) -> None:
        make = sqlite.insert if self.database.is_sqlite else postgresql.insert
        now = utc_now()
        await session.execute(
            make(User).values(id=user_id, created_at=now, updated_at=now).on_conflict_do_nothing()
        )
        await session.execute(
            make(UserSettings)
            .values(
                user_id=user_id,
                max_history_messages=self.settings.default_max_history_messages,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )

    async def _next_seq(self, session: AsyncSession, user_id: int) -> tuple[int, int]:
        """Bump the user's sequence (locking their row until commit); return it and the limit.

        The row lock serializes every writer of this user across processes, which is what
        keeps trimming exact under concurrency.
        """
        limit_subquery = (
            select(UserSettings.max_history_messages)
            .where(UserSettings.user_id == user_id)
            .scalar_subquery()
        )
        statement = (
            update(User)
            .where(User.id == user_id)
            .values(message_seq=User.message_seq + 1)
            .returning(User.message_seq, limit_subquery)
        )
        row = (await session.execute(statement)).first()
        if row is None:
            await self._insert_user(session, user_id)
            row = (await session.execute(statement)).one()
        limit = row[1] if row[1] is not None else self.settings.default_max_history_messages
        return int(row[0]), int(limit)

    async def _lock_user(self, session: AsyncSession, user_id: int) -> None:
        """Take the user's row lock (creating the user if needed) for this transaction."""
        found = (
            await session.execute(select(User.id).where(User.id == user_id).with_for_update())
        ).first()
        if found is None:
            await self._insert_user(session, user_id)
            await session.execute(select(User.id).where(User.id == user_id).with_for_update())

    async def _trim(self, session: AsyncSession, user_id: int, limit: int) -> int:
        # The seq of the limit-th newest active message; everything older goes.
        keep_from = (
            select(Message.seq)
            .where(_active(user_id))
            .order_by(Message.seq.desc())
            .offset(limit - 1)
            .limit(1)
            .scalar_subquery()
        )
        return await self._soft_delete(session, Message.user_id == user_id, Message.seq < keep_from)

    async def _soft_delete(self, session: AsyncSession, *conditions: Any) -> int:
        result = await session.execute(
            update(Message)
            .where(Message.deleted_at.is_(None), *conditions)
            .values(deleted_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _history(self, session: AsyncSession, user_id: int) -> list[HistoryMessage]:
        rows = await session.execute(
            select(Message.role, Message.content).where(_active(user_id)).order_by(Message.seq)
        )
        return [{"role": role, "content": content} for role, content in rows]

    async def _settings_row(self, session: AsyncSession, user_id: int) -> UserSettings | None:
        return (
            await session.execute(select(UserSettings).where(UserSettings.user_id == user_id))
        ).scalar_one_or_none()

    async def _prompt(self, session: AsyncSession, user_id: int) -> str:
        stored = (
            await session.execute(
                select(UserSettings.system_prompt).where(UserSettings.user_id == user_id)
            )
        ).scalar_one_or_none()
        return stored or self.settings.default_system_prompt


def _active(user_id: int) -> Any:
    return (Message.user_id == user_id) & Message.deleted_at.is_(None)


def _as_utc(value: datetime | None) -> datetime | None:
    # Aggregates bypass the column type on SQLite and come back as naive or as strings.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

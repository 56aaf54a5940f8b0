"""Storage: the dialogue API over Database. Each method is one short transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ai_tg_bot.config import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import MESSAGE_ROLES, Message, User, UserSettings
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.limits import (
    QuotaExceededError,
    UserLimits,
    check_limit_value,
    day_start,
    resolve_limits,
)

HistoryMessage = dict[str, str]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What `add_message` stored."""

    seq: int
    content: str
    trimmed: int


@dataclass(frozen=True, slots=True)
class Context:
    """What one LLM call needs: prompt, the history that fits the budget, and the model.

    `history` is oldest first; `omitted` counts active messages left out of this request
    by the context budget (they stay stored).
    """

    system_prompt: str
    history: list[HistoryMessage]
    model: str
    omitted: int = 0


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens the LLM reported for one answer."""

    model: str
    prompt_tokens: int
    completion_tokens: int


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
    messages_today: int
    total_tokens: int
    limits: UserLimits


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

    async def add_message(
        self,
        user_id: int,
        role: str,
        content: str,
        *,
        usage: TokenUsage | None = None,
        enforce_quotas: bool = False,
    ) -> StoredMessage:
        """Store one message, then soft-delete the oldest active ones beyond the limit.

        With `enforce_quotas` (a user's message from the bot) the daily and per-minute
        limits are checked under the user's lock, so they are exact across instances;
        over a limit QuotaExceededError is raised and nothing is stored.
        """
        if role not in MESSAGE_ROLES:
            raise ValueError(f"role must be one of {', '.join(MESSAGE_ROLES)}, not {role!r}")
        content = clean_text(content)
        async with self.database.session() as session:
            seq, history_limit, daily_limit = await self._next_seq(session, user_id)
            now = utc_now()
            if enforce_quotas:
                await self._check_quotas(session, user_id, daily_limit, now)
            await session.execute(
                insert(Message).values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    seq=seq,
                    role=role,
                    content=content,
                    content_length=len(content),
                    created_at=now,
                    model=usage.model if usage else None,
                    prompt_tokens=usage.prompt_tokens if usage else None,
                    completion_tokens=usage.completion_tokens if usage else None,
                )
            )
            trimmed = await self._trim(session, user_id, history_limit)
        return StoredMessage(seq=seq, content=content, trimmed=trimmed)

    async def load_history(self, user_id: int) -> list[HistoryMessage]:
        """Active messages, oldest first, as `[{"role": ..., "content": ...}]`."""
        async with self.database.session(read_only=True) as session:
            return await self._history(session, user_id)

    async def load_context(self, user_id: int) -> Context:
        """Prompt, model and the newest history within the user's character budget.

        The newest message is always included, even alone over the budget; older ones
        are left out of the request (not deleted) once the budget is spent. The stored
        `content_length` lets the database do the counting.
        """
        async with self.database.session(read_only=True) as session:
            row = await self._settings_row(session, user_id)
            limits = resolve_limits(row, self.settings)
            budget = limits.max_context_chars
            newest_first = (
                select(
                    Message.seq,
                    Message.role,
                    Message.content,
                    func.sum(Message.content_length)
                    .over(order_by=Message.seq.desc())
                    .label("running"),
                    func.row_number().over(order_by=Message.seq.desc()).label("position"),
                )
                .where(_active(user_id))
                .subquery()
            )
            fits = (
                literal(True)
                if budget == 0
                else or_(newest_first.c.running <= budget, newest_first.c.position == 1)
            )
            rows = (
                await session.execute(
                    select(
                        newest_first.c.role, newest_first.c.content, fits.label("fits")
                    ).order_by(newest_first.c.seq)
                )
            ).all()
        history = [{"role": r.role, "content": r.content} for r in rows if r.fits]
        return Context(
            system_prompt=(row.system_prompt if row else None)
            or self.settings.default_system_prompt,
            history=history,
            model=limits.model,
            omitted=len(rows) - len(history),
        )

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

    async def set_max_history_messages(self, user_id: int, limit: int | None) -> int:
        """Set the history limit (1..1000; None: the default) and trim at once.

        Returns how many messages the new limit soft-deleted.
        """
        if limit is not None:
            check_limit_value("history", limit)
        async with self.database.session() as session:
            await self._lock_user(session, user_id)
            await session.execute(
                update(UserSettings)
                .where(UserSettings.user_id == user_id)
                .values(max_history_messages=limit, updated_at=utc_now())
            )
            effective = self.settings.default_max_history_messages if limit is None else limit
            return await self._trim(session, user_id, effective)

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
        """Counts, sizes, times, today's usage and limits (what `/status` shows)."""
        active = Message.deleted_at.is_(None)
        today = (Message.role == "user") & (Message.created_at >= day_start(utc_now()))
        tokens = func.coalesce(Message.prompt_tokens, 0) + func.coalesce(
            Message.completion_tokens, 0
        )
        async with self.database.session(read_only=True) as session:
            row = (
                await session.execute(
                    select(
                        func.count().filter(active),
                        func.coalesce(func.sum(Message.content_length).filter(active), 0),
                        func.count().filter(Message.deleted_at.is_not(None)),
                        func.min(Message.created_at).filter(active),
                        func.max(Message.created_at).filter(active),
                        func.count().filter(today),
                        func.coalesce(func.sum(tokens), 0),
                    ).where(Message.user_id == user_id)
                )
            ).one()
            user_settings = await self._settings_row(session, user_id)
        stored_prompt = user_settings.system_prompt if user_settings else None
        limits = resolve_limits(user_settings, self.settings)
        return DialogInfo(
            active_count=int(row[0]),
            total_characters=int(row[1]),
            deleted_count=int(row[2]),
            first_message_at=_as_utc(row[3]),
            last_message_at=_as_utc(row[4]),
            max_history_messages=limits.max_history_messages,
            system_prompt=stored_prompt or self.settings.default_system_prompt,
            is_default_prompt=stored_prompt is None,
            messages_today=int(row[5]),
            total_tokens=int(row[6]),
            limits=limits,
        )

    # Internals: each runs inside the caller's transaction.

    async def _insert_user(self, session: AsyncSession, user_id: int) -> None:
        await insert_user(session, user_id, is_sqlite=self.database.is_sqlite)

    async def _next_seq(self, session: AsyncSession, user_id: int) -> tuple[int, int, int]:
        """Bump the user's sequence, locking their row until commit, in one statement.

        Returns the new sequence number and the user's history and daily limits. The row
        lock serializes every writer of this user across processes, which is what keeps
        trimming (and quota counting) exact under concurrency.
        """

        def setting(column: Any) -> Any:
            return select(column).where(UserSettings.user_id == user_id).scalar_subquery()

        statement = (
            update(User)
            .where(User.id == user_id)
            .values(message_seq=User.message_seq + 1)
            .returning(
                User.message_seq,
                setting(UserSettings.max_history_messages),
                setting(UserSettings.daily_message_limit),
            )
        )
        row = (await session.execute(statement)).first()
        if row is None:
            await self._insert_user(session, user_id)
            row = (await session.execute(statement)).one()
        history = self.settings.default_max_history_messages if row[1] is None else row[1]
        daily = self.settings.daily_message_limit if row[2] is None else row[2]
        return int(row[0]), int(history), int(daily)

    async def _check_quotas(
        self, session: AsyncSession, user_id: int, daily_limit: int, now: datetime
    ) -> None:
        """Raise QuotaExceededError when today's or this minute's user messages are used up."""
        per_minute = self.settings.rate_limit_per_minute
        if not daily_limit and not per_minute:
            return
        today, minute_ago = day_start(now), now - timedelta(minutes=1)
        counts = (
            await session.execute(
                select(
                    func.count().filter(Message.created_at >= today),
                    func.count().filter(Message.created_at >= minute_ago),
                    func.min(Message.created_at).filter(Message.created_at >= minute_ago),
                ).where(
                    Message.user_id == user_id,
                    Message.role == "user",
                    Message.created_at >= min(today, minute_ago),
                )
            )
        ).one()
        if daily_limit and counts[0] >= daily_limit:
            raise QuotaExceededError("daily", daily_limit, today + timedelta(days=1))
        if per_minute and counts[1] >= per_minute:
            oldest = _as_utc(counts[2]) or now
            raise QuotaExceededError("rate", per_minute, oldest + timedelta(minutes=1))

    async def _lock_user(self, session: AsyncSession, user_id: int) -> None:
        """Take the user's row lock (creating the user if needed) for this transaction."""
        await lock_user(session, user_id, is_sqlite=self.database.is_sqlite)

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


async def insert_user(session: AsyncSession, user_id: int, *, is_sqlite: bool) -> None:
    """Create the `users` and `user_settings` rows unless they exist (NULL limits: defaults)."""
    make = sqlite.insert if is_sqlite else postgresql.insert
    now = utc_now()
    await session.execute(
        make(User).values(id=user_id, created_at=now, updated_at=now).on_conflict_do_nothing()
    )
    await session.execute(
        make(UserSettings)
        .values(user_id=user_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing()
    )


async def lock_user(session: AsyncSession, user_id: int, *, is_sqlite: bool) -> None:
    """Lock the user's row for the transaction (SQLite: BEGIN IMMEDIATE already has)."""
    locked = select(User.id).where(User.id == user_id).with_for_update()
    if (await session.execute(locked)).first() is None:
        await insert_user(session, user_id, is_sqlite=is_sqlite)
        await session.execute(locked)


def _active(user_id: int) -> Any:
    return (Message.user_id == user_id) & Message.deleted_at.is_(None)


def _as_utc(value: datetime | None) -> datetime | None:
    # Aggregates bypass the column type on SQLite and come back as naive or as strings.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

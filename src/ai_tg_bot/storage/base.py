"""What every store shares: the database and settings, and the statements that run
inside a caller's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ai_tg_bot.config import Settings
from ai_tg_bot.db import Database, Message, User, UserSettings, run, utc_now
from ai_tg_bot.limits import (
    LimitsRow,
    SettingsRow,
    UserLimits,
    resolve_limits,
)
from ai_tg_bot.storage import fused, statements
from ai_tg_bot.storage.records import (
    DuplicateMessageError,
    NewQuestion,
    TokenUsage,
    sent_chars,
)

# DialogueStore runs on bare connections; AccountsStore shares these helpers from an ORM session.
Executor = AsyncConnection | AsyncSession


class Slot(NamedTuple):
    """What taking a message's slot read: the slot, the user's limits, and their
    current conversation (None: the next message outside a topic opens one). Taken with
    a lease (fused.ASK_SLOT): whether the turn lease is now ours, and the settings row
    the question is answered with."""

    seq: int
    limits: UserLimits
    current_conversation_id: int | None
    leased: bool = False
    row: SettingsRow | None = None


class Lease(NamedTuple):
    """The turn lease a transaction tries to take for `owner`, for `seconds`."""

    owner: str
    seconds: float


class StorageBase:
    """Holds the Database and Settings, and the statements every store's methods share."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        # Stars top-ups exist (STARS_PACKS): a budget refusal mentions /buy.
        self.can_buy = bool(settings.stars_packs)
        self.dialect = "sqlite" if database.is_sqlite else "postgresql"

    async def _insert_user(self, session: Executor, user_id: int) -> None:
        await insert_user(session, user_id, is_sqlite=self.database.is_sqlite)

    async def _next_seq(self, session: Executor, user_id: int, lease: Lease | None = None) -> Slot:
        """Take two sequence slots, locking the user's row until commit, in one statement.

        Returns the message's slot (the next one is reserved for its answer), the
        user's limits and their current conversation, read by the same statement. The
        row lock serializes every writer of this user across processes, which keeps
        trimming, quota counting and opening conversations exact. With `lease`, the same
        statement tries to take the user's turn lease (fused.ASK_SLOT).
        """
        statement: Any = statements.NEXT_SEQ
        parameters: dict[str, Any] = {"b_user_id": user_id}
        if lease is not None:
            now = utc_now()
            until = now + timedelta(seconds=lease.seconds)
            statement = fused.ASK_SLOT
            parameters |= {"b_owner": lease.owner, "b_now": now, "b_until": until}
        row = (await session.execute(statement, parameters)).first()
        if row is None:
            await self._insert_user(session, user_id)
            row = (await session.execute(statement, parameters)).one()
        return Slot(
            int(row.message_seq) - 1,
            resolve_limits(cast(LimitsRow, row), self.settings, user_id),
            row.current_conversation_id,
            leased=bool(lease and row.leased),
            row=cast(SettingsRow, row) if lease else None,
        )

    async def limits_in(self, session: Executor, user_id: int) -> UserLimits:
        """The user's limits in force, read in the caller's transaction."""
        return await self._limits(session, user_id)

    async def _limits(self, session: Executor, user_id: int) -> UserLimits:
        """The user's limits in force, read in this transaction."""
        return resolve_limits(await self._settings_row(session, user_id), self.settings, user_id)

    async def _insert_message(
        self,
        session: Executor,
        *,
        user_id: int,
        conversation_id: int,
        seq: int,
        role: str,
        content: str,
        created_at: datetime,
        status: str | None = None,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        kind: str | None = None,
        attachments: Any = None,
        usage: TokenUsage | None = None,
        deleted_at: datetime | None = None,
        deleted_reason: str | None = None,
        author_id: int | None = None,
    ) -> None:
        """One message row (statements.INSERT_MESSAGE: every column a parameter)."""
        await run(
            session,
            statements.INSERT_MESSAGE,
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "conversation_id": conversation_id,
                "seq": seq,
                "role": role,
                "content": content,
                "content_length": sent_chars(content, attachments),
                "created_at": created_at,
                "status": status,
                "telegram_chat_id": telegram_chat_id,
                "telegram_message_id": telegram_message_id,
                "kind": kind,
                "attachments": list(attachments) if attachments else None,
                "model": usage.model if usage else None,
                "prompt_tokens": usage.prompt_tokens if usage else None,
                "completion_tokens": usage.completion_tokens if usage else None,
                "deleted_at": deleted_at,
                "deleted_reason": deleted_reason,
                "author_id": author_id,
            },
        )

    async def _queue_question(
        self,
        session: Executor,
        seq: int,
        question: NewQuestion,
        created_at: datetime,
        conversation_id: int,
    ) -> None:
        """A user's question, pending in slot `seq` (its answer will take `seq + 1`)."""
        await self._insert_message(
            session,
            user_id=question.user_id,
            conversation_id=conversation_id,
            seq=seq,
            role="user",
            content=question.content,
            created_at=created_at,
            status="pending",
            telegram_chat_id=question.telegram_chat_id,
            telegram_message_id=question.telegram_message_id,
            kind=question.kind,
            attachments=question.attachments,
            author_id=question.author_id,
        )

    async def _locked_limits(self, session: Executor, user_id: int) -> UserLimits | None:
        """Take the user's row lock and read their limits, in one statement
        (fused.LOCK_SETTINGS); None when the user has no row."""
        row = (await run(session, fused.LOCK_SETTINGS, {"b_user_id": user_id})).first()
        return None if row is None else resolve_limits(cast(LimitsRow, row), self.settings, user_id)

    async def _lock_user(self, session: Executor, user_id: int) -> None:
        """Take the user's row lock (creating the user if needed) for this transaction."""
        await lock_user(session, user_id, is_sqlite=self.database.is_sqlite)

    async def _trim(self, session: Executor, user_id: int, limit: int, conversation_id: int) -> int:
        """Soft-delete the conversation's active messages beyond the newest `limit` up to
        its oldest pending question (never pending questions): a queued question keeps
        its whole window. Once a queue drains, the last answer trims to `limit` exactly.
        """
        parameters = {
            "b_user_id": user_id,
            "b_conversation_id": conversation_id,
            "skip": limit - 1,
            "b_now": utc_now(),
        }
        result = await run(session, statements.TRIM, parameters)
        return int(result.rowcount)

    async def _soft_delete(self, session: Executor, reason: str, *conditions: Any) -> int:
        result = await session.execute(
            update(Message)
            .where(statements.IS_ACTIVE, *conditions)
            .values(deleted_at=utc_now(), deleted_reason=reason)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _conversation_settings(
        self, session: Executor, user_id: int, conversation_id: int | None
    ) -> tuple[SettingsRow | None, str | None]:
        """The user's settings row and, as stored, the prompt the conversation is answered
        with: its own /role, else the user's default (None: DEFAULT_SYSTEM_PROMPT). One
        read (statements.CONTEXT_SETTINGS)."""
        parameters = {"b_user_id": user_id, "b_conversation_id": conversation_id}
        row = (await run(session, statements.CONTEXT_SETTINGS, parameters)).first()
        if row is None:
            return None, None
        return cast(SettingsRow, row), row.conversation_prompt or row.system_prompt

    async def _settings_row(self, session: Executor, user_id: int) -> SettingsRow | None:
        row = (await run(session, statements.SETTINGS_ROW, {"b_user_id": user_id})).first()
        return cast("SettingsRow | None", row)


class Seen(NamedTuple):
    """A question's Telegram message, refused if stored before (a redelivered update)."""

    chat_id: int | None
    message_id: int

    def refuse(self, seq: int | None, waiting: bool | None) -> None:
        """Raise DuplicateMessageError when the message was found stored (`seq`)."""
        if seq is not None:
            pending = int(seq) if waiting else None
            raise DuplicateMessageError(f"{self.chat_id}/{self.message_id}", pending_seq=pending)


async def refuse_seen(session: Executor, seen: Seen) -> None:
    """Raise DuplicateMessageError if this Telegram message is stored (by any instance)."""
    parameters = {"chat_id": seen.chat_id, "message_id": seen.message_id}
    found = (await run(session, statements.SEEN, parameters)).first()
    if found is not None:
        seen.refuse(found.seq, found.waiting)


async def insert_user(session: Executor, user_id: int, *, is_sqlite: bool) -> None:
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


async def lock_user(session: Executor, user_id: int, *, is_sqlite: bool) -> None:
    """Lock the user's row for the transaction (SQLite: BEGIN IMMEDIATE already has)."""
    parameters = {"b_user_id": user_id}
    if (await run(session, statements.LOCK_USER, parameters)).first() is None:
        await insert_user(session, user_id, is_sqlite=is_sqlite)
        await run(session, statements.LOCK_USER, parameters)


def active(user_id: int) -> Any:
    """The user's messages still in the history."""
    return (Message.user_id == user_id) & statements.IS_ACTIVE


def as_utc(value: datetime | None) -> datetime | None:
    # Aggregates bypass the column type on SQLite and come back as naive or as strings.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

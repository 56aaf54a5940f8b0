"""The turn queue: pending questions answered one at a time per user, by one process.

A question is stored as `pending` (and acknowledged to Telegram) at once. Whoever holds
the user's turn lease answers that user's pending questions oldest first, each seeing
the answers before it; the others wait for the lease or for their question to be
answered. The lease is a row value with an expiry, taken and released in short
transactions, so no connection is held while the LLM answers, and a crashed holder's
lease simply runs out.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert, select, update

from ai_tg_bot.db.models import Message
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Executor, StorageBase, active
from ai_tg_bot.storage.records import Question, TokenUsage, clean_text


class TurnsMixin(StorageBase):
    """Pending questions, their answers, and the per-user turn lease."""

    async def try_acquire_turn(self, user_id: int, owner: str, ttl_seconds: float) -> bool:
        """Take (or extend, for the same owner) the user's turn lease; False if busy."""
        async with self.database.connection() as session:
            return await take_lease(session, user_id, owner, ttl_seconds)

    async def release_turn(self, user_id: int, owner: str) -> None:
        """Give the lease back (only if still ours)."""
        async with self.database.connection() as session:
            await release_lease(session, user_id, owner)

    async def next_pending(self, user_id: int) -> Question | None:
        """The user's oldest active question still waiting for an answer."""
        async with self.database.connection(read_only=True) as session:
            return await oldest_pending(session, user_id)

    async def is_pending(self, user_id: int, seq: int) -> bool:
        """Whether that question still waits (False once answered, failed or cleared)."""
        async with self.database.connection(read_only=True) as session:
            found = await session.execute(
                select(Message.id).where(
                    active(user_id), Message.seq == seq, Message.status == "pending"
                )
            )
            return found.first() is not None

    async def add_answer(
        self, user_id: int, question: Question, content: str, usage: TokenUsage | None = None
    ) -> str:
        """Store the answer in the slot after its question and mark the question answered.

        If the question was cleared meanwhile (/reset, /role), the answer is kept as
        already deleted: the history moved on, but nothing the LLM said is lost. Storing
        the same answer twice (a retried call) stores it once.
        """
        content = clean_text(content)
        async with self.database.connection() as session:
            return await self._store_answer(session, user_id, question, content, usage)

    async def mark_failed(self, user_id: int, question: Question) -> None:
        """The LLM could not answer: the question stays in history, `/retry` can re-ask it."""
        async with self.database.connection() as session:
            await self._mark_failed(session, user_id, question)

    async def complete(
        self,
        user_id: int,
        question: Question,
        content: str | None,
        usage: TokenUsage | None,
        *,
        owner: str,
        lease_seconds: float,
    ) -> tuple[str | None, Question | None]:
        """One transaction for the turn holder: store the answer (or mark the question
        failed when `content` is None) and fetch the next pending question; renew the
        lease for it, or give the lease back when none is left.

        A question stored meanwhile by another process waits on the user's row lock
        (taken here first) or is already visible here: either this call returns it, or
        its own turn finds the lease free.
        """
        content = None if content is None else clean_text(content)
        async with self.database.connection() as session:
            if content is None:
                await session.execute(statements.LOCK_USER, {"b_user_id": user_id})
                await self._mark_failed(session, user_id, question)
                stored = None
            else:
                stored = await self._store_answer(session, user_id, question, content, usage)
            following = await oldest_pending(session, user_id)
            if following is None:
                await release_lease(session, user_id, owner)
            else:
                await take_lease(session, user_id, owner, lease_seconds)
            return stored, following

    async def _store_answer(
        self,
        session: Executor,
        user_id: int,
        question: Question,
        content: str,
        usage: TokenUsage | None,
    ) -> str:
        locked = await session.execute(statements.LOCK_USER, {"b_user_id": user_id})
        if locked.first() is None:
            # The user was forgotten (/forget) while the LLM answered: storing the answer
            # would bring their rows back. They are shown it; nothing is kept.
            return content
        existing = (
            await session.execute(
                select(Message.content).where(active(user_id), Message.seq == question.seq + 1)
            )
        ).scalar_one_or_none()
        if existing is not None:
            # Already stored: a retry after a commit whose reply was lost (a dropped
            # connection). Storing it again would double the answer.
            return str(existing)
        answered = await session.execute(
            update(Message)
            .where(active(user_id), Message.seq == question.seq, Message.role == "user")
            .values(status="answered")
            .returning(Message.id)
        )
        now = utc_now()
        still_active = answered.first() is not None
        await session.execute(
            insert(Message).values(
                id=uuid.uuid4(),
                user_id=user_id,
                seq=question.seq + 1,
                role="assistant",
                content=content,
                content_length=len(content),
                created_at=now,
                deleted_at=None if still_active else now,
                deleted_reason=None if still_active else "reset",
                model=usage.model if usage else None,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
            )
        )
        await self._trim(session, user_id, await self._history_limit(session, user_id))
        return content

    async def _mark_failed(self, session: Executor, user_id: int, question: Question) -> None:
        await session.execute(
            update(Message)
            .where(active(user_id), Message.seq == question.seq, Message.status == "pending")
            .values(status="failed")
        )

    async def prepare_retry(self, user_id: int) -> Question | None:
        """Soft-delete the answer to the last active question and queue it again.

        None when there is no user message to answer again.
        """
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            last = (
                await session.execute(
                    select(Message.seq, Message.content, Message.telegram_chat_id)
                    .where(active(user_id), Message.role == "user")
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).first()
            if last is None:
                return None
            await self._soft_delete(
                session, "retry", Message.user_id == user_id, Message.seq > last.seq
            )
            await session.execute(
                update(Message)
                .where(active(user_id), Message.seq == last.seq)
                .values(status="pending")
            )
            return Question(int(last.seq), str(last.content), last.telegram_chat_id)


async def take_lease(session: Executor, user_id: int, owner: str, ttl_seconds: float) -> bool:
    """Take the user's turn lease if free, expired, or already `owner`'s; extend it."""
    now = utc_now()
    until = now + timedelta(seconds=ttl_seconds)
    parameters = {"b_user_id": user_id, "b_now": now, "b_owner": owner, "b_until": until}
    return (await session.execute(statements.TAKE_LEASE, parameters)).first() is not None


async def release_lease(session: Executor, user_id: int, owner: str) -> None:
    """Give the user's turn lease back, only if `owner` still holds it."""
    await session.execute(statements.RELEASE_LEASE, {"b_user_id": user_id, "b_owner": owner})


async def oldest_pending(session: Executor, user_id: int) -> Question | None:
    """The user's oldest active question still waiting for an answer."""
    row = (await session.execute(statements.OLDEST_PENDING, {"b_user_id": user_id})).first()
    return None if row is None else Question(int(row[0]), str(row[1]), row[2])

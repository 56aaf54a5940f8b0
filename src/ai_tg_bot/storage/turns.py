"""The turn queue: pending questions answered one at a time per user, by one process.

A question is stored as `pending` (and acknowledged to Telegram) at once. Whoever holds
the user's turn lease answers that user's pending questions oldest first, each seeing
the answers before it; the others wait for the lease or for their question to be
answered. The lease is a row value with an expiry, taken and released in short
transactions, so no connection is held while the LLM answers, and a crashed holder's
lease simply runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select, update

from ai_tg_bot.db import Message, run, utc_now
from ai_tg_bot.limits import UserLimits, resolve_limits
from ai_tg_bot.storage import fused, statements
from ai_tg_bot.storage.base import Executor, StorageBase, active
from ai_tg_bot.storage.budgets import charge, check_budget, record_usage
from ai_tg_bot.storage.placement import (
    name_if_untitled,
)
from ai_tg_bot.storage.queue import (
    conversation_of,
    hand_on,
    release_lease,
    stored_at_all,
    take_lease,
    take_up_oldest,
)
from ai_tg_bot.storage.records import (
    Attachment,
    Question,
    TokenUsage,
    clean_text,
)


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
        """The user's oldest active question still waiting for an answer (with the
        refusal, if their token budget is spent by now), taken up: its attempt counted."""
        async with self.database.connection() as session:
            question = await take_up_oldest(session, user_id)
            if question is None:
                return None
            return await self._within_budget(session, user_id, question, None)

    async def is_pending(self, user_id: int, seq: int) -> bool:
        """Whether that question still waits (False once answered, failed or cleared)."""
        async with self.database.connection(single=True) as session:
            found = await session.execute(
                select(Message.id).where(
                    active(user_id), Message.seq == seq, Message.status == "pending"
                )
            )
            return found.first() is not None

    async def complete(
        self,
        user_id: int,
        question: Question,
        content: str | None,
        usage: TokenUsage | None,
        *,
        owner: str,
        lease_seconds: float,
        stopped: bool = False,
        cut: bool = False,
        attachments: Sequence[Attachment] = (),
    ) -> tuple[str | None, Question | None]:
        """One transaction for the turn holder: store the answer (or mark the question
        failed when `content` is None) and fetch the next pending question; renew the
        lease for it, or give the lease back when none is left. A `stopped` answer (the
        user pressed Stop) is what had arrived, stored with kind "stopped"; a `cut` one
        (a server error or the deadline ended it) likewise, with kind "cut". `attachments`
        are stored on the answer (the tool calls made for it).

        A question stored meanwhile by another process waits on the user's row lock
        (taken here first) or is already visible here: either this call returns it, or
        its own turn finds the lease free.
        """
        content = None if content is None else clean_text(content)
        async with self.database.connection() as session:
            limits: UserLimits | None = None
            if content is None:
                limits = await self._locked_limits(session, user_id)
                failed_now = await self._mark_failed(session, user_id, question)
                if failed_now and usage is not None and usage.total:
                    # Paid for without an answer (tool rounds before a failure or a
                    # Stop): counted all the same, once (a retried call finds it failed).
                    charged = limits or resolve_limits(None, self.settings, user_id)
                    await self._charge(session, user_id, question, usage, charged)
                stored = None
            else:
                stored, limits = await self._store_answer(
                    session,
                    user_id,
                    question,
                    content,
                    usage,
                    kind="stopped" if stopped else ("cut" if cut else None),
                    attachments=attachments,
                )
            # The lease kept for the next question, or given back when none waits. When
            # it lapsed (a heartbeat could not reach the database) and another turn took
            # it, that turn answers the rest: going on would answer twice.
            if not await hand_on(session, user_id, owner, lease_seconds):
                return stored, None
            following = await take_up_oldest(session, user_id)
            if following is not None:
                following = await self._within_budget(session, user_id, following, limits)
            return stored, following

    async def _within_budget(
        self, session: Executor, user_id: int, question: Question, limits: UserLimits | None
    ) -> Question:
        """The question, carrying the refusal if its payer's token budget is spent by now
        (it was checked when asked; answers since may have used the budget up). The
        payer is the user, or in a group's conversation the member who asked."""
        payer = question.author_id or user_id
        if payer != user_id or limits is None:
            limits = await self._limits(session, payer)
        over = await check_budget(session, payer, limits, utc_now(), can_buy=self.can_buy)
        return question if over is None else replace(question, refusal=over)

    async def _charge(
        self,
        session: Executor,
        user_id: int,
        question: Question,
        usage: TokenUsage,
        limits: UserLimits,
    ) -> None:
        """Count what answering `question` cost against its payer (the member who asked,
        in a group's conversation; locked after the group, as when asking)."""
        payer = question.author_id or user_id
        if payer != user_id:
            own = await self._locked_limits(session, payer)
            limits = own or resolve_limits(None, self.settings, payer)
        await record_usage(session, payer, usage, limits, utc_now(), dialect=self.dialect)

    async def _store_answer(
        self,
        session: Executor,
        user_id: int,
        question: Question,
        content: str,
        usage: TokenUsage | None,
        *,
        kind: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> tuple[str, UserLimits | None]:
        """The answer stored (and its tokens counted), and the user's limits."""
        limits = await self._locked_limits(session, user_id)
        if limits is None:
            return content, None  # the user row is gone: nothing to count against
        parameters = {"b_user_id": user_id, "b_seq": question.seq}
        answered = (await run(session, fused.ANSWER_QUESTION, parameters)).first()
        still_active = answered is not None
        if still_active:
            existing = answered.existing_answer
        else:  # the question left the history (trimmed, cleared): its answer may not have
            parameters["b_seq"] = question.seq + 1
            existing = (await run(session, statements.STORED_CONTENT, parameters)).scalar()
        if existing is not None:
            # Already stored: a retry after a commit whose reply was lost (a dropped
            # connection). Storing (and counting) it again would double the answer.
            return str(existing), None
        now = utc_now()
        if usage is not None:  # spent, whatever happens to the words below
            await self._charge(session, user_id, question, usage, limits)
        if not still_active and not await stored_at_all(session, user_id, question.seq):
            # The user was forgotten (/forget) while the LLM answered: storing the answer
            # would bring their words back. They are shown it; nothing is kept.
            return content, limits
        conversation_id = conversation_of(question)
        await self._insert_message(
            session,
            user_id=user_id,
            conversation_id=conversation_id,
            seq=question.seq + 1,
            role="assistant",
            content=content,
            created_at=now,
            kind=kind,
            attachments=attachments,
            usage=usage,
            deleted_at=None if still_active else now,
            deleted_reason=None if still_active else "reset",
            author_id=question.author_id,
        )
        await self._trim(session, user_id, limits.max_history_messages, conversation_id)
        return content, limits

    async def _count(self, session: Executor, user_id: int, cost: TokenUsage | None) -> None:
        """Record a paid call's tokens under the user's lock (nothing when there are none)."""
        if cost is not None and cost.total:
            await charge(self, session, user_id, cost)

    async def _mark_failed(self, session: Executor, user_id: int, question: Question) -> bool:
        """Mark the question failed; whether it was still pending (not marked before)."""
        marked = await session.execute(
            update(Message)
            .where(active(user_id), Message.seq == question.seq, Message.status == "pending")
            .values(status="failed")
            .returning(Message.id)
        )
        return marked.first() is not None

    async def set_transcript(
        self, user_id: int, question: Question, transcript: str, cost: TokenUsage | None = None
    ) -> Question:
        """Store a voice question's transcript as its content (what search and export see),
        and count what the transcription cost (`cost`)."""
        content = clean_text(transcript)
        async with self.database.connection() as session:
            await self._count(session, question.author_id or user_id, cost)
            await session.execute(
                update(Message)
                .where(active(user_id), Message.seq == question.seq, Message.role == "user")
                .values(content=content, content_length=len(content))
            )
            # An untitled conversation is named by its first words, spoken ones too.
            await name_if_untitled(session, conversation_of(question), content)
        return replace(question, content=content)

    async def drop_unheard(
        self, user_id: int, question: Question, cost: TokenUsage | None = None
    ) -> None:
        """A voice question with no speech in it: out of the history (still counted, and
        its transcription's `cost` too).

        Cleared as if the user had reset that one message: there is nothing in it to keep.
        """
        async with self.database.connection() as session:
            await self._count(session, question.author_id or user_id, cost)
            await session.execute(
                update(Message)
                .where(active(user_id), Message.seq == question.seq, Message.status == "pending")
                .values(status="failed", deleted_at=utc_now(), deleted_reason="reset")
            )

"""The turn queue's shared steps, each inside a caller's transaction: the user's turn
lease taken, handed on and given back, the oldest question waiting taken up (its
attempts counted: so a question whose answerer keeps dying is failed after MAX_ASKS,
never asked forever), and a Question read from a row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ai_tg_bot.db import Message, run, utc_now
from ai_tg_bot.storage import fused, statements
from ai_tg_bot.storage.base import Executor
from ai_tg_bot.storage.records import Question


async def take_lease(session: Executor, user_id: int, owner: str, ttl_seconds: float) -> bool:
    """Take the user's turn lease if free, expired, or already `owner`'s; extend it."""
    now = utc_now()
    until = now + timedelta(seconds=ttl_seconds)
    parameters = {"b_user_id": user_id, "b_now": now, "b_owner": owner, "b_until": until}
    return (await run(session, statements.TAKE_LEASE, parameters)).first() is not None


async def release_lease(session: Executor, user_id: int, owner: str) -> None:
    """Give the user's turn lease back, only if `owner` still holds it."""
    await run(session, statements.RELEASE_LEASE, {"b_user_id": user_id, "b_owner": owner})


async def take_up_oldest(session: Executor, user_id: int) -> Question | None:
    """`oldest_pending` and `take_up` in one statement (fused.TAKE_UP_OLDEST)."""
    row = (await run(session, fused.TAKE_UP_OLDEST, {"b_user_id": user_id})).first()
    return None if row is None else question_of(row)


async def hand_on(session: Executor, user_id: int, owner: str, ttl_seconds: float) -> bool:
    """After an answer: keep (or take) the lease while a question waits, else give it
    back (fused.HAND_ON). True when `owner` holds it for a next question."""
    now = utc_now()
    parameters = {"b_user_id": user_id, "b_now": now, "b_owner": owner,
                  "b_until": now + timedelta(seconds=ttl_seconds)}  # fmt: skip
    row = (await run(session, fused.HAND_ON, parameters)).first()
    return bool(row and row.going_on)


async def stored_at_all(session: Executor, user_id: int, seq: int) -> bool:
    """Whether the user's message in slot `seq` is stored at all (deleted or not)."""
    found = await session.execute(
        select(Message.id).where(Message.user_id == user_id, Message.seq == seq).limit(1)
    )
    return found.first() is not None


def question_of(row: Sequence[Any]) -> Question:
    """A Question from a row of statements.QUESTION_COLUMNS."""
    seq, content, chat_id, kind, attachments, conversation_id, thread_id, attempts, author = row
    return Question(
        int(seq), str(content), chat_id, kind, tuple(attachments or ()), conversation_id,
        thread_id, attempts=int(attempts or 0), author_id=author,
    )  # fmt: skip


def conversation_of(question: Question) -> int:
    """The question's conversation (every stored question has one)."""
    if question.conversation_id is None:
        raise ValueError(f"question {question.seq} has no conversation")
    return question.conversation_id

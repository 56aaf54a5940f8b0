"""The buttons under an answer (issue 33): which answer is still the newest of its
conversation (only its buttons act), and FOLLOWUPS' suggested questions, stored on the
answer itself (its `attachments`, type "followups": no column of their own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from ai_tg_bot.db import Message
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import StorageBase, active
from ai_tg_bot.storage.budgets import budget_refusal, charge
from ai_tg_bot.storage.placement import find_conversation, in_conversation
from ai_tg_bot.storage.records import TokenUsage, without_nul

FOLLOWUPS = "followups"  # the attachment's type


@dataclass(frozen=True, slots=True)
class NewestAnswer:
    """The newest message of a conversation, an answer: its slot and its suggested
    follow-up questions (none without FOLLOWUPS, or before they were made)."""

    seq: int
    followups: tuple[str, ...] = ()


def followups_of(attachments: Any) -> tuple[str, ...]:
    """The follow-up questions stored on an answer (its `attachments`, as read)."""
    for attachment in attachments or ():
        if isinstance(attachment, dict) and attachment.get("type") == FOLLOWUPS:
            return tuple(str(q) for q in attachment.get("questions") or () if str(q).strip())
    return ()


class AnswersMixin(StorageBase):
    """What the buttons under DialogueStore's answers read and write."""

    async def newest_answer(
        self, user_id: int, thread_id: int | None = None
    ) -> NewestAnswer | None:
        """The newest active message of the user's current conversation (the topic's,
        with `thread_id`) if it is an answer; None when it is a question (asked, not yet
        answered), or there is none: an older answer's buttons have expired."""
        async with self.database.connection(read_only=True) as session:
            conversation_id = await find_conversation(session, user_id, thread_id)
            if conversation_id is None:
                return None
            newest = (
                await session.execute(
                    select(Message.seq, Message.role, Message.attachments)
                    .where(in_conversation(user_id, conversation_id), statements.IS_ACTIVE)
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).first()
        if newest is None or newest.role != "assistant":
            return None
        return NewestAnswer(int(newest.seq), followups_of(newest.attachments))

    async def may_suggest(self, user_id: int) -> bool:
        """Whether the user's token budget allows FOLLOWUPS' request (a paid call, ADR
        0011: checked under their lock before it is made)."""
        return await budget_refusal(self, user_id) is None

    async def store_followups(
        self,
        user_id: int,
        answer_seq: int,
        questions: Sequence[str],
        cost: TokenUsage | None = None,
    ) -> bool:
        """Keep the suggested questions on the answer in slot `answer_seq`, if it is still
        in the history; what suggesting them `cost` is counted either way, under the
        user's lock. False when nothing was stored (no questions, or the answer is gone)."""
        kept = [without_nul(q).strip() for q in questions if without_nul(q).strip()]
        async with self.database.connection() as session:
            await charge(self, session, user_id, cost)
            if not kept:
                return False
            answer = active(user_id) & (Message.seq == answer_seq) & (Message.role == "assistant")
            found = (await session.execute(select(Message.attachments).where(answer))).first()
            if found is None:
                return False
            others = [
                a
                for a in found.attachments or ()
                if not (isinstance(a, dict) and a.get("type") == FOLLOWUPS)
            ]
            attachments = [*others, {"type": FOLLOWUPS, "questions": kept}]
            stored = await session.execute(
                update(Message).where(answer).values(attachments=attachments)
            )
            return bool(stored.rowcount)

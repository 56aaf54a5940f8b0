"""SUMMARY_MODEL: each conversation's rolling summary of what trimming took out of its
window (`conversations.summary`), sent before the window (storage.statements.CONTEXT).

`summary_seq` is the newest trimmed message the summary covers. What is due is the
conversation's messages trimmed since (`deleted_reason` "trimmed": never what the user
cleared with /reset, /role or /retry, nor what expired), read under the owner's lock
only while their token budget allows another call. The summary is stored only if no
one moved `summary_seq` meanwhile; its cost is counted either way. /reset and /role
forget the summary and move `summary_seq` past everything the conversation held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, func, select, update

from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Executor, StorageBase
from ai_tg_bot.storage.budgets import budget_refusal, charge
from ai_tg_bot.storage.records import TokenUsage, without_nul

messages, conversations, users = statements.messages, statements.conversations, statements.users
# At most this much of what left the window is read for one summary (per message and in
# all; the rest stays due for the next one): a summary model reads only so much at once.
SUMMARY_READ_MESSAGES = 40
SUMMARY_READ_CHARS = 8000

_conversation = bindparam("b_conversation_id", type_=BigInteger)
_theirs = (conversations.c.id == _conversation) & (conversations.c.user_id == statements.USER)
# The conversation's summary and its trimmed messages it does not cover yet, oldest first
# (no rows: nothing is due).
DUE = (
    select(
        messages.c.seq,
        messages.c.role,
        func.substr(messages.c.content, 1, bindparam("b_chars", type_=Integer)).label("content"),
        conversations.c.summary,
        conversations.c.summary_seq,
    )
    .join(conversations, conversations.c.id == messages.c.conversation_id)
    .where(
        _theirs,
        messages.c.user_id == statements.USER,
        messages.c.conversation_id == _conversation,
        messages.c.deleted_reason == "trimmed",
        messages.c.seq > func.coalesce(conversations.c.summary_seq, -1),
    )
    .order_by(messages.c.seq)
    .limit(bindparam("b_limit", type_=Integer))
)
# The new summary, only over the one it was made from (`b_since`: its summary_seq).
STORE = (
    update(conversations)
    .where(
        _theirs,
        conversations.c.summary_seq.is_not_distinct_from(bindparam("b_since", type_=BigInteger)),
    )
    .values(summary=bindparam("b_summary"), summary_seq=bindparam("b_upto", type_=BigInteger))
)
# /reset, /role: no summary, and none of what the conversation held so far is ever due
# (the user's newest slot, an answer's reserved one included, is past all of it).
FORGET = (
    update(conversations)
    .where(_theirs)
    .values(
        summary=None,
        summary_seq=select(users.c.message_seq)
        .where(users.c.id == statements.USER)
        .scalar_subquery(),
    )
)


@dataclass(frozen=True, slots=True)
class SummaryDue:
    """What a conversation's summary is to be brought up to date with."""

    summary: str | None  # the summary so far (None: none yet)
    since_seq: int | None  # the summary_seq it covers up to (the check when storing)
    upto_seq: int  # the newest message below: the new summary's summary_seq
    messages: tuple[tuple[str, str], ...]  # (role, content) trimmed since, oldest first


async def forget_summary(session: Executor, user_id: int, conversation_id: int) -> None:
    """Drop the conversation's summary and what is due for it (/reset, /role), in the
    caller's transaction."""
    await session.execute(FORGET, {"b_user_id": user_id, "b_conversation_id": conversation_id})


class SummariesMixin(StorageBase):
    """The rolling summaries of DialogueStore's conversations."""

    async def summary_due(self, user_id: int, conversation_id: int) -> SummaryDue | None:
        """What the conversation's summary lacks (at most SUMMARY_READ_CHARS of it); None
        when nothing is, or when the owner's token budget is spent (a summary is a
        paid call: ADR 0011). `user_id` owns the conversation (a group's chat id for a
        group's), as for its title. What is due is read first (most answers trim
        nothing); the budget is checked only then (store_summary stores nothing if the
        summary moved meanwhile)."""
        parameters = {
            "b_user_id": user_id,
            "b_conversation_id": conversation_id,
            "b_chars": SUMMARY_READ_CHARS,
            "b_limit": SUMMARY_READ_MESSAGES,
        }
        async with self.database.connection(read_only=True) as session:
            rows = (await session.execute(DUE, parameters)).all()
        if not rows or await budget_refusal(self, user_id) is not None:
            return None
        taken: list[Any] = []
        room = SUMMARY_READ_CHARS
        for row in rows:
            if taken and len(row.content) > room:
                break  # the rest waits for the next summary
            taken.append(row)
            room -= len(row.content)
        first = rows[0]
        return SummaryDue(
            summary=first.summary,
            since_seq=first.summary_seq,
            upto_seq=int(taken[-1].seq),
            messages=tuple((str(r.role), str(r.content)) for r in taken),
        )

    async def store_summary(
        self,
        user_id: int,
        conversation_id: int,
        due: SummaryDue,
        summary: str | None,
        cost: TokenUsage | None = None,
    ) -> bool:
        """Keep `summary` as the conversation's, covering `due`, unless its summary moved
        meanwhile (another summary, /reset, /role); what making it `cost` is counted
        either way, under the owner's lock. False when nothing was stored."""
        text = without_nul(summary or "").strip()
        async with self.database.connection() as session:
            await charge(self, session, user_id, cost)
            if not text:
                return False
            parameters = {
                "b_user_id": user_id,
                "b_conversation_id": conversation_id,
                "b_since": due.since_seq,
                "b_summary": text,
                "b_upto": due.upto_seq,
            }
            stored = await session.execute(STORE, parameters)
            return bool(stored.rowcount)

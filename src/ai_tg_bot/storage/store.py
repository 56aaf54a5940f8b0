"""DialogueStore: the dialogue API over Database. Each method is one short transaction."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from ai_tg_bot.db import Message, run, utc_now
from ai_tg_bot.limits import (
    SettingsRow,
    day_start,
    resolve_limits,
    resolve_prompt,
)
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.answers import AnswersMixin
from ai_tg_bot.storage.base import Executor, Lease, Seen, Slot, StorageBase, as_utc
from ai_tg_bot.storage.budgets import usage_totals
from ai_tg_bot.storage.conversations import ConversationsMixin
from ai_tg_bot.storage.memory import MEMORY_FACTS
from ai_tg_bot.storage.placement import (
    conversation_overview,
    find_conversation,
    in_conversation,
    place_message,
    retitle,
    touch,
)
from ai_tg_bot.storage.queue import release_lease, take_up_oldest
from ai_tg_bot.storage.quotas import count_asker
from ai_tg_bot.storage.records import (
    Context,
    DialogInfo,
    NewQuestion,
    StoredMessage,
    TurnHandoff,
    clean_text,
    tool_list,
)
from ai_tg_bot.storage.retry import RetryMixin
from ai_tg_bot.storage.stop_requests import StopsMixin
from ai_tg_bot.storage.summaries import SummariesMixin, forget_summary
from ai_tg_bot.storage.sweeps import LeaseUpkeepMixin
from ai_tg_bot.storage.turns import TurnsMixin


class DialogueStore(
    TurnsMixin,
    RetryMixin,
    LeaseUpkeepMixin,
    StopsMixin,
    ConversationsMixin,
    SummariesMixin,
    AnswersMixin,
    StorageBase,
):
    """Per-user dialogue storage; the database is the source of truth for everything."""

    async def ensure_user(self, user_id: int) -> None:
        """Create the user's `users` and `user_settings` rows if missing (idempotent)."""
        async with self.database.connection() as session:
            await self._insert_user(session, user_id)

    async def ask(
        self, question: NewQuestion, *, owner: str, lease_seconds: float
    ) -> StoredMessage:
        """Store a user's question to be answered, under their limits, in one transaction.

        The daily and per-minute limits are checked under the user's lock, so they are
        exact across instances; over a limit QuotaExceededError is raised and nothing is
        stored. A Telegram message stored before (a redelivered update) raises
        DuplicateMessageError and stores nothing. A voice message is stored before its
        transcript exists (`content` empty); a photo's content is its caption. The
        oldest active messages beyond the user's history limit are soft-deleted. The
        same transaction
        tries to take the user's turn lease as `owner`; when it gets it, it also reads
        what to answer first, and the result carries that hand-off, saving the turn two
        transactions of its own.
        """
        content = clean_text(question.content, allow_empty=bool(question.attachments))
        question = replace(question, content=content)
        user_id = question.user_id
        async with self.database.connection() as session:
            slot, trimmed = await self._store_question(
                session, question, Lease(owner, lease_seconds)
            )
            seq = slot.seq
            if not slot.leased:
                return StoredMessage(seq, content, trimmed)
            first = await take_up_oldest(session, user_id)
            if first is None:  # cannot be: ours is pending; keep the lease honest anyway
                await release_lease(session, user_id, owner)
                return StoredMessage(seq, content, trimmed)
            context = await self._context(
                session, user_id, first.seq, first.conversation_id, slot.row
            )
        return StoredMessage(seq, content, trimmed, TurnHandoff(owner, first, context))

    async def _store_question(
        self, session: Executor, question: NewQuestion, lease: Lease
    ) -> tuple[Slot, int]:
        """Insert a (cleaned) pending question under the user's limits, then trim, trying
        for the turn lease in the same statement as the slot (fused.ASK_SLOT).

        Its slot and how many older messages were trimmed.
        """
        user_id = question.user_id
        slot = await self._next_seq(session, user_id, lease)
        limits, current = slot.limits, slot.current_conversation_id
        now = utc_now()
        seen = None
        if question.telegram_message_id is not None:  # a redelivery refused with the counts
            seen = Seen(question.telegram_chat_id, question.telegram_message_id)
        await count_asker(self, session, user_id, question.author_id, limits, now, seen)
        conversation_id = await place_message(
            session,
            user_id,
            current=current,
            thread_id=question.telegram_thread_id,
            content=question.content,
            now=now,
            idle_minutes=self.settings.conversation_idle_minutes,
        )
        await self._queue_question(session, slot.seq, question, now, conversation_id)
        trimmed = await self._trim(session, user_id, limits.max_history_messages, conversation_id)
        return slot, trimmed

    async def load_context(
        self, user_id: int, upto_seq: int | None = None, conversation_id: int | None = None
    ) -> Context:
        """Prompt, model and the newest history of one conversation (None: the user's
        current one) within the user's character budget.

        `upto_seq` ends the history at the question being answered, so questions queued
        behind it are not part of its answer. The newest message is always included, even alone
        over the budget; older ones are left out of the request (not deleted) once the
        budget is spent. The stored `content_length` lets the database count.
        """
        async with self.database.connection(read_only=True) as session:
            if conversation_id is None:
                conversation_id = await find_conversation(session, user_id, None)
            return await self._context(session, user_id, upto_seq, conversation_id)

    async def _context(
        self,
        session: Executor,
        user_id: int,
        upto_seq: int | None,
        conversation_id: int | None,
        row: SettingsRow | None = None,
    ) -> Context:
        """The context, reading the settings row first unless given (`row`, read by the
        same transaction); the conversation's own prompt comes with the history."""
        if row is None:
            row = await self._settings_row(session, user_id)
        limits = resolve_limits(row, self.settings, user_id)
        parameters = {
            "b_user_id": user_id,
            "b_conversation_id": conversation_id,
            "b_upto": upto_seq if upto_seq is not None else 2**62,
            "b_budget": limits.max_context_chars,  # 0: unlimited
            "b_limit": limits.max_history_messages,
        }
        rows = (await run(session, statements.CONTEXT, parameters)).all()
        if rows:
            prompt = rows[0].conversation_prompt or getattr(row, "system_prompt", None)
        else:  # nothing to answer with yet: the prompt alone
            prompt = (await self._conversation_settings(session, user_id, conversation_id))[1]
        kept = [r for r in rows if r.fits]
        history = [{"role": r.role, "content": r.content} for r in kept]
        # Memory is one user's: never read for a group's conversation (negative owner).
        remembers = user_id > 0 and getattr(row, "memory_enabled", None) is not False
        facts: tuple[str, ...] = ()
        if remembers and rows and rows[0].facts:
            limit = {"b_user_id": user_id, "b_limit": self.settings.memory_max_facts}
            facts = tuple(r.text for r in (await run(session, MEMORY_FACTS, limit)).all())
        return Context(
            system_prompt=resolve_prompt(prompt, self.settings),
            history=history,
            model=limits.model,
            omitted=len(rows) - len(history),
            attachments={i: list(r.attachments) for i, r in enumerate(kept) if r.attachments},
            allowed_tools=tool_list(getattr(row, "allowed_tools", None)),
            memory=facts,
            summary=rows[0].summary if rows else None,
            remembers=remembers,
        )

    async def stored_question(self, chat_id: int, message_id: int) -> str | None:
        """What was stored for a Telegram message (a photo's caption, a document's text),
        to give with a question that replies to it; None when nothing was."""
        async with self.database.connection(single=True) as session:
            found = await session.execute(
                select(Message.content).where(
                    Message.telegram_chat_id == chat_id,
                    Message.telegram_message_id == message_id,
                    statements.IS_ACTIVE,
                )
            )
            content = found.scalar_one_or_none()
        return None if content is None else str(content)

    async def chosen_language(self, user_id: int) -> str | None:
        """The interface language the user chose with /language (None: none chosen);
        the same read as every update's (statements.STANDING)."""
        async with self.database.connection(single=True) as session:
            row = (await run(session, statements.STANDING, {"b_user_id": user_id})).first()
        return row.language if row else None

    async def clear_history(self, user_id: int, thread_id: int | None = None) -> int:
        """Soft-delete the active messages of the current conversation (the topic's, with
        `thread_id`): what `/reset` does. It stays current, untitled until its next
        question, its summary forgotten (SUMMARY_MODEL: what was cleared is never
        summarised). Returns how many messages were cleared."""
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            conversation_id = await find_conversation(session, user_id, thread_id)
            if conversation_id is None:
                return 0
            await retitle(session, conversation_id, None)
            await touch(session, conversation_id)  # cleared now: the next message goes on here
            await forget_summary(session, user_id, conversation_id)
            return await self._soft_delete(
                session, "reset", in_conversation(user_id, conversation_id)
            )

    async def get_dialog_info(self, user_id: int, thread_id: int | None = None) -> DialogInfo:
        """The current conversation's (the topic's) counts, sizes, times and role, with
        the user's usage today and limits (what `/status` shows)."""
        async with self.database.connection(read_only=True) as session:
            conversation_id = await find_conversation(session, user_id, thread_id)
            here = statements.IS_ACTIVE & (Message.conversation_id == conversation_id)
            cleared = Message.deleted_at.is_not(None) & (Message.conversation_id == conversation_id)
            row = (
                await session.execute(
                    select(
                        func.count().filter(here),
                        func.coalesce(func.sum(Message.content_length).filter(here), 0),
                        func.count().filter(cleared),
                        func.min(Message.created_at).filter(here),
                        func.max(Message.created_at).filter(here),
                        *usage_totals(day_start(utc_now()), user_id),
                    ).where(Message.user_id == user_id)
                )
            ).one()
            user_settings, stored_prompt = await self._conversation_settings(
                session, user_id, conversation_id
            )
            title, count = (
                await session.execute(conversation_overview(conversation_id, user_id))
            ).one()
        limits = resolve_limits(user_settings, self.settings)
        return DialogInfo(
            active_count=int(row[0]),
            total_characters=int(row[1]),
            deleted_count=int(row[2]),
            first_message_at=as_utc(row[3]),
            last_message_at=as_utc(row[4]),
            max_history_messages=limits.max_history_messages,
            system_prompt=resolve_prompt(stored_prompt, self.settings),
            is_default_prompt=stored_prompt is None,
            messages_today=int(row[5]),
            total_tokens=int(row[8]),
            limits=limits,
            conversation_title=title,
            conversations=int(count),
        )

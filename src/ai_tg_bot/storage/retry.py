"""/retry: ask the last question of a conversation again, counted like a new message."""

from __future__ import annotations

from sqlalchemy import select

from ai_tg_bot.db import Message, utc_now
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Seen, StorageBase, refuse_seen
from ai_tg_bot.storage.placement import find_conversation, in_conversation, touch
from ai_tg_bot.storage.queue import question_of
from ai_tg_bot.storage.quotas import count_asker
from ai_tg_bot.storage.records import AskedElsewhereError, NewQuestion, Question


class RetryMixin(StorageBase):
    """The one writer for /retry."""

    async def prepare_retry(
        self,
        user_id: int,
        *,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        same_chat_only: bool = False,
        telegram_thread_id: int | None = None,
        author_id: int | None = None,
    ) -> Question | None:
        """Ask the last active question of the current conversation (the topic's, with
        `telegram_thread_id`) again: it counts as a new message.

        Under the user's lock: the daily and per-minute limits are checked (a question
        whose answer failed too: asking again is another request; QuotaExceededError over
        one; nothing changes), the last question and its
        answer are soft-deleted ("retry"), and a copy of the question is queued in a new
        slot, so the retry is counted like any message. The /retry command's own
        Telegram ids go on the copy: a redelivered /retry raises DuplicateMessageError
        (resumed if still pending) instead of asking twice. None when there is no
        question to ask again. With `same_chat_only` (a /retry sent in a group) a question
        asked in another chat raises AskedElsewhereError and nothing changes.
        """
        async with self.database.connection() as session:
            seq, limits, *_ = await self._next_seq(session, user_id)
            if telegram_message_id is not None:
                await refuse_seen(session, Seen(telegram_chat_id, telegram_message_id))
            conversation_id = await find_conversation(session, user_id, telegram_thread_id)
            if conversation_id is None:
                return None
            last = (
                await session.execute(
                    select(*statements.QUESTION_COLUMNS, Message.status)
                    .where(
                        in_conversation(user_id, conversation_id),
                        statements.IS_ACTIVE,
                        Message.role == "user",
                    )
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).first()
            if last is None or last.kind == "image":  # an /image is made again with /image
                return None
            if same_chat_only and last.telegram_chat_id not in (None, telegram_chat_id):
                raise AskedElsewhereError(f"user {user_id} asked in another chat")
            now = utc_now()
            # Every /retry is another request to the LLM, a failed one's too: counted
            # (in a group's conversation, against the member who sent /retry).
            await count_asker(self, session, user_id, author_id, limits, now)
            await self._soft_delete(
                session,
                "retry",
                in_conversation(user_id, conversation_id),
                Message.seq >= last.seq,
            )
            # Answered where /retry was sent.
            chat_id = telegram_chat_id or last.telegram_chat_id
            copy = NewQuestion(
                user_id, last.content, chat_id, telegram_message_id, last.kind,
                tuple(last.attachments or ()), author_id=author_id,
            )  # fmt: skip
            await self._queue_question(session, seq, copy, now, conversation_id)
            await touch(session, conversation_id)  # asked again now: not idle
            await self._trim(session, user_id, limits.max_history_messages, conversation_id)
            return question_of(
                (seq, last.content, chat_id, last.kind, last.attachments, conversation_id,
                 last.telegram_thread_id, 0, copy.author_id)
            )  # fmt: skip

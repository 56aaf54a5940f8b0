"""What the bot makes for a user besides a conversation's answers: images (/image), spoken
answers (/voice), and inline mode's answers (`@bot question`, kept in no conversation).

All are paid calls, so all pass the user's limits under their row lock first (ADR 0011).
An image is reserved before it is generated: a `usage_events` row of kind "image",
counted against the user's daily image limit (and by the per-minute guard), removed
again if the generation fails. Speech is checked against the token budget before it is
synthesized and counted in `token_usage` once it was (as an answer is). An inline
question counts as a message (a `usage_events` row of kind "message", which the daily and
per-minute limits count like a stored question) before the model is asked, and its
answer's tokens go to `token_usage`, whatever its ending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete, func, insert, select, update

from ai_tg_bot.db import UsageEvent, UserSettings, utc_now
from ai_tg_bot.limits import QuotaExceededError, day_start, resolve_limits, resolve_prompt
from ai_tg_bot.storage.base import Executor, Seen, StorageBase, refuse_seen
from ai_tg_bot.storage.budgets import budget_refusal, charge
from ai_tg_bot.storage.placement import place_message
from ai_tg_bot.storage.quotas import check_quotas
from ai_tg_bot.storage.records import TokenUsage, clean_text

IMAGE_EVENT = "image"
# What a stand-in message of an image is (`messages.kind`): not a question the daily
# message limit counts, nor one /retry asks again.
IMAGE_KIND = "image"
# Characters per token a speech's cost is counted at (ADR 0015's budgets are in tokens;
# speech is billed per character: a token per four, the usual English-text ratio).
SPEECH_CHARS_PER_TOKEN = 4
# An image reservation still unfinished this long past the generation's deadline
# (LLM_TIMEOUT_SECONDS) belongs to a process that died: it no longer counts.
STALE_AFTER = timedelta(minutes=5)
# Which answers a user hears (/voice): none, every one, or those to their voice messages.
VoiceMode = Literal["off", "on", "auto"]
# How an inline question is counted: as a question stored under no conversation is (a
# group member's, storage.quotas), so every count of today's messages includes it.
INLINE_QUESTION_EVENT = "message"


@dataclass(frozen=True, slots=True)
class InlineAsk:
    """What an inline question is asked with: the user's model and default system prompt."""

    model: str
    system_prompt: str


@dataclass(frozen=True, slots=True)
class ImageMade:
    """A generated image, as the conversation remembers it (no image bytes are kept)."""

    user_id: int
    prompt: str
    description: str  # what the model says it drew (its revised prompt), else the prompt
    model: str
    telegram_chat_id: int | None = None
    telegram_message_id: int | None = None
    telegram_thread_id: int | None = None


def speech_tokens(characters: int) -> int:
    """What speaking `characters` characters costs, in budget tokens (rounded up)."""
    return -(-max(characters, 0) // SPEECH_CHARS_PER_TOKEN)


class OutputsStore(StorageBase):
    """Images and speech: each method one short transaction."""

    async def reserve_image(
        self, user_id: int, telegram_chat_id: int | None, telegram_message_id: int | None
    ) -> int:
        """Reserve one image for the user; the reservation's id.

        Under the user's lock: a redelivered /image stored before raises
        DuplicateMessageError; the per-minute guard and the token budget (no daily
        message limit: an image is not a message) and then today's images against the
        daily image limit (0: unlimited) raise QuotaExceededError. Over a limit nothing
        is written.
        """
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            if telegram_message_id is not None:
                await refuse_seen(session, Seen(telegram_chat_id, telegram_message_id))
            now = utc_now()
            limits = await self._limits(session, user_id)
            await check_quotas(session, user_id, limits, now, daily=False, can_buy=self.can_buy)
            limit, today = limits.daily_image_limit, day_start(now)
            if limit:
                # A reservation never finished long after any generation could have
                # ended was left by a crashed process: it made no image, so not counted.
                stale = now - timedelta(seconds=self.settings.llm_timeout_seconds) - STALE_AFTER
                made = await session.execute(
                    select(func.count()).where(
                        UsageEvent.user_id == user_id,
                        UsageEvent.kind == IMAGE_EVENT,
                        UsageEvent.created_at >= today,
                        UsageEvent.finished_at.is_not(None) | (UsageEvent.created_at > stale),
                    )
                )
                if int(made.scalar_one()) >= limit:
                    raise QuotaExceededError("images", limit, today + timedelta(days=1))
            inserted = await session.execute(
                insert(UsageEvent)
                .values(user_id=user_id, kind=IMAGE_EVENT, created_at=now)
                .returning(UsageEvent.id)
            )
            return int(inserted.scalar_one())

    async def cancel_image(self, event_id: int) -> None:
        """The image was not made: its reservation is removed (it is not counted)."""
        async with self.database.connection() as session:
            await session.execute(delete(UsageEvent).where(UsageEvent.id == event_id))

    async def finish_image(self, event_id: int, made: ImageMade | None = None) -> None:
        """The image was made (and sent, when `made` is given): its reservation is marked
        finished, and the conversation keeps a stand-in for it, in one transaction.

        The stand-in is the /image command (a user message) and `[image: <description>]`
        (the answer), in the user's current conversation (the topic's), trimmed to the
        history limit like any exchange: the model, /export and /search see that an
        image was made and of what.
        """
        async with self.database.connection() as session:
            if made is None:
                await self._finish_event(session, event_id)
                return
            user_id = made.user_id
            seq, limits, current, *_ = await self._next_seq(session, user_id)  # the user's lock
            await self._finish_event(session, event_id)
            if made.telegram_message_id is not None:
                await refuse_seen(session, Seen(made.telegram_chat_id, made.telegram_message_id))
            now = utc_now()
            prompt = clean_text(made.prompt)
            conversation_id = await place_message(
                session,
                user_id,
                current=current,
                thread_id=made.telegram_thread_id,
                content=prompt,
                now=now,
                idle_minutes=self.settings.conversation_idle_minutes,
            )
            await self._insert_message(
                session, user_id=user_id, conversation_id=conversation_id, created_at=now,
                seq=seq, role="user", content=f"/image {prompt}",
                status="answered", kind=IMAGE_KIND, telegram_chat_id=made.telegram_chat_id,
                telegram_message_id=made.telegram_message_id,
            )  # fmt: skip
            answer = clean_text(f"[image: {made.description}]")
            usage = TokenUsage(made.model, 0, 0)
            await self._insert_message(
                session, user_id=user_id, conversation_id=conversation_id, created_at=now,
                seq=seq + 1, role="assistant", content=answer,
                kind=IMAGE_KIND, usage=usage,
            )  # fmt: skip
            await self._trim(session, user_id, limits.max_history_messages, conversation_id)

    async def _finish_event(self, session: Executor, event_id: int) -> None:
        await session.execute(
            update(UsageEvent).where(UsageEvent.id == event_id).values(finished_at=utc_now())
        )

    async def voice_mode(self, user_id: int) -> VoiceMode:
        """Which answers the user asked to hear (/voice): "on" every answer, "auto" the
        answers to their voice messages, "off" none; one read."""
        async with self.database.connection(read_only=True) as session:
            found = await session.execute(
                select(UserSettings.voice_replies, UserSettings.voice_auto).where(
                    UserSettings.user_id == user_id
                )
            )
            row = found.first()
        if row is not None and row.voice_replies:
            return "on"
        if row is not None and row.voice_auto:
            return "auto"
        return "off"

    async def speech_refusal(self, user_id: int) -> QuotaExceededError | None:
        """Why the user's answer may not be spoken now (their token budget is spent),
        or None; checked under the user's lock, only for users with a budget."""
        return await budget_refusal(self, user_id)

    async def record_speech(self, user_id: int, model: str, characters: int) -> None:
        """Count `characters` spoken for the user in `token_usage` under `model`: a token
        per SPEECH_CHARS_PER_TOKEN characters as prompt tokens (what budgets, /stats and
        MODEL_PRICES read), spending credit past the allowance like an answer."""
        tokens = speech_tokens(characters)
        if tokens <= 0:
            return
        async with self.database.connection() as session:
            await charge(self, session, user_id, TokenUsage(model, tokens, 0))

    async def ask_inline(self, user_id: int) -> InlineAsk:
        """Count an inline question for the user; what to ask the model with.

        Under the user's lock: the daily and per-minute message limits and the token
        budget (QuotaExceededError over one: nothing is written), then the question
        counted as a message, in one transaction.
        """
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            now = utc_now()
            row = await self._settings_row(session, user_id)
            limits = resolve_limits(row, self.settings, user_id)
            await check_quotas(session, user_id, limits, now, can_buy=self.can_buy)
            counted = {"user_id": user_id, "kind": INLINE_QUESTION_EVENT, "created_at": now}
            await session.execute(insert(UsageEvent).values(**counted))
        prompt = resolve_prompt(row.system_prompt if row is not None else None, self.settings)
        return InlineAsk(limits.model, prompt)

    async def record_inline(self, user_id: int, usage: TokenUsage) -> None:
        """Count an inline answer's tokens (whatever its ending) in `token_usage`, spending
        credit past the allowance like a conversation's answer."""
        if usage.total <= 0:
            return
        async with self.database.connection() as session:
            await charge(self, session, user_id, usage)

"""Spoken answers (/voice on, /voice auto): after an answer is shown, it is also sent as
voice messages: every answer (on), or only the answers to voice messages (auto).

Only answers that were stored complete (not stopped, not failed), only in private chats
(a group hears nothing: the setting is one user's). The text is never at risk: speech
comes after it is shown, and any failure here is logged and told in one short line.
Speech is a paid call: the user's token budget is checked under their lock before the
first part is synthesized, and the characters spoken are counted in `token_usage`
under TTS_MODEL (storage.OutputsStore), settled by media.PaidCall like every paid output.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from types import TracebackType
from typing import Any, cast

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile

from ai_tg_bot.bot.middlewares.retry import best_effort
from ai_tg_bot.bot.reply import StreamingReply
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import _
from ai_tg_bot.llm import LLMClient, LLMError, LLMErrorKind
from ai_tg_bot.media import PaidCall, speech_parts
from ai_tg_bot.observability import OUTPUTS
from ai_tg_bot.storage import STORAGE_ERRORS, OutputsStore
from ai_tg_bot.turns import AnswerView, TurnResult

log = logging.getLogger(__name__)
CHAT_ACTION_REFRESH_SECONDS = 4.5  # Telegram shows a chat action for about 5 seconds


class VoiceReplies:
    """Speaks answers for users who turned /voice on or auto (TTS_MODEL, TTS_VOICE)."""

    def __init__(self, llm: LLMClient, outputs: OutputsStore, *, model: str, voice: str) -> None:
        self.llm = llm
        self.outputs = outputs
        self.model = model
        self.voice = voice

    async def speak(
        self,
        bot: Bot,
        user_id: int,
        text: str,
        *,
        thread_id: int | None = None,
        to_voice: bool = False,
    ) -> None:
        """Send `text` spoken, in parts, to the user's private chat, if they asked for it
        (/voice on; /voice auto: when it answers a voice message, `to_voice`) and their
        budget allows; never raises for a speech, storage or Telegram failure."""
        try:
            mode = await self.outputs.voice_mode(user_id)
            if mode == "off" or (mode == "auto" and not to_voice):
                return
            refusal = await self.outputs.speech_refusal(user_id)
        except STORAGE_ERRORS as exc:
            log.warning("voice reply skipped user_id=%s: %s", user_id, type(exc).__name__)
            return
        if refusal is not None:
            OUTPUTS.labels("speech", "over_budget").inc()
            line = _("🔇 No voice reply: your token budget is used up (see /limits).")
            await _say(bot, user_id, thread_id, line)
            return
        parts = speech_parts(text)
        spoken = 0
        # All the parts within one LLM_TIMEOUT_SECONDS: the user's next question waits
        # for them (the turn is still theirs), so a slow speech server costs at most that.
        deadline = asyncio.get_running_loop().time() + self.llm.timeout_seconds

        async def synthesize(part: str) -> bytes:
            try:
                async with asyncio.timeout_at(deadline):
                    return await self.llm.speak(part, model=self.model, voice=self.voice)
            except TimeoutError as exc:
                detail = "the parts were not spoken in time"
                raise LLMError(LLMErrorKind.TIMEOUT, detail) from exc

        part = ""

        async def counted() -> None:
            nonlocal spoken
            spoken += len(part)

        # The budget was checked above; each part is counted once it is spoken, or once
        # it timed out (it left: it may be spoken, and billed, still).
        paid = PaidCall("speech", finish=counted)
        try:
            async with KeepChatAction(bot, user_id, thread_id, ChatAction.RECORD_VOICE):
                for number, part in enumerate(parts, 1):
                    audio = await paid.run(partial(synthesize, part))
                    await paid.finish()
                    await bot.send_voice(
                        user_id,
                        BufferedInputFile(audio, filename=f"answer-{number}.ogg"),
                        message_thread_id=thread_id,
                    )
            paid.made()
        except LLMError as exc:  # settled by PaidCall
            log.warning(
                "speech failed user_id=%s kind=%s status=%s error=%s",
                user_id, exc.kind.value, exc.status or "-", exc.error_type or "-",
            )  # fmt: skip
            line = _("🔇 The answer could not be spoken this time; its text above is complete.")
            await _say(bot, user_id, thread_id, line)
        except TelegramAPIError as exc:
            OUTPUTS.labels("speech", "not_sent").inc()
            log.warning("voice reply not sent user_id=%s: %s", user_id, type(exc).__name__)
        finally:
            if spoken:
                await self._count(user_id, spoken)

    async def _count(self, user_id: int, characters: int) -> None:
        try:
            await self.outputs.record_speech(user_id, self.model, characters)
        except STORAGE_ERRORS as exc:
            log.warning(
                "speech of user_id=%s not counted (%d chars): %s",
                user_id, characters, type(exc).__name__,
            )  # fmt: skip


async def _say(bot: Bot, chat_id: int, thread_id: int | None, text: str) -> None:
    with contextlib.suppress(TelegramAPIError):
        await bot.send_message(chat_id, text, message_thread_id=thread_id)


class KeepChatAction(contextlib.AbstractAsyncContextManager[None]):
    """A chat action ("recording a voice message", "sending a photo") kept up while the
    block runs, best effort."""

    def __init__(self, bot: Bot, chat_id: int, thread_id: int | None, action: ChatAction) -> None:
        self.bot, self.chat_id, self.thread_id, self.action = bot, chat_id, thread_id, action
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        await self._show()  # at once, before the work begins; then kept up
        self._task = asyncio.create_task(self._keep())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _show(self) -> None:
        with best_effort(), contextlib.suppress(TelegramAPIError):
            await self.bot.send_chat_action(
                self.chat_id, self.action, message_thread_id=self.thread_id
            )

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(CHAT_ACTION_REFRESH_SECONDS)
            await self._show()


class SpokenView:
    """An answer's view whose final answer is also spoken (a private chat's, /voice on;
    /voice auto: when the question was a voice message, `to_voice`).

    Everything but `show` is the inner view's (whatever AnswerView asks of it)."""

    def __init__(
        self, inner: StreamingReply, voice: VoiceReplies, user_id: int, *, to_voice: bool = False
    ) -> None:
        self.inner = inner
        self.voice = voice
        self.user_id = user_id
        self.to_voice = to_voice

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __aenter__(self) -> AnswerView:
        await self.inner.__aenter__()
        return cast(AnswerView, self)

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)

    async def show(self, result: TurnResult) -> None:
        """The answer as the inner view shows it; then, if it is complete, spoken."""
        await self.inner.show(result)
        if result.reply is not None and not result.stopped and result.reply.strip():
            # Topics: the inner view knows whether the question's topic still exists.
            thread_id = self.inner.thread_id
            await self.voice.speak(
                self.inner.bot,
                self.user_id,
                result.reply,
                thread_id=thread_id,
                to_voice=self.to_voice,
            )


def voice_replies(settings: Settings, llm: LLMClient, outputs: OutputsStore) -> VoiceReplies | None:
    """The speaker for /voice (None when TTS_MODEL is unset: no spoken answers)."""
    if settings.tts_model is None:
        return None
    return VoiceReplies(llm, outputs, model=settings.tts_model, voice=settings.tts_voice)

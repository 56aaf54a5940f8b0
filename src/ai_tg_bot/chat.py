"""ChatService: one chat turn, transport-free (no Telegram here, no session across the LLM)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm import LLMClient, LLMError, LLMErrorKind, Usage
from ai_tg_bot.storage import Storage, TokenUsage

log = logging.getLogger(__name__)
OnDelta = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class TurnResult:
    """How a turn ended: the stored reply, or the error and whatever arrived before it."""

    reply: str | None = None
    error: LLMError | None = None
    partial: str = ""
    usage: Usage = field(default_factory=Usage)

    @property
    def ok(self) -> bool:
        """Whether a complete reply was stored."""
        return self.reply is not None


class ChatService:
    """Store the question, ask the LLM with the history, store the answer."""

    def __init__(self, storage: Storage, llm: LLMClient) -> None:
        self.storage = storage
        self.llm = llm

    async def turn(self, user_id: int, text: str, on_delta: OnDelta | None = None) -> TurnResult:
        """One turn. The user's message is stored first, so an LLM failure loses nothing.

        Raises ValueError for text that cannot be stored (empty after cleaning) and
        QuotaExceededError when the user's daily or per-minute limit is used up; in both
        cases nothing is stored and the LLM is not called.
        """
        try:
            await self.storage.add_message(user_id, "user", text, enforce_quotas=True)
        except (ValueError, QuotaExceededError) as exc:
            outcome = f"{exc.kind}_limit" if isinstance(exc, QuotaExceededError) else "empty"
            log.info("turn user_id=%s outcome=%s (nothing stored, no LLM call)", user_id, outcome)
            raise
        return await self._answer(user_id, on_delta, kind="turn")

    async def retry(self, user_id: int, on_delta: OnDelta | None = None) -> TurnResult | None:
        """Answer the last user message again (its previous answer is soft-deleted).

        None when there is nothing to retry.
        """
        if await self.storage.prepare_retry(user_id) is None:
            return None
        return await self._answer(user_id, on_delta, kind="retry")

    async def _answer(self, user_id: int, on_delta: OnDelta | None, *, kind: str) -> TurnResult:
        started = time.monotonic()
        context = await self.storage.load_context(user_id)
        messages = [{"role": "system", "content": context.system_prompt}, *context.history]
        result = TurnResult()
        pieces: list[str] = []
        # No database session is open from here until the answer is complete.
        try:
            async for piece in self.llm.stream(messages, model=context.model, usage=result.usage):
                pieces.append(piece)
                if on_delta is not None:
                    await on_delta(piece)
            reply = "".join(pieces)
            if not reply.strip():
                raise LLMError(LLMErrorKind.EMPTY, "no text in the answer")
        except LLMError as exc:
            result.error = exc
            result.partial = "".join(pieces)
        else:
            usage = TokenUsage(
                model=context.model,
                prompt_tokens=result.usage.prompt_tokens,
                completion_tokens=result.usage.completion_tokens,
            )
            stored = await self.storage.add_message(user_id, "assistant", reply, usage=usage)
            result.reply = stored.content
        log.info(
            "%s user_id=%s outcome=%s latency_ms=%d model=%s history=%d omitted=%d "
            "prompt_chars=%d reply_chars=%d prompt_tokens=%d completion_tokens=%d",
            kind,
            user_id,
            "ok" if result.ok else (result.error.kind.value if result.error else "unknown"),
            (time.monotonic() - started) * 1000,
            context.model,
            len(context.history),
            context.omitted,
            sum(len(m["content"]) for m in messages),
            len(result.reply or result.partial),
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
        )
        if result.error is not None:
            log.debug("turn of user %s failed: %s", user_id, result.error.detail)
        return result

"""Inline mode's answers (`@bot question` in any chat): one model request per settled query.

Telegram sends an inline query for every keystroke. A query is asked only once the user
left it unchanged for the debounce (INLINE_DEBOUNCE_MS); a newer query from the same user
supersedes the one waiting or being answered in this process: a waiting one is never
asked, a running one's stream is closed (as Stop closes it: what it cost is metered and
counted all the same). The question is counted against the user's limits first, under
their lock (storage.OutputsStore.ask_inline: a message toward the daily limit), then asked
with the user's model and default system prompt and no history, with no database session
open; its tokens are counted whatever the ending. Nothing is kept as a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm import LLMClient, LLMError, LLMErrorKind, StreamReport
from ai_tg_bot.storage import STORAGE_ERRORS, OutputsStore, TokenUsage, without_nul
from ai_tg_bot.turns.stops import until_stopped

log = logging.getLogger(__name__)
# The longest question asked (Telegram's inline queries hold up to 256 characters).
INLINE_QUESTION_MAX_CHARS = 256
# Telegram takes an inline query's answer for about 10 s: the model gets this long at
# most from when the query settled (less with a shorter LLM_TIMEOUT_SECONDS).
INLINE_ANSWER_SECONDS = 8.0


@dataclass(slots=True)
class InlineOutcome:
    """How one inline query ended: superseded (answer nothing), empty (nothing asked),
    refused by a limit, failed, or answered with `reply`."""

    superseded: bool = False
    empty: bool = False
    refusal: QuotaExceededError | None = None
    # The model's failure (a timeout too); a database outage is `storage_down`.
    error: LLMError | None = None
    storage_down: bool = False
    reply: str = ""


class InlineAnswers:
    """This process's inline queries: per user, only the newest is answered."""

    def __init__(
        self,
        outputs: OutputsStore,
        llm: LLMClient,
        *,
        debounce_seconds: float,
        timeout_seconds: float = INLINE_ANSWER_SECONDS,
    ) -> None:
        self.outputs = outputs
        self.llm = llm
        self.debounce_seconds = debounce_seconds
        self.timeout_seconds = min(timeout_seconds, INLINE_ANSWER_SECONDS)
        # Each user's newest query, as the signal that supersedes it.
        self._newest: dict[int, asyncio.Event] = {}

    async def answer(self, user_id: int, query: str) -> InlineOutcome:
        """Answer the user's query once it settled; superseded if a newer one came."""
        superseded = asyncio.Event()
        previous = self._newest.get(user_id)
        if previous is not None:
            previous.set()
        self._newest[user_id] = superseded
        try:
            question = without_nul(query).strip()[:INLINE_QUESTION_MAX_CHARS]
            if not question:
                return InlineOutcome(empty=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.debounce_seconds):
                    await superseded.wait()
            if superseded.is_set():
                return InlineOutcome(superseded=True)
            return await self._ask(user_id, question, superseded)
        finally:
            if self._newest.get(user_id) is superseded:
                del self._newest[user_id]

    async def _ask(self, user_id: int, question: str, superseded: asyncio.Event) -> InlineOutcome:
        try:
            asked = await self.outputs.ask_inline(user_id)
        except QuotaExceededError as exc:
            log.info("inline query refused user_id=%s: %s limit", user_id, exc.kind)
            return InlineOutcome(refusal=exc)
        except STORAGE_ERRORS as exc:
            log.warning("inline query of user_id=%s not counted: %s", user_id, type(exc).__name__)
            return InlineOutcome(storage_down=True)
        messages = [
            {"role": "system", "content": asked.system_prompt},
            {"role": "user", "content": question},
        ]
        report = StreamReport()
        pieces: list[str] = []

        async def stream() -> None:
            async for piece in self.llm.stream(messages, model=asked.model, usage=report):
                pieces.append(piece)

        outcome = InlineOutcome()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                outcome.superseded = await until_stopped(stream(), superseded)
        except TimeoutError:
            detail = f"no inline answer within {self.timeout_seconds:g}s"
            outcome.error = LLMError(LLMErrorKind.TIMEOUT, detail)
        except LLMError as exc:
            outcome.error = exc
        reply = without_nul("".join(pieces)).strip()
        if not (outcome.superseded or outcome.error or reply):
            outcome.error = LLMError(LLMErrorKind.EMPTY, "no text in the inline answer")
        outcome.reply = reply if outcome.error is None else ""
        await self._count(user_id, TokenUsage(asked.model, report.prompt_tokens,
                                              report.completion_tokens))  # fmt: skip
        ending = "superseded" if outcome.superseded else "failed" if outcome.error else "answered"
        log.info(
            "inline query %s user_id=%s model=%s tokens=%s+%s",
            ending, user_id, asked.model, report.prompt_tokens, report.completion_tokens,
        )  # fmt: skip
        if outcome.error is not None:
            log.warning(
                "inline answer failed user_id=%s kind=%s status=%s",
                user_id, outcome.error.kind.value, outcome.error.status or "-",
            )  # fmt: skip
        return outcome

    async def _count(self, user_id: int, usage: TokenUsage) -> None:
        """What the request cost, in `token_usage`; a database outage loses only this."""
        try:
            await self.outputs.record_inline(user_id, usage)
        except STORAGE_ERRORS as exc:
            log.warning("inline answer of user_id=%s not counted: %s", user_id, type(exc).__name__)

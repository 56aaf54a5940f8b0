"""ChatService: turns, transport-free (no Telegram here, no session across the LLM)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ai_tg_bot.db.database import STORAGE_ERRORS
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm import LLMClient, LLMError, LLMErrorKind, Usage
from ai_tg_bot.media import FileFetcher, MediaPolicy, llm_messages, text_chars
from ai_tg_bot.storage import Context, DuplicateMessageError, Question, Storage, TokenUsage
from ai_tg_bot.storage.records import Attachment

log = logging.getLogger(__name__)
POLL_START_SECONDS = 0.02
POLL_MAX_SECONDS = 0.5
T = TypeVar("T")


@dataclass(slots=True)
class TurnResult:
    """How an answer ended: the stored reply, or the error and whatever arrived before it."""

    reply: str | None = None
    error: LLMError | None = None
    partial: str = ""
    usage: Usage = field(default_factory=Usage)

    @property
    def ok(self) -> bool:
        """Whether a complete reply was stored."""
        return self.reply is not None


class AnswerView(Protocol):
    """Where one answer is shown while it streams and when it ends."""

    async def feed(self, piece: str) -> None:
        """Show more of the answer."""

    async def show(self, result: TurnResult) -> None:
        """Show the final answer, or what arrived and the error."""


class Presenter(Protocol):
    """Makes a view for each question answered (the bot shows them in Telegram)."""

    def view(self, question: Question) -> AbstractAsyncContextManager[AnswerView]:
        """A view for this question's answer."""


class ChatService:
    """Store questions, answer each user's pending questions in order, store answers."""

    def __init__(
        self,
        storage: Storage,
        llm: LLMClient,
        *,
        storage_patience_seconds: float = 30.0,
        media: MediaPolicy | None = None,
        fetch_file: FileFetcher | None = None,
    ) -> None:
        self.storage = storage
        self.llm = llm
        # Photos: which models see them, and how their bytes are fetched when answering
        # (without a fetcher every image goes to the LLM as its text stand-in).
        self.media = media or MediaPolicy()
        self.fetch_file = fetch_file
        # Once a question is stored (and acknowledged), a database blip must not strand
        # it: queue work retries storage errors for this long before giving up.
        self.storage_patience_seconds = storage_patience_seconds
        # A crashed lease holder's lease runs out after one answer's worst case.
        self.lease_seconds = llm.timeout_seconds + 60
        self.instance = uuid.uuid4().hex[:12]
        # Turns of this process waiting while another of its turns answers their user:
        # woken after each answer instead of only polling the database (other processes'
        # answers are still found by polling).
        self._progress: dict[int, asyncio.Event] = {}

    async def turn(
        self,
        user_id: int,
        text: str,
        presenter: Presenter,
        *,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        on_stored: Callable[[], None] | None = None,
        kind: str | None = None,
        attachments: list[Attachment] | None = None,
    ) -> None:
        """Store the question (so it is never lost), then see that it gets answered.

        `on_stored` runs once the question is durably stored (the webhook acknowledges
        the update there). Raises ValueError for text that cannot be stored,
        QuotaExceededError over a limit, and DuplicateMessageError for a redelivered
        Telegram message; in each case nothing is stored and the LLM is not called.
        """
        owner = self._new_owner()
        try:
            stored = await self.storage.add_message(
                user_id,
                "user",
                text,
                enforce_quotas=True,
                pending=True,
                telegram_chat_id=telegram_chat_id,
                telegram_message_id=telegram_message_id,
                kind=kind,
                attachments=attachments,
                turn_owner=owner,
                lease_seconds=self.lease_seconds,
            )
        except (ValueError, QuotaExceededError, DuplicateMessageError) as exc:
            log.info("turn user_id=%s outcome=%s (nothing stored)", user_id, _refusal(exc))
            raise
        if on_stored is not None:
            on_stored()
        await self.answer_pending(
            user_id,
            presenter,
            waiting_for=stored.seq,
            owner=owner,
            holds_turn=stored.holds_turn,
            first=stored.first,
            context=stored.context,
        )

    async def retry(self, user_id: int, presenter: Presenter) -> bool:
        """Answer the last user message again; False when there is nothing to retry."""
        question = await self.storage.prepare_retry(user_id)
        if question is None:
            return False
        await self.answer_pending(user_id, presenter, waiting_for=question.seq)
        return True

    async def answer_pending(
        self,
        user_id: int,
        presenter: Presenter,
        waiting_for: int,
        *,
        owner: str | None = None,
        holds_turn: bool = False,
        first: Question | None = None,
        context: Context | None = None,
    ) -> None:
        """Answer the user's pending questions in order, or wait while another turn does.

        Returns once the question `waiting_for` is no longer pending. `holds_turn` says
        the caller already took the lease as `owner` (while storing its question), and
        `first` and `context` are what that transaction read to answer first.
        """
        owner = owner or self._new_owner()
        storage, durably = self.storage, self._durably
        pause = POLL_START_SECONDS
        while True:
            if holds_turn or await durably(
                lambda: storage.try_acquire_turn(user_id, owner, self.lease_seconds)
            ):
                released = False
                try:
                    question = first or await durably(lambda: storage.next_pending(user_id))
                    while question is not None:
                        question = await self._answer(user_id, question, presenter, owner, context)
                        context = None
                        # The last answer's transaction gave the lease back.
                        released = question is None
                finally:
                    if not released:
                        await durably(lambda: storage.release_turn(user_id, owner))
                    self._wake(user_id)
                # Our question was stored before we took the lease, so the drain saw it.
                return
            if not await durably(lambda: storage.is_pending(user_id, waiting_for)):
                self._wake(user_id)  # nothing left behind: other waiters look again
                return  # answered by the turn that holds the lease
            await self._wait_for_progress(user_id, pause)
            pause = min(pause * 2, POLL_MAX_SECONDS)

    def _wake(self, user_id: int) -> None:
        """Tell this process's turns waiting on `user_id` to look again."""
        event = self._progress.pop(user_id, None)
        if event is not None:
            event.set()

    async def _wait_for_progress(self, user_id: int, seconds: float) -> None:
        """Sleep up to `seconds`, less if a turn of this process answers for the user."""
        event = self._progress.setdefault(user_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    def _new_owner(self) -> str:
        return f"{self.instance}:{uuid.uuid4().hex[:8]}"

    async def _durably(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a storage call, riding out a database outage for a while (then raise)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.storage_patience_seconds
        pause = 0.2
        while True:
            try:
                return await call()
            except STORAGE_ERRORS as exc:
                if loop.time() + pause > deadline:
                    raise
                log.warning(
                    "storage unavailable (%s); retrying in %.1fs", type(exc).__name__, pause
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    async def _answer(
        self,
        user_id: int,
        question: Question,
        presenter: Presenter,
        owner: str,
        context: Context | None = None,
    ) -> Question | None:
        """Answer one question; return the next pending one (read in the same transaction).

        `context` is the question's context when the caller already read it.
        """
        started = time.monotonic()
        storage, durably = self.storage, self._durably
        if context is None:
            context = await durably(lambda: storage.load_context(user_id, upto_seq=question.seq))
        messages: list[dict[str, Any]] = []
        result = TurnResult()
        pieces: list[str] = []
        async with presenter.view(question) as view:
            # No database session is open from here until the answer is complete.
            try:
                messages = await llm_messages(context, self.media, self.fetch_file)
                async for piece in self.llm.stream(
                    messages, model=context.model, usage=result.usage
                ):
                    pieces.append(piece)
                    await view.feed(piece)
                reply = "".join(pieces)
                if not reply.strip():
                    raise LLMError(LLMErrorKind.EMPTY, "no text in the answer")
            except LLMError as exc:
                result.error, result.partial = exc, "".join(pieces)
                reply, usage = None, None
            else:
                usage = TokenUsage(
                    context.model, result.usage.prompt_tokens, result.usage.completion_tokens
                )
            # Store the answer (or the failure), renew the lease, fetch the next question.
            result.reply, following = await durably(
                lambda: storage.complete(
                    user_id, question, reply, usage, owner=owner, lease_seconds=self.lease_seconds
                )
            )
            self._wake(user_id)
            await view.show(result)
        log.info(
            "turn user_id=%s outcome=%s latency_ms=%d model=%s history=%d omitted=%d "
            "prompt_chars=%d reply_chars=%d prompt_tokens=%d completion_tokens=%d",
            user_id,
            "ok" if result.ok else (result.error.kind.value if result.error else "unknown"),
            (time.monotonic() - started) * 1000,
            context.model,
            len(context.history),
            context.omitted,
            text_chars(messages),
            len(result.reply or result.partial),
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
        )
        if result.error is not None:
            log.debug("answer for user %s failed: %s", user_id, result.error.detail)
        return following


def _refusal(exc: Exception) -> str:
    if isinstance(exc, QuotaExceededError):
        return f"{exc.kind}_limit"
    return "duplicate" if isinstance(exc, DuplicateMessageError) else "empty"

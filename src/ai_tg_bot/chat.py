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
from typing import Any, Literal, Protocol, TypeVar

from ai_tg_bot.db.database import STORAGE_ERRORS, is_outage
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm import LLMClient, LLMError, LLMErrorKind, Usage
from ai_tg_bot.media import (
    FileFetcher,
    FileTooLargeError,
    MediaError,
    MediaPolicy,
    llm_messages,
    text_chars,
    transcribe_voice,
)
from ai_tg_bot.storage import Context, DuplicateMessageError, Question, Storage, TokenUsage
from ai_tg_bot.storage.records import Attachment

log = logging.getLogger(__name__)
POLL_START_SECONDS = 0.02
POLL_MAX_SECONDS = 0.5
# Users whose stranded questions one sweep takes on (the rest wait for the next sweep).
RECOVERY_BATCH = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VoiceProblem:
    """Why a voice question got no answer: not transcribed, too large, or silent."""

    kind: Literal["failed", "too_large", "no_speech"]
    limit_bytes: int = 0


@dataclass(slots=True)
class TurnResult:
    """How an answer ended: the stored reply, or the error and whatever arrived before it."""

    reply: str | None = None
    error: LLMError | None = None
    partial: str = ""
    usage: Usage = field(default_factory=Usage)
    voice_problem: VoiceProblem | None = None

    @property
    def ok(self) -> bool:
        """Whether a complete reply was stored."""
        return self.reply is not None


class AnswerView(Protocol):
    """Where one answer is shown while it streams and when it ends."""

    async def heard(self, transcript: str) -> None:
        """Show what was heard in a voice question, before its answer."""

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
        lease_seconds: float = 20.0,
    ) -> None:
        self.storage = storage
        self.llm = llm
        # Photos: which models see them, and how their bytes are fetched when answering
        # (without a fetcher every image goes to the LLM as its text stand-in).
        self.media = media or MediaPolicy()
        self.fetch_file = fetch_file
        # Once a question is stored (and acknowledged), a database blip must not strand
        # it: queue work retries outages for this long before giving up.
        self.storage_patience_seconds = storage_patience_seconds
        # A turn lease is short and kept alive by a heartbeat while its holder answers,
        # so a crashed holder's lease lapses within seconds and its user's questions are
        # taken over (recover_stranded) instead of waiting minutes.
        self.lease_seconds = lease_seconds
        self.instance = uuid.uuid4().hex[:12]
        # Turns of this process waiting while another of its turns answers their user:
        # woken after each answer instead of only polling the database (other processes'
        # answers are still found by polling).
        self._progress: dict[int, asyncio.Event] = {}
        # The leases this process holds now (user id -> owner), renewed by the heartbeat.
        self._held: dict[int, str] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._recovering: dict[int, asyncio.Task[None]] = {}

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
        Telegram message that was answered already; in each case nothing is stored and
        nothing is spent. A redelivery of a question still pending (its answerer
        crashed, or is still at it) resumes it: answered once, by whoever holds the turn.
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
        except DuplicateMessageError as exc:
            if exc.pending_seq is None:
                log.info("turn user_id=%s outcome=duplicate (nothing stored)", user_id)
                raise
            await self._resume(user_id, presenter, exc.pending_seq, on_stored)
            return
        except (ValueError, QuotaExceededError) as exc:
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

    async def retry(
        self,
        user_id: int,
        presenter: Presenter,
        *,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        on_stored: Callable[[], None] | None = None,
        same_chat_only: bool = False,
    ) -> bool:
        """Answer the last user message again; False when there is nothing to retry.

        A retry is counted like a message: QuotaExceededError over a limit (nothing
        changes, nothing is spent). `on_stored` runs once the retry is queued durably.
        """
        try:
            question = await self.storage.prepare_retry(
                user_id,
                telegram_chat_id=telegram_chat_id,
                telegram_message_id=telegram_message_id,
                same_chat_only=same_chat_only,
            )
        except DuplicateMessageError as exc:  # this /retry was delivered before
            await self._resume(user_id, presenter, exc.pending_seq, on_stored)
            return True
        except QuotaExceededError as exc:
            log.info("retry user_id=%s outcome=%s (nothing spent)", user_id, _refusal(exc))
            raise
        if on_stored is not None:
            on_stored()
        if question is None:
            return False
        await self.answer_pending(user_id, presenter, waiting_for=question.seq)
        return True

    async def _resume(
        self,
        user_id: int,
        presenter: Presenter,
        pending_seq: int | None,
        on_stored: Callable[[], None] | None,
    ) -> None:
        """A redelivered update: already stored, so acknowledge it; if its question still
        waits (its answerer crashed, or is still at it), see that it gets answered."""
        if on_stored is not None:
            on_stored()
        if pending_seq is not None:
            log.info("user_id=%s redelivered while pending: resumed", user_id)
            await self.answer_pending(user_id, presenter, waiting_for=pending_seq)

    async def answer_pending(
        self,
        user_id: int,
        presenter: Presenter,
        waiting_for: int | None,
        *,
        owner: str | None = None,
        holds_turn: bool = False,
        first: Question | None = None,
        context: Context | None = None,
    ) -> None:
        """Answer the user's pending questions in order, or wait while another turn does.

        Returns once the question `waiting_for` is no longer pending (None: at once if
        another turn holds the lease). `holds_turn` says the caller already took the
        lease as `owner` (while storing its question), and `first` and `context` are
        what that transaction read to answer first.
        """
        owner = owner or self._new_owner()
        storage, durably = self.storage, self._durably
        pause = POLL_START_SECONDS
        while True:
            if holds_turn or await durably(
                lambda: storage.try_acquire_turn(user_id, owner, self.lease_seconds)
            ):
                released = False
                self._hold(user_id, owner)
                try:
                    question = first or await durably(lambda: storage.next_pending(user_id))
                    while question is not None:
                        question = await self._answer(user_id, question, presenter, owner, context)
                        context = None
                        # The last answer's transaction gave the lease back.
                        released = question is None
                finally:
                    self._held.pop(user_id, None)
                    if not released:
                        await durably(lambda: storage.release_turn(user_id, owner))
                    self._wake(user_id)
                # Our question was stored before we took the lease, so the drain saw it.
                return
            if waiting_for is None or not await durably(
                lambda: storage.is_pending(user_id, waiting_for)
            ):
                self._wake(user_id)  # nothing left behind: other waiters look again
                return  # answered by the turn that holds the lease
            await self._wait_for_progress(user_id, pause)
            pause = min(pause * 2, POLL_MAX_SECONDS)

    async def recover_stranded(self, presenter_for: Callable[[int], Presenter]) -> int:
        """Answer the questions whose answerer died: pending under a lapsed lease.

        Each such user's queue is drained in the background, in order, under the turn
        lease (so exactly once, even with every instance sweeping). `presenter_for`
        makes the presenter for a user. Returns how many users were taken on.
        """
        stranded = await self.storage.stranded_users(RECOVERY_BATCH)
        started = 0
        for user_id in stranded:
            if user_id in self._recovering:
                continue
            log.info("recovering stranded questions of user_id=%s", user_id)
            task = asyncio.create_task(self._recover(user_id, presenter_for(user_id)))
            self._recovering[user_id] = task
            started += 1
        return started

    async def _recover(self, user_id: int, presenter: Presenter) -> None:
        try:
            await self.answer_pending(user_id, presenter, waiting_for=None)
        except Exception:
            log.exception("recovering the questions of user_id=%s failed", user_id)
        finally:
            self._recovering.pop(user_id, None)

    async def wait_recovered(self, grace_seconds: float) -> bool:
        """Wait for recovery drains in flight; False if some still ran after the grace."""
        tasks = list(self._recovering.values())
        if not tasks:
            return True
        _, running = await asyncio.wait(tasks, timeout=grace_seconds)
        return not running

    async def close(self) -> None:
        """Stop background work: recovery drains still running and the heartbeat."""
        tasks = [*self._recovering.values(), *([self._heartbeat] if self._heartbeat else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._heartbeat = None

    def _hold(self, user_id: int, owner: str) -> None:
        """Note a lease this process now holds; the heartbeat keeps it alive."""
        self._held[user_id] = owner
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        """Renew every lease this process holds, a few times per lease, while it holds any."""
        interval = self.lease_seconds / 3
        while self._held:
            await asyncio.sleep(interval)
            try:
                await self.storage.renew_turns(dict(self._held), self.lease_seconds)
            except STORAGE_ERRORS as exc:
                # The next beat tries again; a lease that lapses meanwhile may be taken
                # over, and the answer is then stored once all the same.
                log.warning("could not renew turn leases (%s)", type(exc).__name__)

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
        """Run a storage call, riding out a database outage for a while (then raise).

        Only an outage is waited out: an error that would recur (a constraint, bad
        data) is raised at once.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.storage_patience_seconds
        pause = 0.2
        while True:
            try:
                return await call()
            except STORAGE_ERRORS as exc:
                if not is_outage(exc) or loop.time() + pause > deadline:
                    raise
                log.warning(
                    "storage unavailable (%s); retrying in %.1fs", type(exc).__name__, pause
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    async def _transcribed(
        self, user_id: int, question: Question, view: AnswerView, result: TurnResult
    ) -> Question | None:
        """A voice question with its transcript stored and shown; None if it has none.

        The question was stored (and counted against the user's limits) before any
        download or speech-to-text call. On failure `result` says why; a failed question
        can be retried, a silent one leaves the history.
        """
        audio = question.attachments[0] if question.attachments else {}
        limit = self.media.max_voice_bytes
        transcript = ""
        try:
            if self.fetch_file is None:
                raise MediaError("no way to fetch files")
            transcript = await transcribe_voice(
                self.fetch_file,
                self.llm,
                str(audio.get("file_id", "")),
                max_bytes=limit,
                mime=audio.get("mime"),
            )
        except FileTooLargeError:
            result.voice_problem = VoiceProblem("too_large", limit)
        except (MediaError, LLMError) as exc:
            # Download errors carry no URL (bot/files.py), and the redactor masks any left.
            log.warning(
                "voice of user_id=%s not transcribed: %s: %s", user_id, type(exc).__name__, exc
            )
            result.voice_problem = VoiceProblem("failed", limit)
        else:
            if not transcript:
                result.voice_problem = VoiceProblem("no_speech", limit)
        if result.voice_problem is not None:
            if result.voice_problem.kind == "no_speech":
                await self._durably(lambda: self.storage.drop_unheard(user_id, question))
            return None
        heard = await self._durably(
            lambda: self.storage.set_transcript(user_id, question, transcript)
        )
        await view.heard(heard.content)
        return heard

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
        messages: list[dict[str, Any]] = []
        result = TurnResult()
        pieces: list[str] = []
        model = "-"
        history = omitted = 0
        async with presenter.view(question) as view:
            # No database session is open from here until the answer is complete.
            asked: Question | None = question
            if question.needs_transcript:
                asked, context = await self._transcribed(user_id, question, view, result), None
            reply: str | None = None
            usage: TokenUsage | None = None
            if asked is not None:
                if context is None:
                    context = await durably(
                        lambda: storage.load_context(user_id, upto_seq=question.seq)
                    )
                model, history, omitted = context.model, len(context.history), context.omitted
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
                    reply = None
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
            _outcome(result),
            (time.monotonic() - started) * 1000,
            model,
            history,
            omitted,
            text_chars(messages),
            len(result.reply or result.partial),
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
        )
        if result.error is not None:
            log.debug("answer for user %s failed: %s", user_id, result.error.detail)
        return following


def _outcome(result: TurnResult) -> str:
    if result.ok:
        return "ok"
    if result.voice_problem is not None:
        return f"voice_{result.voice_problem.kind}"
    return result.error.kind.value if result.error else "unknown"


def _refusal(exc: Exception) -> str:
    if isinstance(exc, QuotaExceededError):
        return f"{exc.kind}_limit"
    return "duplicate" if isinstance(exc, DuplicateMessageError) else "empty"

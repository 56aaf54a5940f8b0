"""TurnService: turns, transport-free (no Telegram here, no session across the LLM).

A turn stores its question (under the user's limits), then either answers the user's
pending questions in order, holding their turn lease (`answering.Answerer` answers
each), or waits while another turn does. The lease's heartbeat and the sweep for
questions whose holder died are in turns.leases.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from ai_tg_bot.i18n import use_language
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm import LLMClient
from ai_tg_bot.media import FileFetcher, MediaPolicy
from ai_tg_bot.storage import (
    Attachment,
    DialogueStore,
    DuplicateMessageError,
    EmptyTextError,
    NewQuestion,
    Question,
    TurnHandoff,
    ride_out,
)
from ai_tg_bot.turns.answerer import Answerer
from ai_tg_bot.turns.leases import LeaseKeeper, Sweeper
from ai_tg_bot.turns.progress import Progress
from ai_tg_bot.turns.stops import Stops
from ai_tg_bot.turns.views import Presenter

if TYPE_CHECKING:  # mcp (about 0.8 s to import) only with MCP_SERVERS
    from ai_tg_bot.tools import MemoryTool, Toolbox

log = logging.getLogger(__name__)
POLL_START_SECONDS = 0.02
POLL_MAX_SECONDS = 0.5
T = TypeVar("T")


class TurnService:
    """Store questions, answer each user's pending questions in order, store answers."""

    def __init__(
        self,
        storage: DialogueStore,
        llm: LLMClient,
        *,
        storage_patience_seconds: float = 30.0,
        media: MediaPolicy | None = None,
        fetch_file: FileFetcher | None = None,
        lease_seconds: float = 20.0,
        title_model: str | None = None,
        summary_model: str | None = None,
        toolbox: Toolbox | None = None,
        memory: MemoryTool | None = None,
    ) -> None:
        self.storage = storage
        self.llm = llm
        # Photos: which models see them, how their bytes are fetched (none: a text stand-in).
        self.media = media or MediaPolicy()
        self.fetch_file = fetch_file
        # A stored (acknowledged) question must outlive a database blip: retried this long.
        self.storage_patience_seconds = storage_patience_seconds
        # A short lease kept alive by a heartbeat: a crashed holder's lapses within seconds
        # and its user's questions are taken over (recover_stranded), not left for minutes.
        self.lease_seconds = lease_seconds
        self.instance = uuid.uuid4().hex[:12]
        # This process's turns waiting on another of its turns for their user.
        self.progress = Progress()
        self.leases = LeaseKeeper(storage, lease_seconds)
        self.sweeper = Sweeper(storage, self._drain_stranded)
        self.stops = Stops(storage)  # Stop button and /stop, here or through the database
        self.answerer = Answerer(
            storage,
            llm,
            self.media,
            fetch_file,
            durably=self._durably,
            answered=self.progress.finished,
            lease_seconds=lease_seconds,
            stops=self.stops.signals,
            title_model=title_model,
            summary_model=summary_model,
            toolbox=toolbox,
            memory=memory,
        )

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
        telegram_thread_id: int | None = None,
        author_id: int | None = None,
    ) -> None:
        """Store the question (so it is never lost), then see that it gets answered.

        `user_id` owns the conversation: the user, or a group's chat id for a group's
        shared conversation, with `author_id` the member who asked (counted and charged).

        `on_stored` runs once the question is durably stored (the webhook acknowledges
        the update there). Raises EmptyTextError for text that cannot be stored,
        QuotaExceededError over a limit, and DuplicateMessageError for a redelivered
        Telegram message that was answered already; in each case nothing is stored and
        nothing is spent. A redelivery of a question still pending (its answerer
        crashed, or is still at it) resumes it: answered once, by whoever holds the turn.
        """
        question = NewQuestion(
            user_id, text, telegram_chat_id, telegram_message_id, kind,
            tuple(attachments or ()), telegram_thread_id, author_id,
        )  # fmt: skip
        try:
            stored = await self.storage.ask(
                question, owner=self._new_owner(), lease_seconds=self.lease_seconds
            )
        except DuplicateMessageError as exc:
            if exc.pending_seq is None:
                log.info("turn user_id=%s outcome=duplicate (nothing stored)", user_id)
                raise
            await self._resume(user_id, presenter, exc.pending_seq, on_stored)
            return
        except (EmptyTextError, QuotaExceededError) as exc:
            log.info("turn user_id=%s outcome=%s (nothing stored)", user_id, _refusal(exc))
            raise
        if on_stored is not None:
            on_stored()
        await self.answer_pending(user_id, presenter, stored.seq, handoff=stored.handoff)

    async def retry(
        self,
        user_id: int,
        presenter: Presenter,
        *,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        on_stored: Callable[[], None] | None = None,
        same_chat_only: bool = False,
        telegram_thread_id: int | None = None,
        author_id: int | None = None,
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
                telegram_thread_id=telegram_thread_id,
                author_id=author_id,
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
        handoff: TurnHandoff | None = None,
    ) -> None:
        """Answer the user's pending questions in order, or wait while another turn does.

        Returns once the question `waiting_for` is no longer pending (None: at once if
        another turn holds the lease). `handoff` is the lease the caller took while
        storing its question, with what that transaction read to answer first.
        """
        owner = handoff.owner if handoff else self._new_owner()
        context = handoff.context if handoff else None
        storage, durably = self.storage, self._durably
        pause = POLL_START_SECONDS
        while True:
            if handoff is None and waiting_for is not None:
                if self.progress.done(user_id, waiting_for):
                    return  # answered by a turn of this process (the queue drains in order)
                if self.leases.holds(user_id):
                    # A turn of this process is draining the queue: its answers wake us.
                    await self.progress.wait(user_id, pause)
                    pause = min(pause * 2, POLL_MAX_SECONDS)
                    continue
            if handoff is not None or await durably(
                lambda: storage.try_acquire_turn(user_id, owner, self.lease_seconds)
            ):
                released = False
                self.leases.hold(user_id, owner)
                try:
                    question: Question | None = (
                        handoff.question
                        if handoff
                        else await durably(lambda: storage.next_pending(user_id))
                    )
                    while question is not None:
                        question = await self.answerer.answer(
                            user_id, question, presenter, owner, context
                        )
                        context = None
                        # The last answer's transaction gave the lease back.
                        released = question is None
                finally:
                    self.leases.let_go(user_id)
                    if not released:
                        await durably(lambda: storage.release_turn(user_id, owner))
                    self.progress.wake(user_id)
                # Our question was stored before we took the lease, so the drain saw it.
                return
            if waiting_for is None or not await durably(
                lambda: storage.is_pending(user_id, waiting_for)
            ):
                self.progress.wake(user_id)  # nothing left behind: other waiters look again
                return  # answered by the turn that holds the lease
            await self.progress.wait(user_id, pause)
            pause = min(pause * 2, POLL_MAX_SECONDS)

    async def recover_stranded(self, presenter_for: Callable[[int], Presenter]) -> int:
        """Answer the questions whose answerer died: pending under a lapsed lease.

        Each such user's queue is drained in the background, in order, under the turn
        lease (so exactly once, even with every instance sweeping). `presenter_for`
        makes the presenter for a user. Returns how many users were taken on.
        """
        return await self.sweeper.sweep(presenter_for)

    async def _drain_stranded(self, user_id: int, presenter: Presenter) -> None:
        # No update started this: the user's chosen language, else DEFAULT_LANGUAGE.
        chosen = await self._durably(lambda: self.storage.chosen_language(user_id))
        with use_language(chosen) if chosen else contextlib.nullcontext():
            await self.answer_pending(user_id, presenter, waiting_for=None)

    async def wait_recovered(self, grace_seconds: float) -> bool:
        """Wait for recovery drains in flight; False if some still ran after the grace."""
        return await self.sweeper.wait(grace_seconds)

    async def close(self) -> None:
        """Stop background work: recovery drains still running and the heartbeat."""
        await self.sweeper.close()
        await self.stops.close()
        await self.leases.close()

    def _new_owner(self) -> str:
        return f"{self.instance}:{uuid.uuid4().hex[:8]}"

    async def _durably(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a storage call, riding out a database outage for a while (then raise).

        Only an outage is waited out: an error that would recur (a constraint, bad
        data) is raised at once.
        """

        def say(exc: BaseException, pause: float) -> None:
            log.warning("storage unavailable (%s); retrying in %.1fs", type(exc).__name__, pause)

        patience = self.storage_patience_seconds
        return await ride_out(call, patience, first_pause=0.2, max_pause=2.0, on_retry=say)


def _refusal(exc: Exception) -> str:
    if isinstance(exc, QuotaExceededError):
        return f"{exc.kind}_limit"
    return "duplicate" if isinstance(exc, DuplicateMessageError) else "empty"

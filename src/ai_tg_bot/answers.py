"""What an answer looks like to whoever shows it: the result, and the view protocols.

ChatService (chat.py) produces answers; the bot (bot/reply.py) shows them in Telegram;
tests and benchmarks show them nowhere. Nothing here knows about either side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ai_tg_bot.llm import LLMError, StreamReport
from ai_tg_bot.storage import Question


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
    usage: StreamReport = field(default_factory=StreamReport)
    voice_problem: VoiceProblem | None = None
    # The user stopped the answer (Stop button, /stop): `reply` is what had arrived
    # (None if nothing had), stored as the answer so the next turn sees what they saw.
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """Whether a complete reply was stored."""
        return self.reply is not None


class AnswerView(Protocol):
    """Where one answer is shown while it streams and when it ends."""

    async def heard(self, transcript: str) -> None:
        """Show what was heard in a voice question, before its answer."""

    async def think(self, piece: str) -> None:
        """Show more of the model's reasoning (never part of the answer)."""

    async def feed(self, piece: str) -> None:
        """Show more of the answer."""

    async def show(self, result: TurnResult) -> None:
        """Show the final answer, or what arrived and the error."""


class StopSignals:
    """Answers in progress that their user may stop, one per user at a time.

    The answering turn opens a signal while the model streams; `/stop` and Telegram's
    Stop button (`stopped_message_generation`) set it. In-process: an instance stops the
    answers it streams itself.
    """

    def __init__(self) -> None:
        self._running: dict[int, tuple[int, asyncio.Event]] = {}

    @contextlib.contextmanager
    def open(self, user_id: int, seq: int) -> Iterator[asyncio.Event]:
        """A signal for the user's answer to question `seq`, closed when it ends."""
        event = asyncio.Event()
        self._running[user_id] = (seq, event)
        try:
            yield event
        finally:
            if self._running.get(user_id, (0, None))[1] is event:
                del self._running[user_id]

    def stop(self, user_id: int, seq: int | None = None) -> bool:
        """Stop the user's answer in progress (only the answer to `seq`, if given: a late
        press on an earlier answer's Stop button stops nothing); False if none was."""
        running = self._running.get(user_id)
        if running is None or (seq is not None and running[0] != seq):
            return False
        running[1].set()
        return True


async def until_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run `work` to its end, or cancel it as soon as `stop` is set; True if stopped.

    Cancelling the work closes the model's HTTP stream (llm.stream's `finally`), so the
    provider stops generating at once. An error of the work is raised as it is.
    """
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the turn itself was cancelled (shutdown)
        task.cancel()
        waiter.cancel()
        raise
    waiter.cancel()
    if task.done():
        task.result()  # the work's own error, if it failed
        return False
    task.cancel()
    # Stopped wins: whatever the cancelled stream raised on its way out is moot.
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return True


class Presenter(Protocol):
    """Makes a view for each question answered (the bot shows them in Telegram)."""

    def view(self, question: Question) -> AbstractAsyncContextManager[AnswerView]:
        """A view for this question's answer."""

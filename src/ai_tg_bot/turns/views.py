"""What an answer looks like to whoever shows it: the result, and the view protocols.

TurnService (turns.service) produces answers; the bot (bot.reply) shows them in Telegram;
tests and benchmarks show them nowhere. Nothing here knows about either side.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from ai_tg_bot.llm import LLMError, StreamReport
from ai_tg_bot.storage import Question

T = TypeVar("T")


class Durably(Protocol):
    """Runs a storage call, riding out a database outage (TurnService._durably): what
    the engine's parts (answerer, summaries) are given to reach the database."""

    def __call__(self, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """The call's result, once the database answered."""


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
    # Not sent to the LLM: the user's token budget was spent (what they are told).
    refusal: str | None = None
    # The tools the model called for the answer ("server__tool"), in order.
    tools: list[str] = field(default_factory=list)

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

    async def tool_used(self, name: str) -> None:
        """The model called a tool ("server__tool"): show that it is working on it."""

    async def halt(self) -> None:
        """The user stopped the answer: show no more progress (`show` follows)."""

    async def show(self, result: TurnResult) -> None:
        """Show the final answer, or what arrived and the error."""


class Suggestions(Protocol):
    """Where a shown answer's follow-up questions go: a view's `buttons` (a private
    chat's answer: bot.answer_buttons). FOLLOWUPS' request is made only for a view whose
    `buttons` want them (`followups`); views without `buttons` are asked for none."""

    followups: bool

    async def suggest(self, questions: list[str]) -> None:
        """Show the questions under the answer, as buttons that ask them."""


class Presenter(Protocol):
    """Makes a view for each question answered (the bot shows them in Telegram)."""

    def view(self, question: Question) -> AbstractAsyncContextManager[AnswerView]:
        """A view for this question's answer."""

"""One answer: a question in, the LLM's reply (or the failure) stored, the next one out.

The turn holder (TurnService, turns.service) calls `Answerer.answer` for each pending question
of a user, in order. No database session is open while the LLM (or speech to text)
works: storage calls are short transactions, each run through `durably`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ai_tg_bot.llm import LLMClient, LLMError, LLMErrorKind, StreamReport
from ai_tg_bot.media import (
    FileFetcher,
    FileTooLargeError,
    MediaError,
    MediaPolicy,
    llm_messages,
    text_chars,
    transcribe_voice,
)
from ai_tg_bot.observability import FIRST_TOKEN
from ai_tg_bot.storage import Context, DialogueStore, Question, TokenUsage, utc_now, without_nul
from ai_tg_bot.tools import ToolCall, answer_text
from ai_tg_bot.tools import records as tool_records
from ai_tg_bot.turns.followups import Followups
from ai_tg_bot.turns.report import TurnFacts, report_turn
from ai_tg_bot.turns.stops import StopSignals, until_stopped
from ai_tg_bot.turns.summaries import Summarizer
from ai_tg_bot.turns.titles import make_title
from ai_tg_bot.turns.views import AnswerView, Durably, Presenter, TurnResult, VoiceProblem

if TYPE_CHECKING:  # mcp (about 0.8 s to import) only with MCP_SERVERS
    from ai_tg_bot.tools import MemoryTool, Toolbox

log = logging.getLogger(__name__)


class Answerer:
    """Answers one question at a time for the turn holder."""

    def __init__(
        self,
        storage: DialogueStore,
        llm: LLMClient,
        media: MediaPolicy,
        fetch_file: FileFetcher | None,
        *,
        durably: Durably,
        answered: Callable[[int, int], None],
        lease_seconds: float,
        stops: StopSignals | None = None,
        title_model: str | None = None,
        summary_model: str | None = None,
        toolbox: Toolbox | None = None,
        memory: MemoryTool | None = None,
    ) -> None:
        self.storage = storage
        self.llm = llm
        self.media = media
        self.fetch_file = fetch_file
        self._durably = durably
        # Called once an answer is stored: this process's waiters for the user look again.
        self._answered = answered
        self.lease_seconds = lease_seconds
        self.stops = stops or StopSignals()
        # Names a conversation after its first answer (TITLE_MODEL; None: the question).
        self.title_model = title_model
        # Summarises what trimming takes out of a conversation (SUMMARY_MODEL; None: off).
        self.summaries = (
            Summarizer(storage, llm, summary_model, durably=durably) if summary_model else None
        )
        # MCP tools offered to the model (MCP_SERVERS; None: no tools), and the built-in
        # `remember` tool (MEMORY_TOOL; offered where the context says memory is on).
        self.toolbox = toolbox
        self.memory = memory
        # FOLLOWUPS: questions suggested under an answer, for views that show them.
        self.followups = Followups(storage, llm, durably=durably)

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
        report = StreamReport()
        try:
            if self.fetch_file is None:
                raise MediaError("no way to fetch files")
            transcript = await transcribe_voice(
                self.fetch_file,
                self.llm,
                str(audio.get("file_id", "")),
                max_bytes=limit,
                mime=audio.get("mime"),
                usage=report,
            )
        except FileTooLargeError:
            result.voice_problem = VoiceProblem("too_large", limit)
        except (MediaError, LLMError) as exc:
            # Download errors carry no URL (bot.files), and the redactor masks any left.
            log.warning(
                "voice of user_id=%s not transcribed: %s: %s", user_id, type(exc).__name__, exc
            )
            result.voice_problem = VoiceProblem("failed", limit)
        else:
            if not transcript:
                result.voice_problem = VoiceProblem("no_speech", limit)
        # A transcript that came back was paid for, spoken words or none (the one meter).
        cost = (
            TokenUsage(self.llm.transcription_model, report.prompt_tokens, report.completion_tokens)
            if report.sent
            else None
        )
        if result.voice_problem is not None:
            if result.voice_problem.kind == "no_speech":
                await self._durably(lambda: self.storage.drop_unheard(user_id, question, cost))
            return None
        heard = await self._durably(
            lambda: self.storage.set_transcript(user_id, question, transcript, cost)
        )
        await view.heard(heard.content)
        return heard

    async def answer(
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
        calls: list[ToolCall] = []  # the tools the model used for this answer
        model = "-"
        history = omitted = 0
        cut = False  # a server error or the deadline cut the answer after some text
        async with presenter.view(question) as view:
            with self.stops.open(user_id, question.seq) as stop:
                # No database session is open from here until the answer is complete.
                asked: Question | None = question
                if question.exhausted:
                    # Its answerers kept failing (or dying): failed once, never asked again.
                    result.error, asked = LLMError(LLMErrorKind.EXHAUSTED, "too many tries"), None
                elif question.refusal is not None:
                    # The budget was spent by the answers before it: nothing is paid for.
                    result.refusal, asked = question.refusal.user_message(utc_now()), None
                elif question.needs_transcript:
                    asked, context = await self._transcribed(user_id, question, view, result), None
                reply: str | None = None
                usage: TokenUsage | None = None
                if asked is not None:
                    if context is None:
                        context = await durably(
                            lambda: storage.load_context(
                                user_id, question.seq, question.conversation_id
                            )
                        )
                    model, history, omitted = context.model, len(context.history), context.omitted
                    try:
                        messages = await llm_messages(context, self.media, self.fetch_file)
                        toolbox, allowed = self.toolbox, context.allowed_tools
                        rounds = toolbox.rounds_for(user_id, allowed) if toolbox else None
                        if self.memory is not None and context.remembers:
                            rounds = self.memory.rounds(user_id, rounds)

                        async def stream_answer() -> None:
                            async for piece in answer_text(
                                self.llm, messages, rounds, model=model, usage=result.usage,
                                calls=calls, thinking=view.think, using=view.tool_used,
                            ):  # fmt: skip
                                if not pieces:
                                    FIRST_TOKEN.observe(time.monotonic() - started)
                                pieces.append(piece)
                                await view.feed(piece)

                        result.stopped = await until_stopped(stream_answer(), stop)
                        reply = "".join(pieces)
                        if not without_nul(reply).strip():  # nothing, blanks or NUL only
                            if not result.stopped:
                                raise LLMError(LLMErrorKind.EMPTY, "no text in the answer")
                            reply = None  # stopped before any text: the question stays asked
                    except LLMError as exc:
                        result.error, result.partial = exc, "".join(pieces)
                        # What the user saw before a server error or the deadline is kept
                        # as the answer, marked cut (counted; /retry asks again).
                        cut = bool(without_nul(result.partial).strip())
                        reply = result.partial if cut else None
                        if not cut:
                            result.partial = ""  # blanks or NUL: nothing to show
                    # Every request that left is metered by the client (llm.stream),
                    # whatever its ending: stopped, cut, timed out, failed.
                    if result.usage.prompt_tokens + result.usage.completion_tokens:
                        usage = TokenUsage(
                            model, result.usage.prompt_tokens, result.usage.completion_tokens
                        )
            if result.stopped:
                await view.halt()  # no more drafts or typing: the stream is closed
            # Store the answer (or the failure), renew the lease, fetch the next question.
            result.reply, following = await durably(
                lambda: storage.complete(
                    user_id,
                    question,
                    reply,
                    usage,
                    owner=owner,
                    lease_seconds=self.lease_seconds,
                    stopped=result.stopped,
                    cut=cut,
                    attachments=tool_records(calls) if reply is not None else (),
                )
            )
            if cut:
                result.reply = None  # shown as what arrived, with the line saying why
            result.tools = [call.name for call in calls]
            self._answered(user_id, question.seq)
            await view.show(result)
            if result.reply is not None and not result.stopped and asked:  # FOLLOWUPS=on
                await self.followups.offer(
                    user_id, question.seq + 1, asked.content, result.reply, model, view
                )
        if self.title_model and reply is not None and not (result.stopped or cut) and asked:
            await self._name(user_id, asked, reply)  # (a voice question: its transcript)
        if self.summaries and reply is not None and question.conversation_id is not None:
            await self.summaries.catch_up(user_id, question.conversation_id)
        report_turn(
            result,
            TurnFacts(user_id, time.monotonic() - started, model, history, omitted,
                      text_chars(messages), len(calls)),
        )  # fmt: skip
        return following

    async def _name(self, user_id: int, question: Question, reply: str) -> None:
        """TITLE_MODEL names a conversation after its first exchange (best effort).

        The first exchange is told by what is stored, not by the context's size: the
        conversation is still titled by this very question (a /reset, /forget or later
        question meanwhile leaves nothing to rename, and no request is made).
        """
        conversation_id = question.conversation_id
        if self.title_model is None or conversation_id is None:
            return
        if not await self._durably(
            lambda: self.storage.titled_by(user_id, conversation_id, question.content)
        ):
            return
        report = StreamReport()
        title = await make_title(self.llm, self.title_model, question.content, reply, report)
        cost = TokenUsage(self.title_model, report.prompt_tokens, report.completion_tokens)
        await self._durably(
            lambda: self.storage.name_conversation(
                user_id, conversation_id, title, question.content, cost
            )
        )

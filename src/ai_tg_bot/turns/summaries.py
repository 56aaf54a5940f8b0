"""SUMMARY_MODEL: a conversation's rolling summary of what trimming took out of its window.

Off by default: what leaves the window is then only stored (searchable, exportable).
With it, after an answer is stored, one request brings the conversation's summary up to
date with the messages trimmed since (storage.SummariesMixin says what is due, under the
owner's budget); the next request carries the summary after the system prompt
(media.inputs.system_text). The request runs outside any transaction, bounded by
SUMMARY_TIMEOUT_SECONDS and SUMMARY_MAX_CHARS, metered whatever its ending and counted
against the conversation's owner; on a failure what was due stays due for the next answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ai_tg_bot.llm import LLMClient, StreamReport
from ai_tg_bot.storage import TokenUsage
from ai_tg_bot.turns.asides import aside
from ai_tg_bot.turns.views import Durably

if TYPE_CHECKING:
    from ai_tg_bot.storage import DialogueStore, SummaryDue

log = logging.getLogger(__name__)
SUMMARY_TIMEOUT_SECONDS = 30.0
# The longest summary kept: the model's text past it is not read (the stream is closed).
SUMMARY_MAX_CHARS = 2000
SUMMARY_PROMPT = (
    "You keep a running summary of a conversation between a user and an assistant. "
    "The messages below have left the assistant's view. Update the summary so that it "
    "keeps what may matter later: facts about the user, what was decided or done, names, "
    "numbers, open questions. Write it in the language of the conversation, as plain text "
    "of at most 200 words. Reply with the updated summary only."
)
_SPEAKERS = {"user": "User", "assistant": "Assistant"}


def summary_request(due: SummaryDue) -> list[dict[str, str]]:
    """The messages asking for the summary `due` calls for."""
    lines = [f"{_SPEAKERS.get(role, role)}: {content}" for role, content in due.messages if content]
    previous = due.summary or "(none yet)"
    text = f"The summary so far:\n{previous}\n\nThe messages, oldest first:\n" + "\n\n".join(lines)
    return [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": text}]


async def make_summary(
    llm: LLMClient, model: str, due: SummaryDue, usage: StreamReport
) -> str | None:
    """The summary brought up to date with `due`; None when the model gives none in time.
    What the request cost goes into `usage` (the one meter, whatever the ending)."""
    text = await aside(
        llm, model, summary_request(due), usage, timeout=SUMMARY_TIMEOUT_SECONDS,
        what="conversation summary", max_chars=SUMMARY_MAX_CHARS,
    )  # fmt: skip
    if text is None:
        return None
    summary = text.strip()[:SUMMARY_MAX_CHARS]
    return summary or None


class Summarizer:
    """Keeps conversations' summaries up to date after answers (SUMMARY_MODEL)."""

    def __init__(
        self, storage: DialogueStore, llm: LLMClient, model: str, *, durably: Durably
    ) -> None:
        self.storage = storage
        self.llm = llm
        self.model = model
        self._durably = durably

    async def catch_up(self, user_id: int, conversation_id: int) -> bool:
        """Summarise what left the conversation's window since its summary, if anything
        did and its owner (`user_id`) may spend; whether a new summary was stored."""
        storage = self.storage
        due = await self._durably(lambda: storage.summary_due(user_id, conversation_id))
        if due is None:
            return False
        report = StreamReport()
        summary = await make_summary(self.llm, self.model, due, report)
        cost = TokenUsage(self.model, report.prompt_tokens, report.completion_tokens)
        stored = await self._durably(
            lambda: storage.store_summary(user_id, conversation_id, due, summary, cost)
        )
        if summary is not None and not stored:
            log.info("conversation summary not stored: the conversation moved on meanwhile")
        return stored

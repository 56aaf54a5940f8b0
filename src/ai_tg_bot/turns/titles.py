"""TITLE_MODEL: a short name for a conversation, made after its first answer.

Off by default: a conversation is then titled by its first question, shortened. The
request runs after the answer is stored and shown, outside any transaction, bounded by
TITLE_TIMEOUT_SECONDS; on any failure the question's own title stays.
"""

from __future__ import annotations

from ai_tg_bot.llm import LLMClient, StreamReport
from ai_tg_bot.turns.asides import aside, exchange

TITLE_TIMEOUT_SECONDS = 15.0
# What of the first exchange the title model reads (titles need only its gist).
TITLE_SOURCE_CHARS = 2000
TITLE_PROMPT = (
    "Name this conversation in at most six words, in the language of the user's "
    "message. Reply with the title only: no quotes, no final period."
)


async def make_title(
    llm: LLMClient, model: str, question: str, answer: str, usage: StreamReport
) -> str | None:
    """A title for the conversation that began with `question` and `answer`; None when
    the model gives none in time (the caller keeps the title it has). What the request
    cost goes into `usage` (counted against the user's budget like any call)."""
    messages = exchange(TITLE_PROMPT, question, answer, TITLE_SOURCE_CHARS)
    text = await aside(
        llm, model, messages, usage, timeout=TITLE_TIMEOUT_SECONDS, what="conversation title"
    )
    title = " ".join((text or "").split())
    return title or None

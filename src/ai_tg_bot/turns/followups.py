"""FOLLOWUPS: up to three short questions the user might ask next, shown as buttons
under an answer in their private chat (issue 33).

Off by default. With it, once an answer is stored and shown, one small request to the
model that answered (the question and the answer, cut short) asks for them. It is a paid
call like any: made only while the user's token budget allows (checked under their lock
first), metered whatever its ending, and counted in `token_usage` with no transaction
open across it. The questions are kept on the answer (storage: its `attachments`), so a
button's data names only the user, the answer and an index; the view shows them
(`turns.views.Suggestions`). Strict parsing: a JSON array of strings (or one question a
line), each on one line and at most FOLLOWUP_CHARS, so it fits a button; nothing usable,
no buttons.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from ai_tg_bot.llm import LLMClient, StreamReport
from ai_tg_bot.storage import STORAGE_ERRORS, TokenUsage
from ai_tg_bot.turns.asides import aside, exchange
from ai_tg_bot.turns.views import Durably, Suggestions

if TYPE_CHECKING:
    from ai_tg_bot.storage import DialogueStore

log = logging.getLogger(__name__)
MAX_FOLLOWUPS = 3
FOLLOWUP_CHARS = 60  # a question longer than this is dropped (a button shows ~30-60)
FOLLOWUPS_TIMEOUT_SECONDS = 15.0
FOLLOWUPS_SOURCE_CHARS = 3000  # of the question and of the answer, each
FOLLOWUPS_PROMPT = (
    "Suggest up to three short follow-up questions the user is likely to ask next about "
    "this exchange, written as the user would ask them, in the language of the user's "
    f"message, each at most {FOLLOWUP_CHARS} characters. Reply with a JSON array of "
    'strings only, like ["First question?", "Second question?"].'
)
_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_QUESTION_MARKS = ("?", "？", "؟")  # noqa: RUF001 - full-width and Arabic question marks


def parse_followups(text: str) -> list[str]:
    """The model's suggestions: a JSON array of strings (also in a fenced block, or as
    {"questions": [...]}), else the lines that are questions; each on one line, quotes
    and bullets gone, at most FOLLOWUP_CHARS (longer ones are dropped, not cut), no
    duplicates, at most MAX_FOLLOWUPS. [] when none is usable."""
    source = text.strip()
    fenced = _FENCED.search(source)
    if fenced:
        source = fenced.group(1).strip()
    try:
        parsed: Any = json.loads(source)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        parsed = parsed.get("questions")
    if isinstance(parsed, list):
        candidates = [item for item in parsed if isinstance(item, str)]
    else:
        lines = (_BULLET.sub("", line).strip() for line in source.splitlines())
        candidates = [line for line in lines if line.endswith(_QUESTION_MARKS)]
    found: list[str] = []
    for candidate in candidates:
        question = " ".join(candidate.split()).strip("\"'«»“”")
        if not question or len(question) > FOLLOWUP_CHARS:
            continue
        if question.casefold() not in (seen.casefold() for seen in found):
            found.append(question)
        if len(found) == MAX_FOLLOWUPS:
            break
    return found


async def suggest_followups(
    llm: LLMClient, model: str, question: str, answer: str, usage: StreamReport
) -> list[str]:
    """Follow-up questions for this exchange ([] when the model gives none in time, or
    none usable). What the request cost goes into `usage` (the one meter)."""
    messages = exchange(FOLLOWUPS_PROMPT, question, answer, FOLLOWUPS_SOURCE_CHARS)
    text = await aside(
        llm, model, messages, usage, timeout=FOLLOWUPS_TIMEOUT_SECONDS,
        what="follow-up questions",
    )  # fmt: skip
    return parse_followups(text) if text is not None else []


class Followups:
    """Suggests follow-up questions after answers whose view wants them (FOLLOWUPS=on,
    a private chat), stores them on the answer, and has the view show them."""

    def __init__(self, storage: DialogueStore, llm: LLMClient, *, durably: Durably) -> None:
        self.storage = storage
        self.llm = llm
        self._durably = durably

    async def offer(
        self, user_id: int, answer_seq: int, question: str, answer: str, model: str, view: object
    ) -> bool:
        """Suggest follow-ups to the answer in slot `answer_seq` (`user_id`'s own
        conversation) and show them under it, if the view wants them and the user's
        budget allows; the request is made with the `model` that answered. Best effort:
        whether buttons were shown."""
        target: Suggestions | None = getattr(view, "buttons", None)
        if target is None or not target.followups or user_id <= 0:
            return False
        storage = self.storage
        try:
            if not await self._durably(lambda: storage.may_suggest(user_id)):
                return False  # the budget is spent: no request, no buttons
            report = StreamReport()
            questions = await suggest_followups(self.llm, model, question, answer, report)
            cost = TokenUsage(model, report.prompt_tokens, report.completion_tokens)
            stored = await self._durably(
                lambda: storage.store_followups(user_id, answer_seq, questions, cost)
            )
        except STORAGE_ERRORS as exc:
            log.warning("follow-up questions skipped user_id=%s: %s", user_id, type(exc).__name__)
            return False
        if stored:
            await target.suggest(questions)
        return stored

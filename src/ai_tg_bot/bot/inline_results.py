"""What an inline query (`@bot question`) is answered with: an article that sends the
model's reply (its Markdown rendered to entities, within Telegram's 4096 characters), or
one that explains a refusal or a failure; above them, a button to the private chat.

Answers are personal and never cached (each user's limits and model decide them). An
answer that comes too late ("query is too old": the user moved on, or Telegram's ~10 s
passed) is logged, never raised.
"""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import (
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InlineQueryResultUnion,
    InputTextMessageContent,
)

from ai_tg_bot.bot.formatting import TELEGRAM_MESSAGE_LIMIT, format_reply, plain_chunks
from ai_tg_bot.i18n import _

log = logging.getLogger(__name__)
# The /start payload of the button above the results (bot.handlers.start greets it).
START_PARAMETER = "inline"
# How much of the question (the title) and of the answer (the description) the list shows.
TITLE_CHARS = 64
DESCRIPTION_CHARS = 160
CUT_MARK = "…"


def _line(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters (marked)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + CUT_MARK


def reply_article(question: str, reply: str) -> InlineQueryResultArticle:
    """The model's reply as a result that sends it: formatted, and cut (marked) to one
    message if longer."""
    chunks = format_reply(reply, TELEGRAM_MESSAGE_LIMIT - len(CUT_MARK))
    chunks = chunks or plain_chunks(reply, TELEGRAM_MESSAGE_LIMIT - len(CUT_MARK))
    first = chunks[0]
    text = first.text + (CUT_MARK if len(chunks) > 1 else "")
    return InlineQueryResultArticle(
        id="answer",
        title=_line(question, TITLE_CHARS) or _("Answer"),
        description=_line(first.text, DESCRIPTION_CHARS),
        input_message_content=InputTextMessageContent(
            message_text=text, entities=first.entities or None
        ),
    )


def notice_article(notice: str) -> InlineQueryResultArticle:
    """One line for the user (a limit reached, a failure) as the only result."""
    return InlineQueryResultArticle(
        id="notice",
        title=_line(notice, TITLE_CHARS),
        description=_line(notice, DESCRIPTION_CHARS),
        input_message_content=InputTextMessageContent(
            message_text=plain_chunks(notice)[0].text if notice.strip() else "⚠️"
        ),
    )


async def answer_inline(query: InlineQuery, results: list[InlineQueryResultUnion]) -> bool:
    """Answer the query (personal, not cached, with the button to the private chat);
    False when Telegram no longer takes the answer."""
    button = InlineQueryResultsButton(
        text=_("💬 Continue in the private chat"), start_parameter=START_PARAMETER
    )
    try:
        await query.answer(results, cache_time=0, is_personal=True, button=button)
    except TelegramBadRequest as exc:  # too old, or superseded on Telegram's side
        log.info("inline query of user_id=%s not answered: %s", query.from_user.id, exc.message)
        return False
    except TelegramAPIError as exc:
        log.warning(
            "inline query of user_id=%s not answered: %s", query.from_user.id, type(exc).__name__
        )
        return False
    return True

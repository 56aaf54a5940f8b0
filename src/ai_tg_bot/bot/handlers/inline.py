"""Inline mode: `@bot question` in any chat answers with the model's reply.

Off until the operator enables inline mode for the bot in @BotFather (/setinline): only
then does Telegram send inline queries. Each query is answered by turns.InlineAnswers
(the newest of a user's queries, once it settled; counted like any answer, no history),
then shown as one article (bot.inline_results) with a button to the private chat. Who
may ask is checked before (bot.middlewares.access: a refusal is an article too).
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram import Router
from aiogram.types import InlineQuery, InlineQueryResultUnion

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.inline_results import answer_inline, notice_article, reply_article
from ai_tg_bot.i18n import _
from ai_tg_bot.storage import utc_now
from ai_tg_bot.turns import InlineOutcome


async def inline_query(
    query: InlineQuery, deps: Deps, on_stored: Callable[[], None] | None = None
) -> None:
    """Answer the query with the model's reply once the user stopped typing; a query a
    newer one superseded is left unanswered."""
    if on_stored is not None:
        # Nothing is stored: the user's next query must not wait behind this one (and a
        # webhook delivery is acknowledged now; Telegram would not resend it in time).
        on_stored()
    outcome = await deps.inline.answer(query.from_user.id, query.query)
    if outcome.superseded:
        return
    await answer_inline(query, results_for(query.query, outcome))


def results_for(question: str, outcome: InlineOutcome) -> list[InlineQueryResultUnion]:
    """The results shown for an outcome: none for an empty query (the button leads to
    the private chat), else one article."""
    if outcome.empty:
        return []
    if outcome.refusal is not None:
        return [notice_article(outcome.refusal.user_message(utc_now()))]
    if outcome.storage_down:
        return [notice_article(texts.STORAGE_DOWN)]
    if outcome.error is not None:
        notice = _("⚠️ {reason} Try again, or ask me in the private chat.")
        return [notice_article(notice.format(reason=outcome.error.reason))]
    return [reply_article(question, outcome.reply)]


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.inline_query.register(inline_query)
    return router

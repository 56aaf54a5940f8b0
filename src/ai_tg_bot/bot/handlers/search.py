"""/search: find your own messages, ranked, with a snippet, a page at a time."""

from __future__ import annotations

import re

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ai_tg_bot.bot.private import PrivateChat, answer_privately
from ai_tg_bot.storage.search import MessageSearch, SearchPage, search_words

PAGE_SIZE = 5
USAGE = "Usage: /search <words>: finds your messages (also those out of the context window)."
_HEADER = re.compile(r"^🔎 «(?P<query>.*)»", re.DOTALL)
_ROLES = {"user": "You", "assistant": "Bot"}


def render_page(query: str, page: SearchPage, number: int) -> str:
    """The results message; its first line carries the query, which paging reads back."""
    if not page.total:
        return f"🔎 «{query}»: nothing found."
    pages = (page.total + PAGE_SIZE - 1) // PAGE_SIZE
    lines = [f"🔎 «{query}»: {page.total} found, page {number} of {pages}"]
    for hit in page.hits:
        who = _ROLES.get(hit.role, hit.role)
        lines.append(f"\n{hit.created_at:%Y-%m-%d %H:%M} · {who}\n{hit.snippet}")
    return "\n".join(lines)


def pager(page: SearchPage, number: int) -> InlineKeyboardMarkup | None:
    """Previous/next buttons, when there is more than one page."""
    buttons = []
    if number > 1:
        buttons.append(
            InlineKeyboardButton(text="◀ Previous", callback_data=f"search:{number - 1}")
        )
    if number * PAGE_SIZE < page.total:
        buttons.append(InlineKeyboardButton(text="Next ▶", callback_data=f"search:{number + 1}"))
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


async def search(
    message: Message, user_id: int, command: CommandObject, search: MessageSearch, bot: Bot
) -> None:
    """`/search <words>`: the first page of the user's matching messages, privately."""
    # Only the words count; shown in the header, they are read back when paging.
    query = " ".join(search_words(command.args or ""))
    if not query:
        await message.answer(USAGE)
        return
    page = await search.search(user_id, query, limit=PAGE_SIZE)

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(render_page(query, page, 1), reply_markup=pager(page, 1))

    await answer_privately(message, user_id, bot, deliver)


async def turn_page(callback: CallbackQuery, user_id: int, search: MessageSearch) -> None:
    """A Previous/Next button: show that page in the same message."""
    shown = callback.message
    match = _HEADER.match(shown.text or "") if isinstance(shown, Message) else None
    number = int((callback.data or "search:1").split(":", 1)[1] or 1)
    if not isinstance(shown, Message) or match is None:
        await callback.answer("This search has expired; run /search again.")
        return
    query = match["query"].split("»", 1)[0]
    page = await search.search(user_id, query, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    await callback.answer()
    await shown.edit_text(render_page(query, page, number), reply_markup=pager(page, number))


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(search, Command("search"), F.from_user.id.as_("user_id"))
    router.callback_query.register(
        turn_page, F.data.regexp(r"^search:\d+$"), F.from_user.id.as_("user_id")
    )
    return router

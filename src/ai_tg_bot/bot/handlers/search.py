"""/search: find your own messages, ranked, with a snippet, a page at a time."""

from __future__ import annotations

import re
from typing import Annotated

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from pydantic import Field

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.formatting import TELEGRAM_MESSAGE_LIMIT, utf16_length
from ai_tg_bot.bot.private import PrivateChat, answer_privately
from ai_tg_bot.i18n import N_, _, moment
from ai_tg_bot.i18n import number as figure
from ai_tg_bot.storage import SearchPage, search_words

PAGE_SIZE = 5
# Paging stops here (50,000 hits); a button asking for more is forged or garbage.
MAX_PAGE = 10_000
USAGE = N_("Usage: /search <words>: finds your messages (also those out of the context window).")
_HEADER = re.compile(r"^🔎 «(?P<query>.*)»", re.DOTALL)
_ROLES = {"user": N_("You"), "assistant": N_("Bot")}


class SearchCallback(CallbackData, prefix="search"):
    """`search:<user_id>:<page>`: a paging button; only that user may press it."""

    user_id: PositiveId
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)]


def parse_callback(data: str | None) -> SearchCallback | None:
    """The button's data, or None for garbage, an out-of-range page or an older format."""
    try:
        return SearchCallback.unpack(data or "")
    except (TypeError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def render_page(query: str, page: SearchPage, number: int) -> str:
    """The results message; its first line carries the query, which paging reads back.

    Always one Telegram message: each snippet gets an equal share of what the header
    leaves of 4,096 UTF-16 units, and is cut with "…" past it."""
    if not page.total:
        return f"🔎 «{query}»: " + _("nothing found.")
    found = _("{count} found, page {page} of {pages}").format(
        count=figure(page.total), page=figure(number), pages=figure(page_count(page))
    )
    lines = [f"🔎 «{query}»: {found}"]
    heads = []
    for hit in page.hits:
        who = _(_ROLES[hit.role]) if hit.role in _ROLES else hit.role
        heads.append(f"\n{moment(hit.created_at)} · {who}\n")
    room = TELEGRAM_MESSAGE_LIMIT - utf16_length(lines[0]) - sum(utf16_length(h) + 1 for h in heads)
    share = max(room // max(len(heads), 1), 1)
    for head, hit in zip(heads, page.hits, strict=True):
        lines.append(head + _fit(hit.snippet, share))
    return "\n".join(lines)


def _fit(text: str, units: int) -> str:
    """`text` within `units` UTF-16 units, cut with "…" when longer."""
    if utf16_length(text) <= units:
        return text
    cut = text[: max(units - 1, 0)]
    while cut and utf16_length(cut) > units - 1:
        cut = cut[:-1]
    return cut + "…"


def page_count(page: SearchPage) -> int:
    """How many pages the hits fill (never more than MAX_PAGE are offered)."""
    return min((page.total + PAGE_SIZE - 1) // PAGE_SIZE, MAX_PAGE)


def pager(page: SearchPage, number: int, user_id: int) -> InlineKeyboardMarkup | None:
    """Previous/next buttons bound to the user, when there is more than one page."""
    buttons = []
    if number > 1:
        data = SearchCallback(user_id=user_id, page=number - 1).pack()
        buttons.append(InlineKeyboardButton(text=_("◀ Previous"), callback_data=data))
    if number < page_count(page):
        data = SearchCallback(user_id=user_id, page=number + 1).pack()
        buttons.append(InlineKeyboardButton(text=_("Next ▶"), callback_data=data))
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


async def search(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/search <words>`: the first page of the user's matching messages, privately."""
    # Only the words count; shown in the header, they are read back when paging.
    query = " ".join(search_words(command.args or ""))
    if not query:
        await message.answer(_(USAGE))
        return
    page = await deps.search.search(user_id, query, limit=PAGE_SIZE)

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(render_page(query, page, 1), reply_markup=pager(page, 1, user_id))

    await answer_privately(message, user_id, bot, deliver)


async def turn_page(callback: CallbackQuery, deps: Deps) -> None:
    """A Previous/Next button: show that page in the same message, to its owner only."""
    data = parse_callback(callback.data)
    if data is None:
        await callback.answer(texts.SEARCH_EXPIRED, show_alert=True)
        return
    user_id = callback.from_user.id
    if data.user_id != user_id:
        await callback.answer(texts.BUTTON_NOT_YOURS, show_alert=True)
        return
    shown = callback.message
    match = _HEADER.match(shown.text or "") if isinstance(shown, Message) else None
    query = " ".join(search_words(match["query"].split("»", 1)[0])) if match else ""
    # Results live only in their owner's private chat (whose id is the user's): a search
    # button anywhere else was left by an older version and must not show anything there.
    if not isinstance(shown, Message) or not query or shown.chat.id != user_id:
        await callback.answer(texts.SEARCH_EXPIRED, show_alert=True)
        return
    number = data.page
    page = await deps.search.search(
        user_id, query, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    if not page.hits and page.total and number > page_count(page):
        # Fewer hits than when the button was made (trimmed, cleared): the last page.
        number = page_count(page)
        offset = (number - 1) * PAGE_SIZE
        page = await deps.search.search(user_id, query, limit=PAGE_SIZE, offset=offset)
    await callback.answer()
    try:
        await shown.edit_text(
            render_page(query, page, number), reply_markup=pager(page, number, user_id)
        )
    except TelegramBadRequest as error:
        if "message is not modified" not in error.message:  # a double tap: already shown
            raise


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(search, Command("search"), F.from_user.id.as_("user_id"))
    # Every search button, whatever its data: garbage and older formats get an answer too.
    router.callback_query.register(turn_page, F.data.startswith("search:"))
    return router

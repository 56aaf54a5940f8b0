"""/new and /chats: several conversations per user, none forgotten (ADR 0014).

`/new` leaves the current conversation as it is (its messages stay, out of the new
context) and the next message starts another. `/chats` lists the recent ones with a
button each to go back; the list holds titles, so it is only ever shown in the private
chat. In a chat with topics each topic is its own conversation: a new topic is a new
conversation, so /new and the buttons are about the chat outside topics.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import PrivateChat, answer_privately, topic_of
from ai_tg_bot.i18n import _, moment, ngettext, number
from ai_tg_bot.storage import ConversationSummary

# A button's label: the title, cut so that the count and the marker still fit.
BUTTON_TITLE_CHARS = 40


class ConversationCallback(CallbackData, prefix="conv"):
    """A /chats button, bound to the user it was shown to."""

    user_id: PositiveId
    conversation_id: PositiveId


def untitled() -> str:
    """How a conversation without a title yet is named."""
    return _("New conversation")


def _label(summary: ConversationSummary) -> str:
    title = summary.title or untitled()
    if len(title) > BUTTON_TITLE_CHARS:
        title = title[: BUTTON_TITLE_CHARS - 1] + "…"
    marker = "▶ " if summary.is_current else ""
    return f"{marker}{title} · {number(summary.messages)}"


def keyboard(user_id: int, listed: list[ConversationSummary]) -> InlineKeyboardMarkup:
    """One button per conversation; the current one marked."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_label(summary),
                    callback_data=ConversationCallback(
                        user_id=user_id, conversation_id=summary.id
                    ).pack(),
                )
            ]
            for summary in listed
        ]
    )


def listing(listed: list[ConversationSummary]) -> str:
    """The /chats text: each conversation with its title, size and last activity."""
    lines = [_("Your conversations, most recent first:")]
    for summary in listed:
        marker = _(" (current)") if summary.is_current else ""
        size = ngettext("{count} message", "{count} messages", summary.messages).format(
            count=number(summary.messages)
        )
        lines.append(
            f"• {summary.title or untitled()}{marker}: {size}, {moment(summary.last_active_at)}"
        )
    lines.append(_("Tap one to continue it; /new starts another."))
    return "\n".join(lines)


async def new(message: Message, user_id: int, deps: Deps) -> None:
    """Start a new conversation; the current one is kept as it is."""
    if topic_of(message) is not None:
        await message.answer(
            _(
                "In this chat each topic is its own conversation: open a new topic to "
                "start another one. This topic keeps its history."
            )
        )
        return
    if await deps.storage.start_conversation(user_id):
        await message.answer(
            _(
                "New conversation started. The previous one is kept, untouched: "
                "/chats takes you back to it."
            )
        )
    else:
        await message.answer(_("This conversation is new already: just write."))


async def chats(message: Message, user_id: int, bot: Bot, deps: Deps) -> None:
    """The recent conversations with a button each (titles only in the private chat)."""
    listed = await deps.storage.recent_conversations(user_id)

    async def deliver(chat: PrivateChat) -> None:
        if not listed:
            await chat.answer(_("No conversations yet: just write to start one."))
            return
        await chat.answer(listing(listed), reply_markup=keyboard(user_id, listed))

    await answer_privately(message, user_id, bot, deliver)


async def switch(callback: CallbackQuery, callback_data: ConversationCallback, deps: Deps) -> None:
    """A /chats button: that conversation becomes the current one, with its history."""
    if callback.from_user.id != callback_data.user_id:
        await callback.answer(texts.BUTTON_NOT_YOURS, show_alert=True)
        return
    title = await deps.storage.switch_conversation(
        callback.from_user.id, callback_data.conversation_id
    )
    if title is None:
        await callback.answer(texts.BUTTON_EXPIRED, show_alert=True)
        return
    await callback.answer()
    done = _("Back in “{title}”. It continues with its own history.").format(
        title=title or untitled()
    )
    if isinstance(callback.message, Message):
        await callback.message.answer(done)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(new, Command("new"), F.from_user.id.as_("user_id"))
    router.message.register(chats, Command("chats"), F.from_user.id.as_("user_id"))
    router.callback_query.register(switch, ConversationCallback.filter())
    return router

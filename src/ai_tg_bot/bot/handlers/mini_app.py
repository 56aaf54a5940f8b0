"""/app: a button that opens the Mini App (WEBAPP_URL; bot.webapp serves it).

Telegram opens a Mini App from a button only in a private chat, and the app shows the
user's own data, so asked in a group the button goes to the asker's private chat.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo

from ai_tg_bot.bot import menus
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import PrivateChat, answer_privately
from ai_tg_bot.i18n import _


async def open_app(message: Message, user_id: int, bot: Bot, deps: Deps) -> None:
    """The Mini App's button, or a line saying there is none here."""
    url = deps.settings.webapp_url
    if url is None:
        await message.answer(_("There is no app for this bot: its operator has not set one up."))
        return
    button = InlineKeyboardButton(text=_(menus.APP_BUTTON), web_app=WebAppInfo(url=url))
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[button]])
    text = _(
        "Your conversations, settings, usage and payments at a glance: tap the button "
        "(or the menu button beside the message field)."
    )

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(text, reply_markup=keyboard)

    await answer_privately(message, user_id, bot, deliver)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(open_app, Command("app"), F.from_user.id.as_("user_id"))
    return router

"""/language: the language the bot speaks to a user.

By default the bot follows the language of the user's Telegram app on every update.
`/language <code>` fixes one of the shipped languages, `/language auto` follows the app
again, and `/language` alone shows the choices as buttons. The choice is stored
(`user_settings.language`), so it holds across restarts and on every instance.
"""

from __future__ import annotations

from typing import Annotated

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from pydantic import Field

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import (
    LANGUAGE_NAMES,
    SHIPPED,
    _,
    language_name,
    normalize,
    pick_language,
    use_language,
)
from ai_tg_bot.storage import AccountsStore, without_nul

AUTO = "auto"


class LanguageCallback(CallbackData, prefix="language"):
    """A language button, bound to the user it was shown to."""

    user_id: PositiveId
    code: Annotated[str, Field(pattern=r"^[a-z]{2,8}$")]


def keyboard(user_id: int) -> InlineKeyboardMarkup:
    """One button per shipped language, and one to follow the Telegram app."""
    rows = [
        [
            InlineKeyboardButton(
                text=LANGUAGE_NAMES[code],
                callback_data=LanguageCallback(user_id=user_id, code=code).pack(),
            )
        ]
        for code in SHIPPED
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=_("🌐 As in my Telegram app"),
                callback_data=LanguageCallback(user_id=user_id, code=AUTO).pack(),
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _choices() -> str:
    codes = ", ".join(f"{code} ({LANGUAGE_NAMES[code]})" for code in SHIPPED)
    return _("Languages: {codes}, or auto to follow your Telegram app.").format(codes=codes)


async def language(
    message: Message, user_id: int, command: CommandObject, language: str, deps: Deps
) -> None:
    """`/language` shows the buttons; `/language <code>` or `/language auto` sets it."""
    wanted = without_nul(command.args or "").strip().lower()
    if not wanted:
        current = _("My language with you: {name}.").format(name=language_name(language))
        await message.answer(current + "\n" + _choices(), reply_markup=keyboard(user_id))
        return
    code = AUTO if wanted in (AUTO, "default") else normalize(wanted)
    if code is None:
        shown = wanted[:20]
        await message.answer(_("I don't speak “{code}” yet.").format(code=shown) + " " + _choices())
        return
    telegram = message.from_user.language_code if message.from_user else None
    await message.answer(
        await _choose(deps.accounts, deps.settings, user_id, code, telegram),
    )


async def _choose(
    accounts: AccountsStore, settings: Settings, user_id: int, code: str, telegram: str | None
) -> str:
    """Store the choice; the confirmation, in the language now in force."""
    chosen = None if code == AUTO else code
    await accounts.set_language(user_id, chosen)
    now = pick_language(chosen, telegram, settings.default_language)
    with use_language(now):
        if chosen is None:
            return _("Done: I follow your Telegram app's language ({name}).").format(
                name=language_name(now)
            )
        return _("Done: I speak {name} with you now.").format(name=language_name(now))


async def choose(callback: CallbackQuery, callback_data: LanguageCallback, deps: Deps) -> None:
    """A language button: store the choice and say so in that language."""
    if callback.from_user.id != callback_data.user_id:
        await callback.answer(texts.BUTTON_NOT_YOURS, show_alert=True)
        return
    code = callback_data.code
    if code != AUTO and code not in SHIPPED:
        await callback.answer(texts.BUTTON_EXPIRED, show_alert=True)
        return
    done = await _choose(
        deps.accounts, deps.settings, callback.from_user.id, code, callback.from_user.language_code
    )
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_text(done)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(language, Command("language"), F.from_user.id.as_("user_id"))
    router.callback_query.register(choose, LanguageCallback.filter())
    return router

"""The bot's profile in Telegram: its command menus and descriptions, in every language."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommandScopeChat, MenuButtonDefault, MenuButtonWebApp, WebAppInfo

from ai_tg_bot.bot import menus
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import SHIPPED, _, use_language

log = logging.getLogger(__name__)


async def register_profile(bot: Bot, settings: Settings) -> None:
    """The command menu, description and short description, in every shipped language
    (Telegram shows each user the one of their app) and, for every other app language,
    in DEFAULT_LANGUAGE. A failure here is not fatal."""
    default = settings.default_language
    try:
        for code in (None, *SHIPPED):
            with use_language(code or default):
                await _register(bot, settings, code)
    except TelegramAPIError as exc:
        log.warning("could not register the command list: %s", exc)
    try:
        with use_language(default):
            await set_menu_button(bot, settings)
    except TelegramAPIError as exc:
        log.warning("could not set the menu button: %s", exc)


async def set_menu_button(bot: Bot, settings: Settings) -> None:
    """With WEBAPP_URL, every private chat's menu button opens the Mini App (its label in
    DEFAULT_LANGUAGE: Telegram keeps one); without, the default menu (the commands),
    so a button set by an earlier configuration does not linger."""
    if settings.webapp_url is None:
        await bot.set_chat_menu_button(menu_button=MenuButtonDefault())
        return
    button = MenuButtonWebApp(text=_(menus.APP_BUTTON), web_app=WebAppInfo(url=settings.webapp_url))
    await bot.set_chat_menu_button(menu_button=button)


async def _register(bot: Bot, settings: Settings, code: str | None) -> None:
    offered = menus.Offered.by(settings)
    await bot.set_my_commands(menus.bot_commands(offered), language_code=code)
    # Admins see their commands in the menu too; nobody else does.
    for admin_id in settings.admin_user_ids:
        await bot.set_my_commands(
            menus.bot_commands(offered, admin=True),
            scope=BotCommandScopeChat(chat_id=admin_id),
            language_code=code,
        )
    await bot.set_my_description(_(menus.DESCRIPTION), language_code=code)
    await bot.set_my_short_description(_(menus.SHORT_DESCRIPTION), language_code=code)

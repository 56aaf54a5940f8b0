"""Wire Settings, Database, Storage, LLM, Bot and Dispatcher into one running bot."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommandScopeChat

from ai_tg_bot.accounts import Accounts
from ai_tg_bot.bot.handlers import routers
from ai_tg_bot.bot.middlewares.access import AccessMiddleware
from ai_tg_bot.bot.middlewares.ordering import UserOrderMiddleware
from ai_tg_bot.bot.middlewares.retry import RetryMiddleware
from ai_tg_bot.bot.texts import ADMIN_BOT_COMMANDS, BOT_COMMANDS
from ai_tg_bot.chat import ChatService
from ai_tg_bot.config import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.llm import LLMClient
from ai_tg_bot.storage import Storage

log = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    """A Bot on the configured Bot API server, retrying flood control and 5xx."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    api = (
        TelegramAPIServer.from_base(settings.telegram_api_url)
        if settings.telegram_api_url
        else None
    )
    session = AiohttpSession(api=api) if api else AiohttpSession()
    session.middleware(RetryMiddleware())
    # No parse mode: replies carry explicit entities, and user text is never parsed.
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=None, link_preview_is_disabled=True),
    )


@dataclass
class Application:
    """Everything one bot process owns, with an orderly start and stop."""

    settings: Settings
    database: Database
    storage: Storage
    llm: LLMClient
    bot: Bot
    dispatcher: Dispatcher
    ordering: UserOrderMiddleware

    @classmethod
    def create(cls, settings: Settings) -> Application:
        """Build every component from Settings (nothing connects yet)."""
        database = Database(
            settings.database_url,
            echo=settings.db_echo,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        storage = Storage(database, settings)
        llm = LLMClient(settings)
        ordering = UserOrderMiddleware()
        accounts = Accounts(storage, settings)
        # `store`, not `storage`: aiogram reserves that name for its FSM storage.
        dispatcher = Dispatcher(
            store=storage, accounts=accounts, chat=ChatService(storage, llm), settings=settings
        )
        dispatcher.update.outer_middleware(ordering)
        dispatcher.message.outer_middleware(AccessMiddleware(settings, accounts))
        dispatcher.include_routers(*routers(settings))
        return cls(settings, database, storage, llm, build_bot(settings), dispatcher, ordering)

    async def run_polling(self, *, handle_signals: bool = True, polling_timeout: int = 10) -> None:
        """Long-poll until stopped (SIGTERM/SIGINT or `stop()`), then shut down cleanly."""
        try:
            await self.register_commands()
            await self.dispatcher.start_polling(
                self.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                polling_timeout=polling_timeout,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        finally:
            await self.shutdown()

    async def register_commands(self) -> None:
        """Show the command list in Telegram's menu; a failure here is not fatal."""
        try:
            await self.bot.set_my_commands(BOT_COMMANDS)
            # Admins see their commands in the menu too; nobody else does.
            for admin_id in self.settings.admin_user_ids:
                await self.bot.set_my_commands(
                    ADMIN_BOT_COMMANDS, scope=BotCommandScopeChat(chat_id=admin_id)
                )
        except TelegramAPIError as exc:
            log.warning("could not register the command list: %s", exc)

    async def stop(self) -> None:
        """Stop taking updates; `run_polling` then finishes in-flight turns and returns."""
        await self.dispatcher.stop_polling()

    async def shutdown(self) -> None:
        """Let in-flight turns finish (bounded), then close every connection."""
        grace = self.settings.shutdown_grace_seconds
        if self.ordering.in_flight and not await self.ordering.wait_idle(grace):
            log.warning("%d updates still running after %.0fs", self.ordering.in_flight, grace)
        await self.bot.session.close()
        await self.llm.close()
        await self.database.close()
        log.info("stopped")

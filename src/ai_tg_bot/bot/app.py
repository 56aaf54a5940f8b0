"""Wire Settings, Database, DialogueStore, LLM, Bot and Dispatcher into one running bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from ai_tg_bot.bot import (
    responses,  # noqa: F401 - pins aiogram's response models
)
from ai_tg_bot.bot.deps import Deps, build_deps
from ai_tg_bot.bot.handlers import routers
from ai_tg_bot.bot.handlers.albums import asker_for
from ai_tg_bot.bot.inline_filters import check_filters_inline
from ai_tg_bot.bot.middlewares.access import AccessMiddleware
from ai_tg_bot.bot.middlewares.ordering import UserOrderMiddleware
from ai_tg_bot.bot.middlewares.redeliver import RedeliverMiddleware
from ai_tg_bot.bot.middlewares.retry import RetryMiddleware
from ai_tg_bot.bot.middlewares.scope import ChatScopeMiddleware
from ai_tg_bot.bot.polling import ConflictWatch, PollingConflictError, claim_updates
from ai_tg_bot.bot.presenter import TelegramPresenter
from ai_tg_bot.bot.profile import register_profile
from ai_tg_bot.bot.webhook import build_web_app, start_site
from ai_tg_bot.config import Settings
from ai_tg_bot.db import STORAGE_ERRORS, Database
from ai_tg_bot.i18n import set_default_language
from ai_tg_bot.observability import PENDING, install_redaction, watch_pool
from ai_tg_bot.privacy import purge_periodically
from ai_tg_bot.storage import (
    PrivacyStore,
)

if TYPE_CHECKING:  # mcp (about 0.8 s to import) only with MCP_SERVERS
    pass

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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
    bot: Bot
    dispatcher: Dispatcher
    ordering: UserOrderMiddleware
    # Polling mode's own redelivery while the database is down (its patience).
    redeliver: RedeliverMiddleware
    deps: Deps
    # This process's index among WEBHOOK_WORKERS > 1 (process.workers); None: the one process.
    worker: int | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once updates are being taken (the first getUpdates, or the webhook registered).
    serving: asyncio.Event = field(default_factory=asyncio.Event)
    _purging: asyncio.Task[None] | None = None
    _recovering: asyncio.Task[None] | None = None
    # getUpdates' 409s at start: another instance polls (bot.polling).
    conflicts: ConflictWatch = field(default_factory=ConflictWatch)
    _stopper: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, settings: Settings, worker: int | None = None) -> Application:
        """Build every component from Settings (nothing connects yet)."""
        install_redaction(settings)  # also when embedded or tested: no secret in a log
        set_default_language(settings.default_language)  # for tasks no update started
        database = Database(
            settings.database_url,
            echo=settings.db_echo,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pgbouncer=settings.db_pgbouncer,
        )
        watch_pool(database.connections_in_use)
        bot = build_bot(settings)
        deps = build_deps(settings, database, bot)
        # No FSM: nothing here keeps conversation state in aiogram (the database does), and
        # its middleware resolved a context for every update (about 0.4 ms each).
        dispatcher = Dispatcher(deps=deps, disable_fsm=True)
        ordering = UserOrderMiddleware()
        dispatcher.update.outer_middleware(ordering)
        # Inside the ordering: a polled update is handled again while the database is
        # down (webhook updates are redelivered by Telegram instead).
        redeliver = RedeliverMiddleware(deps.turns.storage_patience_seconds)
        dispatcher.update.outer_middleware(redeliver)
        scope = ChatScopeMiddleware(group_chats=settings.group_chats)
        access = AccessMiddleware(settings, deps.accounts, deps.capabilities)
        for observer in (
            dispatcher.message,
            dispatcher.edited_message,
            dispatcher.callback_query,
            dispatcher.pre_checkout_query,
            dispatcher.inline_query,  # inline mode: refused users get one article
        ):
            observer.outer_middleware(scope)
            observer.outer_middleware(access)
        dispatcher.include_routers(*routers(settings))
        check_filters_inline(dispatcher)  # no thread hop per filter (bot.inline_filters)
        application = cls(settings, database, bot, dispatcher, ordering, redeliver, deps, worker)
        bot.session.middleware(application.conflicts)
        return application

    async def run(self, *, handle_signals: bool = True, polling_timeout: int = 10) -> None:
        """Serve until SIGTERM/SIGINT or `stop()`: webhook mode if WEBHOOK_URL is set."""
        if self.settings.webhook_endpoint:
            await self.run_webhook(handle_signals=handle_signals)
        else:
            await self.run_polling(handle_signals=handle_signals, polling_timeout=polling_timeout)

    async def run_polling(self, *, handle_signals: bool = True, polling_timeout: int = 10) -> None:
        """Long-poll until stopped, then shut down cleanly (health on HEALTH_PORT if set)."""
        health = None
        try:
            await claim_updates(self.bot, takeover=self.settings.polling_takeover)
            if self.settings.health_port:
                health = await start_site(
                    build_web_app(self, webhook=False),
                    self.settings.webhook_listen_host,
                    self.settings.health_port,
                )
            await self.register_commands()
            self.start_purging()
            self.start_recovering()
            self.conflicts.on_conflict = self._stop_soon
            self.conflicts.on_first_poll = self.serving.set
            await self.dispatcher.start_polling(
                self.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                polling_timeout=polling_timeout,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        finally:
            await self.shutdown(health)
        if self.conflicts.tripped:
            raise PollingConflictError

    async def run_webhook(self, *, handle_signals: bool = True) -> None:
        """Serve Telegram's webhook (and /healthz) until stopped, then shut down cleanly."""
        endpoint = self.settings.webhook_endpoint
        secret = self.settings.webhook_secret
        if endpoint is None or secret is None:
            raise ValueError("webhook mode needs WEBHOOK_URL and WEBHOOK_SECRET")
        site = None
        try:
            site = await start_site(
                build_web_app(self, webhook=True),
                self.settings.webhook_listen_host,
                self.settings.webhook_listen_port,
                reuse_port=self.worker is not None,  # the workers share the port
            )
            self.start_recovering()
            if self.worker in (None, 0):  # one worker registers and purges for them all
                await self.register_commands()
                self.start_purging()
                await self.bot.set_webhook(
                    endpoint,
                    secret_token=secret.get_secret_value(),
                    allowed_updates=self.dispatcher.resolve_used_update_types(),
                )
            log.info("serving the webhook on port %s", self.settings.webhook_listen_port)
            self.serving.set()
            if handle_signals:
                loop = asyncio.get_running_loop()
                # A worker leaves SIGINT (Ctrl+C) to its supervisor, which sends it SIGTERM.
                for sig in (signal.SIGTERM,) if self.worker is not None else STOP_SIGNALS:
                    loop.add_signal_handler(sig, self._stopping.set)
            await self._stopping.wait()
        finally:
            await self.shutdown(site)

    async def register_commands(self) -> None:
        """The command menus and the bot's descriptions (bot.profile)."""
        await register_profile(self.bot, self.settings)

    def _stop_soon(self) -> None:
        self._stopper = asyncio.get_running_loop().create_task(self.stop())

    def start_purging(self) -> None:
        """With RETENTION_DAYS set, purge old soft-deleted messages now and hourly."""
        days = self.settings.retention_days
        if days is not None and self._purging is None:
            store = PrivacyStore(self.database, self.settings)
            self._purging = asyncio.create_task(purge_periodically(store, days))

    def start_recovering(self) -> None:
        """Answer questions stranded by a crashed instance, and ask albums left stored:
        now, then every half lease."""
        if self.deps.toolbox is not None:  # (with the MCP servers, connected in the background)
            self.deps.toolbox.start()
        self.deps.turns.stops.start()  # stops asked through other instances
        self.deps.money.resume()  # payments an earlier run could not record
        if self._recovering is None:
            self._recovering = asyncio.create_task(self._recover_periodically())

    async def _recover_periodically(self) -> None:
        interval = self.settings.turn_lease_seconds / 2
        edit_interval = self.settings.stream_edit_interval_seconds

        def presenter_for(user_id: int) -> TelegramPresenter:
            # Each question is shown in the chat it came from (a private chat's id is
            # the user's id, the fallback for a question that has none).
            return TelegramPresenter(
                self.bot,
                user_id,
                edit_interval=edit_interval,
                capabilities=self.deps.capabilities,
                voice=self.deps.speaker,
                followups=self.settings.followups,
            )

        while True:
            try:
                PENDING.set(await self.deps.storage.pending_count())
                await self.deps.turns.recover_stranded(presenter_for)
                # Albums a stopped process left (at start-up: every one stored).
                await self.deps.albums.recover(self.bot, asker_for(self.bot, self.deps))
            except STORAGE_ERRORS as exc:
                log.warning("stranded-question sweep skipped (%s)", type(exc).__name__)
            except Exception:
                # The sweep must outlive any one failure: it is what answers after a crash.
                log.exception("stranded-question sweep failed")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        """Stop taking updates; `run` then finishes in-flight turns and returns."""
        self._stopping.set()
        with contextlib.suppress(RuntimeError):  # polling not started (webhook mode)
            await self.dispatcher.stop_polling()

    async def shutdown(self, server: web.AppRunner | None = None) -> None:
        """Stop serving, let in-flight turns finish (bounded), then close every connection."""
        if server is not None:
            # Stop listening first, so new updates go to another instance or are retried.
            for site in list(server.sites):
                await site.stop()
        grace = self.settings.shutdown_grace_seconds
        if self.ordering.in_flight and not await self.ordering.wait_idle(grace):
            log.warning("%d updates still running after %.0fs", self.ordering.in_flight, grace)
        if self._recovering is not None:
            self._recovering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovering
            self._recovering = None
        await self.deps.albums.close(grace)  # an incomplete album waits for the next start
        if not await self.deps.turns.wait_recovered(grace):
            log.warning("recovered answers still running after %.0fs", grace)
        await self.deps.turns.close()
        await self.deps.money.close()
        if self.deps.toolbox is not None:
            await self.deps.toolbox.close()
        if server is not None:
            await server.cleanup()
        if self._purging is not None:
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purging
            self._purging = None
        await self.bot.session.close()
        await self.deps.llm.close()
        await self.database.close()
        log.info("stopped")

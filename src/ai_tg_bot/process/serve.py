"""Serving one process: the settings loaded (redaction and logging first), the migrations
applied, Telegram's check, then the bot until a signal. The command line (`cli`) runs it
once; each webhook worker (`workers`) runs it in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from ai_tg_bot.errors import StartupError
from ai_tg_bot.process.quick import EXIT_UNEXPECTED, fail

if TYPE_CHECKING:
    from ai_tg_bot.config import Settings

log = logging.getLogger("ai_tg_bot")


def check_settings(settings: Settings) -> str | None:
    """What keeps the bot from starting, in one line, or None."""
    if settings.telegram_bot_token is None:
        return "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and put it in .env"
    if not settings.openai_api_key.get_secret_value() and not settings.openai_base_url:
        return "OPENAI_API_KEY is not set (or set OPENAI_BASE_URL for a local server like Ollama)"
    return None


def migrate(settings: Settings) -> None:
    """Apply pending migrations (safe with several instances: env.py takes a lock)."""
    from ai_tg_bot.process import schema

    if schema.at_head(settings.migration_url):
        log.debug("the database is at the newest revision: nothing to migrate")
        return
    schema.upgrade(settings.migration_url)


async def serve(settings: Settings, worker: int | None = None) -> None:
    """Check that Telegram takes the token, then run the bot until a signal stops it
    (`worker`: this process's index among WEBHOOK_WORKERS, process.workers)."""
    from ai_tg_bot.bot import Application, check_llm, check_telegram
    from ai_tg_bot.process.runtime import settle_heap

    application = Application.create(settings, worker)
    try:
        await check_telegram(application.bot, settings)
    except StartupError:
        await application.bot.session.close()
        await application.deps.llm.close()
        await application.database.close()
        raise
    probe: asyncio.Task[str | None] | None = None
    if worker in (None, 0):  # one warning, not one per worker
        # Once updates are being taken: the probe (and the openai import it needs) never
        # delays the start; it only warns.
        async def probe_when_serving() -> str | None:
            await application.serving.wait()
            return await check_llm(application.deps.llm, settings)

        probe = asyncio.create_task(probe_when_serving())
    settle_heap()
    try:
        await application.run()
    finally:
        if probe is not None and not probe.done():
            probe.cancel()


def load_configured() -> Settings:
    """The settings, with redaction installed before anything can log and logging
    configured (StartupError naming every invalid setting)."""
    from ai_tg_bot.config import load_settings
    from ai_tg_bot.observability import configure_logging, install_redaction

    install_redaction()  # before anything can log: the rules that need no settings
    settings = load_settings()  # SettingsError: a StartupError
    install_redaction(settings)  # now the configured secrets too
    configure_logging(settings)
    return settings


def serve_until_stopped(settings: Settings, worker: int | None = None) -> int:
    """Serve (migrations done) until a signal; the exit code."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, worker))
    except StartupError as exc:  # settings, Telegram, a webhook or another poller
        return fail(str(exc), exc.code)
    except Exception:
        # Through logging, so the redactor sees it (an uncaught traceback would not).
        log.exception("the bot stopped on an unexpected error")
        return EXIT_UNEXPECTED
    return 0

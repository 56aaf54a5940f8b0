"""`python -m ai_tg_bot`: settings, migrations, then long polling until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from ai_tg_bot.config import Settings, SettingsError, load_settings
from ai_tg_bot.redaction import install_redaction, redact

log = logging.getLogger("ai_tg_bot")
EXIT_CONFIG_ERROR = 2
EXIT_UNEXPECTED = 1
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def fail(message: str) -> int:
    """One clear line on stderr; the caller exits with it."""
    print(f"ai-tg-bot: {message}", file=sys.stderr)
    return EXIT_CONFIG_ERROR


def check_settings(settings: Settings) -> str | None:
    """What keeps the bot from starting, in one line, or None."""
    if settings.telegram_bot_token is None:
        return "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and put it in .env"
    if not settings.openai_api_key.get_secret_value() and not settings.openai_base_url:
        return "OPENAI_API_KEY is not set (or set OPENAI_BASE_URL for a local server like Ollama)"
    return None


def migrate(settings: Settings) -> None:
    """Apply pending migrations (safe with several instances: env.py takes a lock)."""
    from alembic.config import Config

    from alembic import command

    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = settings.database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


async def serve(settings: Settings) -> None:
    """Run the bot until a signal stops it."""
    from ai_tg_bot.bot.app import Application

    await Application.create(settings).run()


def main() -> int:
    """Start the bot; exit 2 on configuration errors (or a webhook in the way of polling)."""
    install_redaction()  # before anything can log: the rules that need no settings
    try:
        settings = load_settings()
    except SettingsError as exc:
        return fail(str(exc))
    install_redaction(settings)  # now the configured secrets too
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiogram logs every handled update at INFO; keep those at DEBUG-level noise.
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    problem = check_settings(settings)
    if problem:
        return fail(problem)
    if settings.auto_migrate:
        try:
            migrate(settings)
        except Exception as exc:  # the database is unreachable or the schema is broken
            return fail(redact(f"could not apply migrations to DATABASE_URL: {exc}"))
    log.info(
        "starting with %s, model %s", settings.database_url.split(":", 1)[0], settings.llm_model
    )
    from ai_tg_bot.bot.polling import WebhookRegisteredError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except WebhookRegisteredError as exc:
        return fail(str(exc))
    except Exception:
        # Through logging, so the redactor sees it (an uncaught traceback would not).
        log.exception("the bot stopped on an unexpected error")
        return EXIT_UNEXPECTED
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`ai-tg-bot` (and `python -m ai_tg_bot`): run the bot, or migrate, roll back, purge.

Exit codes: 0 done; 2 a configuration problem (a setting missing or wrong, a token
Telegram rejects, a database the URL cannot reach); 1 a runtime failure (Telegram
unreachable, an unexpected error). Every start-up failure is one line on stderr naming
the cause and what to do; a traceback only at DEBUG.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

# Nothing heavy at import: `--help`, `--version` and `health` (Docker's healthcheck,
# every 30 s) must answer in a fraction of a second. Settings (pydantic), the bot
# (aiogram), the LLM client and the rest are imported by the commands that use them.
from ai_tg_bot.quick_commands import EXIT_CONFIG_ERROR as EXIT_CONFIG_ERROR
from ai_tg_bot.quick_commands import fail, health, print_settings

if TYPE_CHECKING:
    from ai_tg_bot.config import Settings

log = logging.getLogger("ai_tg_bot")
EXIT_UNEXPECTED = 1


class StartupError(Exception):
    """The bot cannot start: one line for the user, and the exit code."""

    def __init__(self, message: str, code: int = EXIT_CONFIG_ERROR) -> None:
        super().__init__(message)
        self.code = code


def package_version() -> str:
    """The installed version (the source tree's when run from it uninstalled)."""
    try:
        return version("ai-tg-bot")
    except PackageNotFoundError:
        return "0+unknown"


def check_settings(settings: Settings) -> str | None:
    """What keeps the bot from starting, in one line, or None."""
    if settings.telegram_bot_token is None:
        return "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and put it in .env"
    if not settings.openai_api_key.get_secret_value() and not settings.openai_base_url:
        return "OPENAI_API_KEY is not set (or set OPENAI_BASE_URL for a local server like Ollama)"
    return None


def migrate(settings: Settings) -> None:
    """Apply pending migrations (safe with several instances: env.py takes a lock)."""
    from ai_tg_bot import schema

    if schema.at_head(settings.migration_url):
        log.debug("the database is at the newest revision: nothing to migrate")
        return
    schema.upgrade(settings.migration_url)


async def serve(settings: Settings, worker: int | None = None) -> None:
    """Check that Telegram takes the token, then run the bot until a signal stops it
    (`worker`: this process's index among WEBHOOK_WORKERS, workers.py)."""
    from ai_tg_bot.bot.app import Application
    from ai_tg_bot.bot.startup import TelegramStartupError, check_llm, check_telegram
    from ai_tg_bot.runtime import settle_heap

    application = Application.create(settings, worker)
    try:
        await check_telegram(application.bot, settings)
    except TelegramStartupError as exc:
        await application.bot.session.close()
        await application.llm.close()
        await application.database.close()
        raise StartupError(str(exc), exc.code) from None
    probe: asyncio.Task[str | None] | None = None
    if worker in (None, 0):  # one warning, not one per worker
        # Once updates are being taken: the probe (and the openai import it needs) never
        # delays the start; it only warns.
        async def probe_when_serving() -> str | None:
            await application.serving.wait()
            return await check_llm(application.llm, settings)

        probe = asyncio.create_task(probe_when_serving())
    settle_heap()
    try:
        await application.run()
    finally:
        if probe is not None and not probe.done():
            probe.cancel()


def _load() -> Settings:
    from ai_tg_bot.config import SettingsError, load_settings
    from ai_tg_bot.logs import configure_logging
    from ai_tg_bot.redaction import install_redaction

    install_redaction()  # before anything can log: the rules that need no settings
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    install_redaction(settings)  # now the configured secrets too
    configure_logging(settings)
    return settings


def run(settings: Settings) -> int:
    """Start the bot: checks, migrations, then polling or the webhook until a signal
    (WEBHOOK_WORKERS > 1: that many webhook processes, supervised: workers.py)."""
    problem = check_settings(settings)
    if problem:
        return fail(problem)
    if settings.auto_migrate:
        try:
            migrate(settings)
        except Exception as exc:  # the database is unreachable or the schema is broken
            from ai_tg_bot.redaction import redact

            log.debug("migration failed", exc_info=True)
            where = _migration_setting(settings)
            fix = unreachable_fix(settings.migration_url, exc)
            return fail(redact(f"could not apply migrations to {where}: {exc}{fix}"))
    log.info(
        "starting with %s, model %s", settings.database_url.split(":", 1)[0], settings.llm_model
    )
    if settings.webhook_workers > 1:
        from ai_tg_bot.workers import supervise

        return supervise(settings)
    return serve_until_stopped(settings)


def serve_until_stopped(settings: Settings, worker: int | None = None) -> int:
    """Serve (migrations done) until a signal; the exit code."""
    from ai_tg_bot.bot.polling import PollingConflictError, WebhookRegisteredError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, worker))
    except StartupError as exc:
        return fail(str(exc), exc.code)
    except WebhookRegisteredError as exc:
        return fail(str(exc))
    except PollingConflictError as exc:
        return fail(str(exc), EXIT_UNEXPECTED)
    except Exception:
        # Through logging, so the redactor sees it (an uncaught traceback would not).
        log.exception("the bot stopped on an unexpected error")
        return EXIT_UNEXPECTED
    return 0


def schema_command(settings: Settings, action: str, revision: str | None) -> int:
    """`migrate` (to head, or a revision) and `rollback` (one step, or to a revision)."""
    from ai_tg_bot import schema

    try:
        if action == "migrate":
            schema.upgrade(settings.migration_url, revision or "head")
        else:
            schema.downgrade(settings.migration_url, revision or "-1")
    except Exception as exc:
        from ai_tg_bot.redaction import redact

        log.debug("%s failed", action, exc_info=True)
        return fail(redact(f"could not {action} {_migration_setting(settings)}: {exc}"))
    print(f"ai-tg-bot: {action} done")
    return 0


def unreachable_fix(url: str, exc: BaseException) -> str:
    """What to do when the database cannot be reached: the host and port tried, that the
    server must run there, or that leaving DATABASE_URL unset uses SQLite ("" when the
    failure is something else)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    refused = any(
        isinstance(e, ConnectionRefusedError | TimeoutError)
        or "connect call failed" in str(e).lower()
        or "could not translate host name" in str(e).lower()
        or "name or service not known" in str(e).lower()
        for e in chain
    )
    if not refused or url.startswith("sqlite"):
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("+asyncpg", ""))
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    return (
        f" (no PostgreSQL answers at {where}: start it there or fix the host and port, or "
        "leave DATABASE_URL unset to use the built-in SQLite)"
    )


def _migration_setting(settings: Settings) -> str:
    """The setting naming the database migrations run on."""
    return "MIGRATION_DATABASE_URL" if settings.migration_database_url else "DATABASE_URL"


def parser() -> argparse.ArgumentParser:
    """The command line: `ai-tg-bot [run|migrate|rollback|purge]`."""
    top = argparse.ArgumentParser(
        prog="ai-tg-bot",
        description="A Telegram bot for any OpenAI-compatible LLM that never forgets. "
        "Settings come from .env and the environment: `ai-tg-bot settings` lists them all.",
        epilog="Exit codes: 0 done, 1 runtime failure, 2 configuration problem.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = top.add_subparsers(dest="command", metavar="command")
    commands.add_parser("run", help="run the bot (the default): migrate, then serve")
    up = commands.add_parser("migrate", help="apply the database migrations (to head)")
    up.add_argument("revision", nargs="?", help="a revision to migrate to (default: head)")
    down = commands.add_parser("rollback", help="undo the latest migration")
    down.add_argument("revision", nargs="?", help="a revision to go back to (default: -1)")
    commands.add_parser(
        "health", help="exit 0 if the running bot's /healthz answers (Docker's HEALTHCHECK)"
    )
    commands.add_parser(
        "settings", help="print every setting with its default and what it does (.env.example)"
    )
    purge = commands.add_parser("purge", help="delete soft-deleted messages (RETENTION_DAYS)")
    purge.add_argument("--days", type=int, help="override RETENTION_DAYS (at least 1)")
    return top


def main(argv: list[str] | None = None) -> int:
    """The `ai-tg-bot` console script."""
    args = parser().parse_args(argv)
    if args.command == "health":
        return health()
    if args.command == "settings":
        return print_settings()
    if args.command == "purge":
        from ai_tg_bot import purge

        return purge.main([] if args.days is None else ["--days", str(args.days)])
    try:
        settings = _load()
    except StartupError as exc:
        return fail(str(exc), exc.code)
    if args.command in ("migrate", "rollback"):
        return schema_command(settings, args.command, args.revision)
    return run(settings)

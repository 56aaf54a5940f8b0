"""`ai-tg-bot` (and `python -m ai_tg_bot`): run the bot, or migrate, roll back, purge.

Exit codes: 0 done; 2 a configuration problem (a setting missing or wrong, a token
Telegram rejects, a database the URL cannot reach); 1 a runtime failure (Telegram
unreachable, an unexpected error). Every start-up failure is one line on stderr naming
the cause and what to do; a traceback only at DEBUG.
"""

from __future__ import annotations

import argparse
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from ai_tg_bot.errors import StartupError

# Nothing heavy at import: `--help`, `--version` and `health` (Docker's healthcheck,
# every 30 s) must answer in a fraction of a second. Settings (pydantic), the bot
# (aiogram), the LLM client and the rest are imported by the commands that use them.
from ai_tg_bot.process.quick import EXIT_CONFIG_ERROR as EXIT_CONFIG_ERROR
from ai_tg_bot.process.quick import EXIT_UNEXPECTED as EXIT_UNEXPECTED
from ai_tg_bot.process.quick import fail, health, print_settings
from ai_tg_bot.process.serve import (
    check_settings,
    load_configured,
    migrate,
    serve_until_stopped,
)

if TYPE_CHECKING:
    from ai_tg_bot.config import Settings

log = logging.getLogger("ai_tg_bot")


def package_version() -> str:
    """The installed version (the source tree's when run from it uninstalled)."""
    try:
        return version("ai-tg-bot")
    except PackageNotFoundError:
        return "0+unknown"


def run(settings: Settings) -> int:
    """Start the bot: checks, migrations, then polling or the webhook until a signal
    (WEBHOOK_WORKERS > 1: that many webhook processes, supervised: process.workers)."""
    problem = check_settings(settings)
    if problem:
        return fail(problem)
    if settings.auto_migrate:
        try:
            migrate(settings)
        except Exception as exc:  # the database is unreachable or the schema is broken
            from ai_tg_bot.observability import redact

            log.debug("migration failed", exc_info=True)
            where = _migration_setting(settings)
            fix = unreachable_fix(settings.migration_url, exc)
            return fail(redact(f"could not apply migrations to {where}: {exc}{fix}"))
    log.info(
        "starting with %s, model %s", settings.database_url.split(":", 1)[0], settings.llm_model
    )
    if settings.webhook_workers > 1:
        from ai_tg_bot.process.workers import supervise

        return supervise(settings)
    return serve_until_stopped(settings)


def schema_command(settings: Settings, action: str, revision: str | None) -> int:
    """`migrate` (to head, or a revision) and `rollback` (one step, or to a revision)."""
    from ai_tg_bot.process import schema

    try:
        if action == "migrate":
            schema.upgrade(settings.migration_url, revision or "head")
        else:
            schema.downgrade(settings.migration_url, revision or "-1")
    except Exception as exc:
        from ai_tg_bot.observability import redact

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
        from ai_tg_bot.privacy import purge_command

        return purge_command([] if args.days is None else ["--days", str(args.days)])
    try:
        settings = load_configured()
    except StartupError as exc:
        return fail(str(exc), exc.code)
    if args.command in ("migrate", "rollback"):
        return schema_command(settings, args.command, args.revision)
    return run(settings)

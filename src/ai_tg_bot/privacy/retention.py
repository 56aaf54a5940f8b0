"""RETENTION_DAYS: hard-delete soft-deleted messages once they are that many days old.

The bot purges hourly while it runs; `ai-tg-bot purge` (`make db-purge`, or `python -m
ai_tg_bot.privacy.retention`) purges once, e.g. from cron, and accepts `--days N` to override
the setting.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import timedelta

from ai_tg_bot.config import Settings, SettingsError, load_settings
from ai_tg_bot.db import Database
from ai_tg_bot.observability import configure_logging, install_redaction, redact
from ai_tg_bot.storage import PrivacyStore

log = logging.getLogger("ai_tg_bot.privacy.retention")  # also when run as __main__
PURGE_INTERVAL_SECONDS = 3600.0


async def purge_once(store: PrivacyStore, days: int) -> int:
    """One purge; logs and returns how many messages went."""
    purged = await store.purge_deleted(timedelta(days=days))
    log.info("purged %d soft-deleted messages deleted more than %d days ago", purged, days)
    return purged


async def purge_periodically(
    store: PrivacyStore, days: int, interval_seconds: float = PURGE_INTERVAL_SECONDS
) -> None:
    """Purge now and then every `interval_seconds` until cancelled; failures wait a round.

    Every instance of a multi-instance deployment runs this; concurrent purges are
    harmless (a row deleted by one is not found by the others).
    """
    while True:
        try:
            await purge_once(store, days)
        except Exception:  # a database outage must not end the loop, nor the bot
            log.exception("purge failed; trying again in %.0fs", interval_seconds)
        await asyncio.sleep(interval_seconds)


async def run(settings: Settings, days: int) -> int:
    """Purge once on DATABASE_URL."""
    database = Database(settings.database_url, pgbouncer=settings.db_pgbouncer)
    try:
        return await purge_once(PrivacyStore(database, settings), days)
    finally:
        await database.close()


def purge_command(argv: list[str] | None = None) -> int:
    """`ai-tg-bot purge [--days N]`: 0 when done (or nothing to do), 1 when the purge
    failed, 2 on bad settings or arguments."""
    parser = argparse.ArgumentParser(prog="ai-tg-bot purge", description=__doc__)
    parser.add_argument("--days", type=int, help="override RETENTION_DAYS (at least 1)")
    args = parser.parse_args(argv)
    install_redaction()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"ai-tg-bot: {exc}", file=sys.stderr)
        return 2
    install_redaction(settings)
    configure_logging(settings)
    days = args.days if args.days is not None else settings.retention_days
    if days is None:
        log.info("RETENTION_DAYS is not set: soft-deleted messages are kept; nothing purged")
        return 0
    if days < 1:
        print("ai-tg-bot: --days must be at least 1", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(settings, days))
    except Exception as exc:  # unreachable database, schema not migrated, ...
        reason = redact(str(exc).splitlines()[0]) if str(exc) else ""
        print(f"ai-tg-bot: purge failed: {type(exc).__name__}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(purge_command())

"""Exports: one at a time per user (across instances), and counted by the per-minute guard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.storage.privacy import EXPORT_STALE_AFTER, ExportBusyError, PrivacyStore
from tests.seeding import SeedingStorage

USER = 6161


async def test_one_export_at_a_time_per_user(database: Database, settings: Settings) -> None:
    # Two stores over one database: two instances of the bot.
    first, second = PrivacyStore(database, settings), PrivacyStore(database, settings)
    async with first.export_slot(USER):
        with pytest.raises(ExportBusyError):
            async with second.export_slot(USER):
                pytest.fail("a second export ran beside the first")
        async with second.export_slot(USER + 1):  # another user is not held up
            pass
    async with second.export_slot(USER):  # finished: the next one may run
        pass


async def test_a_crashed_export_frees_the_slot_after_a_while(
    database: Database, settings: Settings
) -> None:
    store = PrivacyStore(database, settings)
    async with store.export_slot(USER):
        pass
    async with database.session() as session:  # as a crash mid-export would leave it
        await session.execute(
            text("UPDATE usage_events SET finished_at = NULL, created_at = :t"),
            {"t": utc_now() - EXPORT_STALE_AFTER - timedelta(seconds=1)},
        )
    async with store.export_slot(USER):
        pass


async def test_exports_count_toward_the_per_minute_guard(
    database: Database, settings: Settings
) -> None:
    config = settings.model_copy(update={"rate_limit_per_minute": 3})
    store, storage = PrivacyStore(database, config), SeedingStorage(database, config)
    await storage.add_message(USER, "user", "one", enforce_quotas=True)
    async with store.export_slot(USER):
        pass
    async with store.export_slot(USER):
        pass
    with pytest.raises(QuotaExceededError) as refused:
        async with store.export_slot(USER):
            pytest.fail("a fourth action within a minute")
    assert refused.value.kind == "rate"
    assert refused.value.limit == 3
    async with database.session(read_only=True) as session:
        count = await session.execute(text("SELECT count(*) FROM usage_events"))
        assert count.scalar_one() == 2, "a refused export is not recorded"


async def test_exports_count_against_messages_per_minute_but_not_per_day(
    database: Database, settings: Settings
) -> None:
    config = settings.model_copy(update={"rate_limit_per_minute": 2, "daily_message_limit": 1})
    store, storage = PrivacyStore(database, config), SeedingStorage(database, config)
    async with store.export_slot(USER):
        pass
    await storage.add_message(USER, "user", "one", enforce_quotas=True)  # the export left it
    with pytest.raises(QuotaExceededError) as rate:
        await storage.add_message(USER, "user", "two", enforce_quotas=True)
    # Both limits are reached now; the day counts one message, the minute counts two.
    assert rate.value.kind == "daily"
    roomy = config.model_copy(update={"daily_message_limit": 0})
    with pytest.raises(QuotaExceededError) as minute:
        await SeedingStorage(database, roomy).add_message(USER, "user", "two", enforce_quotas=True)
    assert minute.value.kind == "rate", "one export and one message fill a minute of 2"

"""Token budgets and Stars credit in storage, on both backends (ADR 0015)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm.client import LLMClient
from ai_tg_bot.storage import NewQuestion, TokenUsage, utc_now
from ai_tg_bot.storage.accounts import AccountsStore
from ai_tg_bot.storage.budgets import record_usage
from ai_tg_bot.storage.payments import PaymentsStore
from ai_tg_bot.storage.privacy import PrivacyStore
from ai_tg_bot.turns.service import TurnService
from tests.fakes.llm import FakeLLM
from tests.integration.test_quotas import RecordingPresenter
from tests.seeding import SeedingStorage

USER = 5151


def configured(settings: Settings, **overrides: object) -> Settings:
    return settings.model_copy(update={"rate_limit_per_minute": 0, **overrides})


async def spend(database: Database, settings: Settings, tokens: int, model: str = "m") -> None:
    """What storing an answer that cost `tokens` records (as `complete()` does)."""
    accounts = AccountsStore(database, settings)
    limits = await accounts.limits(USER)
    async with database.connection() as session:
        await session.execute(text("SELECT 1"))
        await record_usage(
            session,
            USER,
            TokenUsage(model, tokens // 2, tokens - tokens // 2),
            limits,
            utc_now(),
            dialect="sqlite" if database.is_sqlite else "postgresql",
        )


async def test_a_payment_is_credited_once_under_concurrent_duplicates(
    database: Database, settings: Settings
) -> None:
    payments = PaymentsStore(database, settings)
    results = await asyncio.gather(
        *(payments.credit(USER, "charge-1", 50, 100_000) for _ in range(10))
    )
    assert results.count(True) == 1
    assert await payments.credit(USER, "charge-1", 50, 100_000) is False, "a redelivery"
    _limits, spent = await AccountsStore(database, settings).budget(USER)
    assert spent.credit == 100_000
    assert [p.charge_id for p in await payments.payments_of(USER)] == ["charge-1"]


async def test_credit_is_spent_only_past_the_allowance(
    database: Database, settings: Settings
) -> None:
    config = configured(settings, daily_token_limit=100)
    await PaymentsStore(database, config).credit(USER, "c", 10, 50)
    await spend(database, config, 80)  # within the day's 100
    accounts = AccountsStore(database, config)
    assert (await accounts.budget(USER))[1].credit == 50
    await spend(database, config, 40)  # 20 left in the allowance, 20 from the credit
    _limits, spent = await accounts.budget(USER)
    assert (spent.today, spent.month, spent.credit) == (120, 120, 30)
    await spend(database, config, 1000)  # more than the credit: it ends at zero
    assert (await accounts.budget(USER))[1].credit == 0


async def test_a_question_past_the_budget_is_refused_unless_credit_is_left(
    database: Database, settings: Settings
) -> None:
    config = configured(settings, monthly_token_limit=100, stars_packs=[(50, 1000)])
    storage = SeedingStorage(database, config)
    await storage.add_message(USER, "user", "first", enforce_quotas=True)
    await spend(database, config, 100)
    with pytest.raises(QuotaExceededError) as refused:
        await storage.add_message(USER, "user", "second", enforce_quotas=True)
    assert refused.value.kind == "monthly_tokens"
    assert refused.value.limit == 100
    assert refused.value.resets_at.day == 1
    assert "/buy" in refused.value.user_message(utc_now())
    await PaymentsStore(database, config).credit(USER, "c", 50, 1000)
    await storage.add_message(USER, "user", "second", enforce_quotas=True)


async def test_refund_takes_back_the_unspent_tokens_once(
    database: Database, settings: Settings
) -> None:
    config = configured(settings, daily_token_limit=10)
    payments = PaymentsStore(database, config)
    await payments.credit(USER, "c-1", 50, 100)
    await spend(database, config, 80)  # 10 from the allowance, 70 from the credit
    refund = await payments.refund("c-1")
    assert refund is not None
    assert (refund.taken_back, refund.balance, refund.already) == (30, 0, False)
    again = await payments.refund("c-1")
    assert again is not None
    assert (again.taken_back, again.balance, again.already) == (30, 0, True)
    assert await payments.refund("no-such-charge") is None
    (stored,) = await payments.payments_of(USER)
    assert stored.refunded_at is not None
    assert stored.refunded_tokens == 30


async def test_forgetting_refunds_no_budget(database: Database, settings: Settings) -> None:
    config = configured(settings, daily_token_limit=1000)
    storage = SeedingStorage(database, config)
    await storage.add_message(USER, "user", "hello")
    await spend(database, config, 700)
    await PrivacyStore(database, config).forget_user(USER)
    _limits, spent = await AccountsStore(database, config).budget(USER)
    assert spent.today == 700


@pytest.fixture
async def counting_llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as llm:
        yield llm


async def test_the_budget_is_exact_under_concurrent_questions(
    database: Database, settings: Settings, counting_llm: FakeLLM
) -> None:
    """Questions sent at once: each paid call is checked against what the answers before
    it used, so the LLM is called until the budget is crossed, once, and never after."""
    limit = 60
    config = configured(
        settings,
        daily_token_limit=limit,
        openai_base_url=counting_llm.base_url,
        llm_model="fake-model",
    )
    storage = SeedingStorage(database, config)
    chat = TurnService(storage, LLMClient(config.model_copy(update={"llm_max_retries": 0})))
    shown = RecordingPresenter()
    before = len(counting_llm.requests)
    results = await asyncio.gather(
        *(chat.turn(USER, f"question number {n}", shown) for n in range(12)),
        return_exceptions=True,
    )
    await chat.llm.close()
    calls = len(counting_llm.requests) - before
    refused_at_once = sum(isinstance(r, QuotaExceededError) for r in results)
    assert all(r is None or isinstance(r, QuotaExceededError) for r in results), results
    async with database.connection(read_only=True) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT prompt_tokens + completion_tokens FROM messages "
                    "WHERE user_id = :u AND role = 'assistant' ORDER BY seq"
                ),
                {"u": USER},
            )
        ).scalars()
        costs = [int(cost) for cost in rows]
    assert calls == len(costs) >= 1, "one LLM call per stored answer"
    assert sum(costs[:-1]) < limit <= sum(costs), costs
    _limits, spent = await AccountsStore(database, config).budget(USER)
    assert spent.today == sum(costs)
    refused_in_queue = [t for t in shown.texts if "daily budget" in t]
    assert refused_at_once + len(refused_in_queue) + calls == 12
    # And the next question is refused before anything is stored.
    with pytest.raises(QuotaExceededError):
        await storage.ask(NewQuestion(USER, "one more"), owner="o", lease_seconds=5)


async def test_a_user_out_of_tokens_may_still_export(
    database: Database, settings: Settings
) -> None:
    """An export calls no LLM: the token budget does not hold back the user's own data."""
    config = configured(settings, daily_token_limit=10)
    await SeedingStorage(database, config).ensure_user(USER)
    await spend(database, config, 50)
    async with PrivacyStore(database, config).export_slot(USER):
        pass


async def test_todays_count_after_forget_still_holds_the_forgotten_questions(
    database: Database, settings: Settings
) -> None:
    config = configured(settings)
    storage = SeedingStorage(database, config)
    for question in ("one", "two"):
        await storage.add_message(USER, "user", question)
    await PrivacyStore(database, config).forget_user(USER)
    usage = await AccountsStore(database, config).usage(USER)
    assert usage.messages_today == 2, "what the daily quota counts, /limits shows"
    info = await storage.get_dialog_info(USER)
    assert info.messages_today == 2

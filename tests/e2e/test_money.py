"""Issue 34 end to end: every request metered whatever its ending, every payment kept.

The real bot against the Telegram and LLM stand-ins, on both backends; a PostgreSQL
outage is made with a proxy in front of the real server (connections refused, then
allowed again), with no restart of the bot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ai_tg_bot.bot.handlers.payments import payload_of
from ai_tg_bot.bot.money import MoneyUpdate
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory, harness_settings
from tests.e2e.test_payments import (
    BUDGET,
    PACKS,
    credit_of,
    invoice_of_pack,
    payments_of,
    pending_questions,
    refused_checkout,
    scalar,
    tokens_used,
)
from tests.fakes.llm import FakeLLM
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram import FakeTelegram
from tests.fakes.waiting import poll_until, poll_until_async
from tests.seeding import SeedingStorage

ALICE = 34_001
BOB = 34_002
# The outage tests share the session's PostgreSQL database, which only the `database`
# fixture cleans: each has a user of its own.
CAROL = 34_003
DAVE = 34_004
ERIN = 34_005
SELLING: dict[str, Any] = {"stars_packs": PACKS, "monthly_token_limit": BUDGET}


# ---- a bot whose PostgreSQL can be cut -------------------------------------------------
@asynccontextmanager
async def bot_behind_a_proxy(
    pg_url: str, spool: Path, **overrides: Any
) -> AsyncIterator[tuple[BotHarness, TcpProxy]]:
    """The real bot whose PostgreSQL connections all pass through a proxy we can cut."""
    target = make_url(pg_url)
    async with (
        TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy,
        FakeTelegram() as tg,
        FakeLLM() as llm,
    ):
        proxied = target.set(host="127.0.0.1", port=proxy.port)
        settings = harness_settings(
            tg, llm, proxied.render_as_string(hide_password=False),
            payments_spool_dir=str(spool), **(SELLING | overrides),
        )  # fmt: skip
        harness = BotHarness(tg, llm, settings)
        await harness.start()
        try:
            yield harness, proxy
        finally:
            proxy.restore()
            await harness.stop()


async def cleaned(pg: Database) -> None:
    """Delete what an outage test stored (the `database` fixture is not in play), close."""
    async with pg.session() as session:
        await session.execute(text("DELETE FROM users"))
    await pg.close()


def logged(caplog: pytest.LogCaptureFixture, level: int, *words: str) -> Callable[[], bool]:
    """Whether a record at `level` holding every one of `words` was logged."""

    def found() -> bool:
        return any(
            r.levelno == level and all(w in r.getMessage() for w in words) for r in caplog.records
        )

    return found


async def paid_while_down(bot: BotHarness, proxy: TcpProxy, user_id: int) -> str:
    """The user pays; Telegram's successful_payment arrives while the database is cut.
    Returns the charge id."""
    invoice = await invoice_of_pack(bot, user_id)
    query_id = bot.tg.pay(invoice)
    await bot.tg.wait_pre_checkout_answer(query_id)  # approved while the database is up
    proxy.cut()
    charge = await bot.tg.complete_payment(query_id)
    assert charge is not None
    await bot.settle()  # taken at once: other users are not held up
    return charge


def thanks(bot: BotHarness, user_id: int) -> list[str]:
    return [t for t in bot.tg.texts(user_id) if t.startswith("✅ Thank you!")]


# ---- payments are never lost ------------------------------------------------------------
async def test_a_payment_during_a_postgresql_outage_is_credited_once_when_it_is_back(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pg = Database(pg_url)
    try:
        async with bot_behind_a_proxy(pg_url, tmp_path / "spool") as (bot, proxy):
            charge = await paid_while_down(bot, proxy, ERIN)
            await poll_until(
                logged(caplog, logging.ERROR, charge, str(ERIN), "tokens:"),
                15,
                lambda: "no ERROR line naming the charge, the user and the payload",
            )
            assert await credit_of(pg, ERIN) == 0, "not recorded while the database is down"
            assert list((tmp_path / "spool").glob("payment-*.json")), "kept on disk meanwhile"
            # Another user is served meanwhile (the payment holds no one up), once it is back.
            proxy.restore()

            async def credited() -> bool:
                return await credit_of(pg, ERIN) == 1000

            await poll_until_async(credited, 60, lambda: "the payment was never credited")
            await poll_until(lambda: bool(thanks(bot, ERIN)), 15, lambda: bot.tg.dump())
            assert await bot.say(BOB, "hello") == ["Echo: hello"]
            bot.tg.push_payment_again(charge)  # Telegram delivers it again
            await bot.settle()
            assert await credit_of(pg, ERIN) == 1000, "credited exactly once"
            assert len(thanks(bot, ERIN)) == 1
            assert [p[0] for p in await payments_of(pg, ERIN)] == [charge]
            assert not list((tmp_path / "spool").glob("*.json")), "the spool is emptied"
    finally:
        await cleaned(pg)


async def test_a_payment_pending_when_the_bot_stops_is_credited_after_a_restart(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pg = Database(pg_url)
    try:
        async with bot_behind_a_proxy(pg_url, tmp_path / "spool") as (bot, proxy):
            charge = await paid_while_down(bot, proxy, CAROL)
            await poll_until(logged(caplog, logging.ERROR, charge), 15, lambda: "no ERROR line")
            await bot.stop()  # the process stops before the database is back
            assert await credit_of(pg, CAROL) == 0
            proxy.restore()
            await bot.start()  # the next start records what the spool holds

            async def credited() -> bool:
                return await credit_of(pg, CAROL) == 1000

            await poll_until_async(credited, 60, lambda: "not credited after the restart")
            await poll_until(lambda: bool(thanks(bot, CAROL)), 15, lambda: bot.tg.dump())
            assert [p[0] for p in await payments_of(pg, CAROL)] == [charge]
    finally:
        await cleaned(pg)


async def test_a_refund_during_a_postgresql_outage_takes_the_tokens_back_once(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pg = Database(pg_url)
    try:
        async with bot_behind_a_proxy(pg_url, tmp_path / "spool") as (bot, proxy):
            invoice = await invoice_of_pack(bot, DAVE)
            charge = await bot.tg.checkout(invoice)
            assert charge is not None
            await bot.settle()
            assert await credit_of(pg, DAVE) == 1000
            proxy.cut()
            bot.tg.push_refund(charge)  # refunded through Telegram's support, not the bot
            await bot.settle()
            await poll_until(logged(caplog, logging.ERROR, charge), 15, lambda: "no ERROR line")
            proxy.restore()

            async def taken_back() -> bool:
                return await credit_of(pg, DAVE) == 0

            await poll_until_async(taken_back, 60, lambda: "the refund was never recorded")

            def told() -> list[str]:
                return [t for t in bot.tg.texts(DAVE) if t.startswith("↩️")]

            await poll_until(lambda: bool(told()), 15, lambda: bot.tg.dump())
            assert told() == [
                "↩️ Your payment of 50 ⭐ was refunded. 1,000 tokens were taken back; "
                "you have 0 bought tokens left."
            ]
            assert (await payments_of(pg, DAVE))[0][3] is True
    finally:
        await cleaned(pg)


async def test_a_money_update_left_on_disk_is_recorded_at_the_next_start(
    make_bot: HarnessFactory, database: Database, tmp_path: Path
) -> None:
    """What a killed process leaves behind: the spooled payment, recorded once at start."""
    spool = tmp_path / "left-spool"
    spool.mkdir()
    charge = "left-behind-charge-1"
    left = MoneyUpdate(
        "payment", ALICE, charge, 50, payload=payload_of(ALICE, 50, 1000), chat_id=ALICE
    )
    (spool / left.file_name).write_text(json.dumps(asdict(left)))
    bot = await make_bot(payments_spool_dir=str(spool), **SELLING)

    async def credited() -> bool:
        return await credit_of(database, ALICE) == 1000

    def thanked() -> int:  # (asked of Telegram: this user never wrote to the stand-in)
        calls = bot.tg.method_calls("sendMessage")
        return sum(str(c.params.get("text", "")).startswith("✅ Thank you!") for c in calls)

    await poll_until_async(credited, 30, lambda: "the spooled payment was never recorded")
    await poll_until(lambda: thanked() == 1, 15, lambda: bot.tg.dump())
    await poll_until(lambda: not list(spool.glob("*.json")), 15, lambda: "spool not emptied")
    await bot.restart()  # nothing left to replay: credited once
    await bot.settle()
    assert await credit_of(database, ALICE) == 1000
    assert thanked() == 1


async def test_a_refunded_user_is_told_what_was_taken_back(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**SELLING)
    invoice = await invoice_of_pack(bot, ALICE)
    charge = await bot.tg.checkout(invoice)
    assert charge is not None
    await bot.settle()
    bot.tg.push_refund(charge)
    await bot.settle()
    told = [t for t in bot.tg.texts(ALICE) if t.startswith("↩️")]
    assert told == [
        "↩️ Your payment of 50 ⭐ was refunded. 1,000 tokens were taken back; "
        "you have 0 bought tokens left."
    ], told
    assert await credit_of(database, ALICE) == 0


# ---- no sale without a budget -----------------------------------------------------------
async def test_without_a_token_budget_no_pack_is_sold(make_bot: HarnessFactory) -> None:
    bot = await make_bot(stars_packs=PACKS)  # no daily or monthly token limit
    (reply,) = await bot.say(ALICE, "/buy")
    assert reply.startswith("Your tokens are not limited"), reply
    assert not bot.tg.invoices, "no invoice"
    query_id = bot.tg.push_pre_checkout(ALICE, payload_of(ALICE, 50, 1000), 50)
    assert "not limited" in await refused_checkout(bot, query_id)
    (limits,) = await bot.say(ALICE, "/limits")
    assert "Bought tokens" not in limits, "no credit shown that could never be spent"


# ---- every request metered --------------------------------------------------------------
async def test_a_stop_before_any_text_still_counts_the_prompt(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    question = "word " * 800  # 4,000 characters: about 1,000 tokens
    bot.llm.hold()
    bot.tg.push_text(ALICE, question)
    await bot.llm.wait_for(lambda: bot.llm.calls == 1, 15, "the request")
    bot.tg.push_text(ALICE, "/stop")
    await bot.tg.wait_for(
        lambda: any("stopped" in t.lower() for t in bot.tg.texts(ALICE)), 15, "the stop notice"
    )
    bot.llm.release()
    await bot.settle()
    assert await tokens_used(database, ALICE) >= 1000, "the prompt was sent: it is paid for"
    assert await pending_questions(database, ALICE) == 0


async def test_an_answer_cut_by_a_gateway_error_is_kept_counted_and_retried(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    question = "tell me a long story about the sea"
    bot.llm.break_next(after_chunks=1)  # "Echo: tell me a long" then the SSE error event
    replies = await bot.say(ALICE, question)
    assert replies[0] == "Echo: tell me a long", replies
    assert "cut off" in replies[-1], replies
    assert "server error" in replies[-1], replies
    assert "refused" not in replies[-1], "a gateway's mid-stream failure is not a refusal"
    kept = await scalar(
        database,
        "SELECT content FROM messages WHERE user_id = :u AND role = 'assistant' AND kind = 'cut'",
        u=ALICE,
    )
    assert kept == "Echo: tell me a long", "what the user saw is the stored answer"
    assert await tokens_used(database, ALICE) > 0, "the prompt and the partial text are paid"
    assert await bot.say(ALICE, "/retry") == [f"Echo: {question}"]


async def test_an_empty_answer_fails_once_and_the_next_question_is_answered(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    bot.llm.queue_reply("\x00 \x00\n")
    (failed,) = await bot.say(ALICE, "first")
    assert "empty answer" in failed, failed
    assert bot.llm.calls == 1, "asked once"
    assert await pending_questions(database, ALICE) == 0, "failed, not left pending"
    assert await bot.say(ALICE, "second") == ["Echo: second"]
    assert bot.llm.calls == 2


async def test_a_question_whose_answerers_kept_dying_is_failed_not_asked_again(
    make_bot: HarnessFactory, database: Database, storage: SeedingStorage
) -> None:
    """A question taken up three times already (its answerers crashed): the sweep at
    start fails it with one line instead of a fourth request."""
    stored = await storage.add_message(
        ALICE, "user", "poison", pending=True, telegram_chat_id=ALICE, telegram_message_id=9_999
    )
    async with database.session() as session:
        await session.execute(
            text("UPDATE messages SET attempts = 3 WHERE user_id = :u AND seq = :s"),
            {"u": ALICE, "s": stored.seq},
        )
    bot = await make_bot()

    def told() -> bool:  # asked of Telegram (the stand-in may refuse a chat never opened)
        calls = bot.tg.method_calls("sendMessage")
        return any("after several tries" in str(c.params.get("text", "")) for c in calls)

    await bot.tg.wait_for(told, 15, "the line")
    assert bot.llm.calls == 0, "never sent to the LLM a fourth time"
    assert await pending_questions(database, ALICE) == 0
    assert await bot.say(ALICE, "next") == ["Echo: next"]

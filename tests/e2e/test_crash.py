"""No stranded question: a crash between storing a question and answering it.

A real bot process is killed with SIGKILL mid-answer (as OOM or a hard deploy would),
then another is started: the question is answered, exactly once, with no action from
the user. In-process tests cover the sweep and a redelivered pending question.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.types import utc_now
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_process import bot_env, run_bot
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram
from tests.seeding import SeedingStorage

USER = 4242


async def test_a_question_stranded_by_sigkill_is_answered_once_by_the_next_process(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    tg, llm = fakes
    env = bot_env(
        TELEGRAM_BOT_TOKEN="123456:CRASH-test",
        TELEGRAM_API_URL=tg.base_url,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=llm.base_url,
        LLM_MODEL="fake-model",
        LLM_MAX_RETRIES="0",
        TURN_LEASE_SECONDS="2",  # a short lease keeps the test short
        SHUTDOWN_GRACE_SECONDS="10",
    )
    first = await run_bot(tmp_path, env)
    second = None
    try:
        await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), 60, "polling")
        llm.hold()  # the answer is under way when the process dies
        tg.push_text(USER, "are you there?")
        await llm.wait_for_requests(1, 30)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        llm.release()
        assert tg.texts(USER) == [], "nothing was answered before the crash"

        second = await run_bot(tmp_path, env)
        await tg.wait_for(lambda: "Echo: are you there?" in tg.texts(USER), 60, "the recovery")
        # The user goes on as usual; the recovered answer came once, and in order.
        tg.push_text(USER, "thanks")
        await tg.wait_for(lambda: "Echo: thanks" in tg.texts(USER), 30, "the next answer")
        assert tg.texts(USER) == ["Echo: are you there?", "Echo: thanks"]
        second.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 0, stderr.decode()[-2000:]
        assert "Traceback" not in stderr.decode()
        assert tg.texts(USER) == ["Echo: are you there?", "Echo: thanks"]
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


async def strand(database: Database, settings: Settings, user_id: int, text_: str) -> int:
    """Store a pending question under a lease that lapsed: what a crash leaves behind."""
    storage = SeedingStorage(database, settings)
    stored = await storage.add_message(
        user_id, "user", text_, pending=True, telegram_chat_id=user_id, telegram_message_id=1
    )
    async with database.session() as session:
        await session.execute(
            text(
                "UPDATE users SET turn_lease_owner = 'dead:1', turn_lease_until = :t WHERE id = :u"
            ),
            {"t": utc_now() - timedelta(seconds=1), "u": user_id},
        )
    return stored.seq


async def test_a_running_instance_answers_stranded_questions_by_itself(
    make_bot: HarnessFactory, database: Database, database_url: str
) -> None:
    bot = await make_bot(turn_lease_seconds=2)  # swept every second
    bot.tg.start_private_chat(USER, USER + 1)
    settings = Settings(_env_file=None, database_url=database_url)
    await strand(database, settings, USER, "left behind")
    await strand(database, settings, USER + 1, "also left behind")
    await bot.tg.wait_for(
        lambda: (
            bot.tg.texts(USER) == ["Echo: left behind"]
            and bot.tg.texts(USER + 1) == ["Echo: also left behind"]
        ),
        30,
        "the stranded questions answered",
    )
    assert bot.llm.calls == 2


async def test_a_question_under_a_live_lease_is_not_taken_over(
    make_bot: HarnessFactory, database: Database, database_url: str
) -> None:
    settings = Settings(_env_file=None, database_url=database_url)
    storage = SeedingStorage(database, settings)
    await storage.add_message(USER, "user", "being answered", pending=True)
    assert await storage.try_acquire_turn(USER, "alive:1", 600)
    bot = await make_bot()
    # The sweep runs at start-up; then the next message (of another user) is answered.
    assert await bot.say(USER + 1, "hi") == ["Echo: hi"]
    assert bot.app is not None
    assert (
        await bot.app.deps.turns.recover_stranded(lambda _: pytest.fail("nothing to recover")) == 0
    )
    assert bot.llm.calls == 1, "the live holder's question was left to it"


async def test_a_redelivered_pending_question_is_resumed_not_dropped(
    make_bot: HarnessFactory, database: Database, database_url: str
) -> None:
    bot = await make_bot(turn_lease_seconds=600)  # no sweep will come in time: resume only
    settings = Settings(_env_file=None, database_url=database_url)
    seq = await strand(database, settings, USER, "say it again")
    # Telegram delivers the same message again (same chat and message id).
    bot.tg.push_text(USER, "say it again", message_id=1)
    await bot.settle()
    assert bot.tg.texts(USER) == ["Echo: say it again"]
    async with database.session(read_only=True) as session:
        statuses = await session.execute(
            text("SELECT seq, status FROM messages WHERE user_id = :u ORDER BY seq"), {"u": USER}
        )
        assert [tuple(row) for row in statuses] == [(seq, "answered"), (seq + 1, None)]

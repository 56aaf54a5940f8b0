"""A Stop that reaches another instance than the one writing the answer still stops it:
two ChatServices (two instances) on one database, a real model stand-in over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.llm.client import LLMClient
from ai_tg_bot.turns.service import TurnService
from tests.fakes.llm import FakeLLM
from tests.fakes.waiting import poll_until
from tests.integration.test_quotas import RecordingPresenter
from tests.seeding import SeedingStorage

USER = 515


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(chunk_size=8) as fake:
        yield fake


def instance(database: Database, settings: Settings, llm: FakeLLM) -> TurnService:
    config = settings.model_copy(
        update={"openai_base_url": llm.base_url, "llm_model": "fake-model", "llm_max_retries": 0}
    )
    return TurnService(SeedingStorage(database, config), LLMClient(config))


async def stop_requested(database: Database) -> int | None:
    async with database.session(read_only=True) as session:
        found = await session.execute(
            text("SELECT stop_requested_seq FROM users WHERE id = :u"), {"u": USER}
        )
        return found.scalar_one_or_none()


async def test_a_stop_through_another_instance_stops_the_writer(
    database: Database, settings: Settings, llm: FakeLLM
) -> None:
    writer, other = instance(database, settings, llm), instance(database, settings, llm)
    writer.stops.start()
    llm.queue_reply("A first part, then a very long silence.")
    llm.stall_next(120, after_chunks=3)
    shown = RecordingPresenter()
    turn = asyncio.create_task(writer.turn(USER, "ramble", shown))
    await poll_until(lambda: bool(writer.stops.signals.running()), 10, lambda: "no answer")
    await llm.wait_for(lambda: len(llm.requests) == 1)
    assert await other.stops.stop(USER), "a question is pending: the stop is recorded"
    await asyncio.wait_for(turn, 10)  # the writer saw it within its poll and stopped
    await llm.wait_for(lambda: llm.disconnects == 1)
    assert shown.texts == ["halted", "A first part, th"], "halted, then what arrived shown"
    assert await stop_requested(database) is None, "carried out, then cleared"
    assert not await other.stops.stop(USER), "nothing is being written any more"
    await writer.close()
    await other.close()


async def test_a_late_stop_for_an_answered_question_is_refused(
    database: Database, settings: Settings, llm: FakeLLM
) -> None:
    chat = instance(database, settings, llm)
    await chat.turn(USER + 1, "hello", RecordingPresenter())
    assert not await chat.stops.stop(USER + 1, 1), "question 1 was answered: nothing to stop"
    await chat.close()

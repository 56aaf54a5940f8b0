"""One gate for spending: a user at a limit costs nothing, on every path that spends.

Each path is driven through the real bot; what it would spend is counted at the
stand-ins: LLM requests, transcriptions, getFile calls and file downloads.
"""

from __future__ import annotations

import pytest

from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_limits import count
from tests.e2e.test_media import CAPTION, OGG, host_photo, photo_sizes

ALICE = 111
VOICE = {"file_id": "v1", "file_unique_id": "uv1", "duration": 3, "file_size": len(OGG)}


def spent(bot: BotHarness) -> tuple[int, int, int, int]:
    """(LLM requests, transcriptions, getFile calls, downloads) so far."""
    return (
        bot.llm.calls,
        len(bot.llm.transcriptions),
        len(bot.tg.method_calls("getFile")),
        len(bot.tg.downloads),
    )


async def spend_one(bot: BotHarness, path: str) -> list[str]:
    """Drive one spending path as the user; the bot's replies."""
    if path == "text":
        return await bot.say(ALICE, "a question")
    if path == "retry":
        return await bot.say(ALICE, "/retry")
    if path == "photo":
        return await bot.push(ALICE, photo=photo_sizes(), caption=CAPTION)
    assert path == "voice"
    return await bot.push(ALICE, voice=VOICE)


PATHS = ["text", "retry", "photo", "voice"]


@pytest.mark.parametrize("path", PATHS)
async def test_at_the_daily_limit_no_path_spends_anything(
    make_bot: HarnessFactory, database: Database, path: str
) -> None:
    bot = await make_bot(daily_message_limit=2, vision_models="fake-model")
    host_photo(bot)
    bot.tg.add_file("v1", OGG, "voice/file_1.oga")
    assert await bot.say(ALICE, "one") == ["Echo: one"]
    assert await bot.say(ALICE, "/retry") == ["Echo: one"], "a retry is one message"
    before = spent(bot)
    rows = await count(database, "SELECT count(*) FROM messages WHERE user_id = :u", ALICE)

    (refusal,) = await spend_one(bot, path)

    assert "daily limit of 2 messages" in refusal
    assert "resets at 00:00 UTC" in refusal
    assert spent(bot) == before, "a user over the limit cost something"
    after = await count(database, "SELECT count(*) FROM messages WHERE user_id = :u", ALICE)
    assert after == rows, "nothing stored or changed"


@pytest.mark.parametrize("path", PATHS)
async def test_the_per_minute_guard_stops_every_path_before_it_spends(
    make_bot: HarnessFactory, path: str
) -> None:
    bot = await make_bot(rate_limit_per_minute=2, vision_models="fake-model")
    host_photo(bot)
    bot.tg.add_file("v1", OGG, "voice/file_1.oga")
    await bot.say(ALICE, "one")
    await bot.say(ALICE, "/retry")
    before = spent(bot)
    (refusal,) = await spend_one(bot, path)
    assert "Slow down: at most 2 messages a minute" in refusal
    assert spent(bot) == before


async def test_retry_without_end_stops_at_the_daily_limit(make_bot: HarnessFactory) -> None:
    bot = await make_bot(daily_message_limit=3, rate_limit_per_minute=0)
    await bot.say(ALICE, "question")
    replies = [await bot.say(ALICE, "/retry") for _ in range(5)]
    assert replies[:2] == [["Echo: question"]] * 2
    assert all("daily limit of 3 messages" in r[0] for r in replies[2:])
    assert bot.llm.calls == 3
    (limits,) = await bot.say(ALICE, "/limits")
    assert "(today: 3 of 3)" in limits


async def test_a_retry_of_a_failed_answer_counts_against_the_daily_limit(
    make_bot: HarnessFactory,
) -> None:
    """A failed answer's /retry is another request to the LLM: counted like any question,
    so failures cannot be turned into unlimited requests (issue 34)."""
    bot = await make_bot(daily_message_limit=2, rate_limit_per_minute=0)
    bot.llm.fail_next(500)
    (failed,) = await bot.say(ALICE, "question")
    assert "/retry" in failed
    assert await bot.say(ALICE, "/retry") == ["Echo: question"]
    (refusal,) = await bot.say(ALICE, "/retry")
    assert "daily limit of 2 messages" in refusal
    bot.llm.fail_next(500)
    (refusal,) = await bot.say(ALICE, "another")
    assert "daily limit of 2 messages" in refusal
    assert bot.llm.calls == 2


async def test_a_voice_message_is_counted_before_it_is_downloaded(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(daily_message_limit=1)
    bot.tg.add_file("v1", OGG, "voice/file_1.oga")
    bot.llm.transcript = "first words"
    assert await bot.push(ALICE, voice=VOICE) == ["🎤 first words", "Echo: first words"]
    assert spent(bot) == (1, 1, 1, 1)
    (refusal,) = await bot.push(ALICE, voice=VOICE | {"file_id": "v2"})
    assert "daily limit of 1" in refusal
    assert spent(bot) == (1, 1, 1, 1), "no getFile, no download, no transcription"

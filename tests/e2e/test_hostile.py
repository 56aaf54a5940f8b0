"""Hostile input found in review (issue 27): forged button data past 64 bits, searches
built to overflow one message."""

from __future__ import annotations

import pytest

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.formatting import TELEGRAM_MESSAGE_LIMIT, utf16_length
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_privacy import press

ALICE = 27_001
PAST_64_BITS = str(2**63 + 5)


@pytest.mark.parametrize(
    "data",
    [
        f"conv:{ALICE}:{PAST_64_BITS}",
        f"conv:{PAST_64_BITS}:1",
        f"language:{PAST_64_BITS}:en",
        f"buy:{ALICE}:{PAST_64_BITS}:1",
        f"forget:yes:{PAST_64_BITS}",
        f"search:{PAST_64_BITS}:1",
    ],
)
async def test_a_forged_button_id_past_64_bits_is_answered_expired(
    make_bot: HarnessFactory, caplog: pytest.LogCaptureFixture, data: str
) -> None:
    bot = await make_bot(stars_packs="50:1000", monthly_token_limit=10**6)
    await bot.say(ALICE, "hello")
    shown = bot.messages(ALICE)[-1]
    answer = await press(bot, ALICE, data, shown)
    assert answer.get("text") in (texts.BUTTON_EXPIRED, texts.SEARCH_EXPIRED), answer
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert await bot.say(ALICE, "still here") == ["Echo: still here"]


async def test_a_search_built_to_overflow_fits_one_message(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    long_word = "x" * 300
    for number in range(5):
        await bot.say(ALICE, f"{long_word} {number} " + "ü" * 900)
    for query in (long_word, ("ab " * 1400)[:4088], f"{long_word} " * 12):
        (found,) = await bot.say(ALICE, f"/search {query}")
        assert utf16_length(found) <= TELEGRAM_MESSAGE_LIMIT
        assert found.startswith("🔎 «")

"""/search through the bot: results, snippet, paging with the inline buttons."""

from __future__ import annotations

import time

from tests.e2e.conftest import BotHarness

USER = 6060


async def test_search_shows_ranked_hits_and_pages(bot: BotHarness) -> None:
    for number in range(7):
        await bot.say(USER, f"tell me about kiwi number {number}")
    (first,) = await bot.say(USER, "/search kiwi")
    assert first.startswith("🔎 «kiwi»: 14 found, page 1 of 3")
    assert "«kiwi»" in first.split("\n", 1)[1], "the snippet marks the word"
    results = bot.messages(USER)[-1]
    assert results.reply_markup is not None
    buttons = results.reply_markup["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"search:{USER}:2"]

    bot.tg.push_update(
        {
            "callback_query": {
                "id": "cb-1",
                "from": {"id": USER, "is_bot": False, "first_name": "User"},
                "chat_instance": "ci-1",
                "data": f"search:{USER}:3",
                "message": {
                    "message_id": results.message_id,
                    "date": int(time.time()),
                    "chat": {"id": USER, "type": "private", "first_name": "User"},
                    "from": bot.tg.bot_user,
                    "text": results.text,
                },
            }
        }
    )
    await bot.settle()
    edited = bot.messages(USER)[-1]
    assert edited.message_id == results.message_id
    assert edited.text.startswith("🔎 «kiwi»: 14 found, page 3 of 3")
    assert bot.tg.method_calls("answerCallbackQuery")


async def test_search_usage_and_nothing_found(bot: BotHarness) -> None:
    assert (await bot.say(USER, "/search"))[0].startswith("Usage: /search")
    assert await bot.say(USER, "/search zebra") == ["🔎 «zebra»: nothing found."]

"""Inline mode end to end (issue 33): `@bot question` answered through answerInlineQuery,
counted like any answer; only the query a user left unchanged is asked."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
)
from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.config.groups import DEFAULT_SYSTEM_PROMPT
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.llm import count_tokens
from tests.fakes.telegram import QUERY_ID_INVALID, FakeTelegram

ALICE = 111
BOB = 222
BUTTON = {"text": "💬 Continue in the private chat", "start_parameter": "inline"}


async def scalar(database: Database, sql: str, user_id: int) -> int:
    async with database.session(read_only=True) as session:
        return int((await session.execute(text(sql), {"u": user_id})).scalar_one())


async def tokens_of(database: Database, user_id: int) -> int:
    sql = "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM token_usage"
    return await scalar(database, sql + " WHERE user_id = :u", user_id)


async def questions_of(database: Database, user_id: int) -> int:
    """Questions counted for the user outside their conversations (usage events)."""
    sql = "SELECT count(*) FROM usage_events WHERE user_id = :u AND kind = 'message'"
    return await scalar(database, sql, user_id)


async def stored_messages(database: Database, user_id: int) -> int:
    return await scalar(database, "SELECT count(*) FROM messages WHERE user_id = :u", user_id)


def sent_text(result: dict[str, Any]) -> str:
    return str(result["input_message_content"]["message_text"])


async def ask_inline(bot: BotHarness, user_id: int, query: str) -> dict[str, Any]:
    """Type `query` after @bot and wait for the bot's answer (its params)."""
    return await bot.tg.wait_inline_answer(bot.tg.push_inline_query(user_id, query))


async def test_an_inline_query_is_answered_with_the_reply_and_counted(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(inline_debounce_ms=200, daily_message_limit=2)
    bot.llm.queue_reply("**Four**, of course.")
    answer = await ask_inline(bot, ALICE, "what is 2+2?")
    assert answer["cache_time"] == 0
    assert answer["is_personal"] is True
    assert answer["button"] == BUTTON
    (result,) = answer["results"]
    assert result["type"] == "article"
    assert result["title"] == "what is 2+2?"
    assert sent_text(result) == "Four, of course."
    entities = result["input_message_content"]["entities"]
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [("bold", 0, 4)]
    # The user's model and prompt, no history.
    (request,) = bot.llm.requests
    assert request["model"] == "fake-model"
    assert request["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "what is 2+2?"},
    ]
    await bot.settle()
    cost = count_tokens(DEFAULT_SYSTEM_PROMPT + "what is 2+2?") + count_tokens(
        "**Four**, of course."
    )
    assert await tokens_of(database, ALICE) == cost
    assert await questions_of(database, ALICE) == 1
    assert await stored_messages(database, ALICE) == 0  # no conversation keeps it
    # It counted as one of today's two messages: one more fits, then the limit is reached.
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    calls = bot.llm.calls
    (refusal,) = (await ask_inline(bot, ALICE, "and 3+3?"))["results"]
    assert "daily limit of 2 messages" in sent_text(refusal)
    assert bot.llm.calls == calls
    assert await questions_of(database, ALICE) == 1
    # The button's /start greets, like a plain /start.
    assert await bot.say(ALICE, "/start inline") == await bot.say(ALICE, "/start")


async def test_only_the_settled_query_is_asked(
    make_bot: HarnessFactory, database: Database
) -> None:
    # Typed at once (one batch of updates): well within the debounce of each other.
    bot = await make_bot(inline_debounce_ms=500)
    typed = [bot.tg.push_inline_query(ALICE, query) for query in ("h", "he", "hello")]
    (result,) = (await bot.tg.wait_inline_answer(typed[-1]))["results"]
    assert sent_text(result) == "Echo: hello"
    await bot.settle()
    assert [r["messages"][-1]["content"] for r in bot.llm.requests] == ["hello"]
    assert [bot.tg.inline_queries[q].answer for q in typed[:-1]] == [None, None]
    assert await questions_of(database, ALICE) == 1


async def test_a_newer_query_cancels_the_one_being_answered(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(inline_debounce_ms=200)
    bot.llm.hold()
    first = bot.tg.push_inline_query(ALICE, "first question")
    await bot.llm.wait_for_requests(1)  # its request is with the model
    second = bot.tg.push_inline_query(ALICE, "second question")
    await bot.llm.wait_for_requests(2)
    bot.llm.release()
    (result,) = (await bot.tg.wait_inline_answer(second))["results"]
    assert sent_text(result) == "Echo: second question"
    await bot.settle()
    assert bot.tg.inline_queries[first].answer is None
    # Both were counted: the cancelled request's prompt too (estimated, as after Stop).
    assert await questions_of(database, ALICE) == 2
    assert await tokens_of(database, ALICE) == (
        count_tokens(DEFAULT_SYSTEM_PROMPT + "first question")
        + count_tokens(DEFAULT_SYSTEM_PROMPT + "second question")
        + count_tokens("Echo: second question")
    )


async def test_an_empty_query_asks_nothing(make_bot: HarnessFactory, database: Database) -> None:
    bot = await make_bot(inline_debounce_ms=0)
    for query in ("", "   "):
        answer = await ask_inline(bot, ALICE, query)
        assert answer["results"] == []
        assert answer["button"] == BUTTON
    await bot.settle()
    assert bot.llm.calls == 0
    assert await questions_of(database, ALICE) == 0


async def test_a_failing_model_gives_an_error_article(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(inline_debounce_ms=0)
    bot.llm.fail_next(500)
    (notice,) = (await ask_inline(bot, ALICE, "hello"))["results"]
    assert sent_text(notice).startswith("⚠️ The language model failed")
    await bot.settle()
    assert await questions_of(database, ALICE) == 1  # asked, so counted
    assert await tokens_of(database, ALICE) == 0  # refused by the server: nothing spent
    (result,) = (await ask_inline(bot, ALICE, "again"))["results"]
    assert sent_text(result) == "Echo: again"


async def test_refused_users_get_one_article_and_cost_nothing(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(allowed_user_ids=[ALICE], inline_debounce_ms=0)
    (notice,) = (await ask_inline(bot, BOB, "let me in"))["results"]
    assert sent_text(notice) == texts.not_allowed(BOB)
    await bot.settle()
    assert bot.llm.calls == 0
    assert await scalar(database, "SELECT count(*) FROM users WHERE id = :u", BOB) == 0


async def test_an_answer_too_late_is_dropped_and_the_bot_goes_on(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(inline_debounce_ms=0)
    bot.tg.inline_query_timeout = 0  # Telegram no longer takes an answer to it
    late = bot.tg.push_inline_query(ALICE, "late")
    await bot.tg.wait_for(lambda: bool(bot.tg.method_calls("answerInlineQuery")))
    await bot.settle()
    assert bot.tg.inline_queries[late].answer is None
    bot.tg.inline_query_timeout = 10
    (result,) = (await ask_inline(bot, ALICE, "in time"))["results"]
    assert sent_text(result) == "Echo: in time"


def article(
    result_id: str = "a", message: str = "hi", title: str = "A"
) -> InlineQueryResultArticle:
    """One article result for the fake's checks."""
    content = InputTextMessageContent(message_text=message)
    return InlineQueryResultArticle(id=result_id, title=title, input_message_content=content)


async def test_the_fake_answer_inline_query_is_strict_like_telegram() -> None:
    async with FakeTelegram() as tg:
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        bot = Bot(token="123456:TEST", session=session)
        try:
            query_id = tg.push_inline_query(ALICE, "q")
            refusals = {
                "RESULT_ID_DUPLICATE": [article(), article()],
                "RESULT_ID_INVALID": [article("x" * 65)],
                "RESULTS_TOO_MUCH": [article(str(n)) for n in range(51)],
                "message text is empty": [article(message=" ")],
                "message is too long": [article(message="x" * 4097)],
                'Field "title"': [article(title="")],
            }
            for error, results in refusals.items():
                with pytest.raises(TelegramBadRequest, match=error):
                    await bot.answer_inline_query(query_id, list(results))
            for start in ("", "no spaces", "x" * 65):
                button = InlineQueryResultsButton(text="Chat", start_parameter=start)
                with pytest.raises(TelegramBadRequest, match="START_PARAM_INVALID"):
                    await bot.answer_inline_query(query_id, [], button=button)
            with pytest.raises(TelegramBadRequest, match="CACHE_TIME_INVALID"):
                await bot.answer_inline_query(query_id, [], cache_time=-1)
            button = InlineQueryResultsButton(text="Chat", start_parameter="inline-1_A")
            assert await bot.answer_inline_query(
                query_id, [article(message="x" * 4096)], cache_time=0, button=button
            )
            assert tg.inline_queries[query_id].answer is not None
            assert tg.inline_queries[query_id].results[0]["id"] == "a"
            for again in (query_id, "12345"):  # answered once; unknown
                with pytest.raises(TelegramBadRequest) as caught:
                    await bot.answer_inline_query(again, [])
                assert caught.value.message == QUERY_ID_INVALID
            tg.inline_query_timeout = 0  # Telegram waits about 10 seconds
            late = tg.push_inline_query(ALICE, "late")
            with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
                await bot.answer_inline_query(late, [])
        finally:
            await bot.session.close()

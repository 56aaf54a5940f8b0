"""Conversations' rolling summaries in storage (SUMMARY_MODEL), on both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.storage import NewQuestion, PrivacyStore, SummaryDue, TokenUsage
from ai_tg_bot.storage.summaries import SUMMARY_READ_CHARS
from tests.seeding import SeedingStorage

USER = 7301


def summarising(database: Database, settings: Settings, **overrides: Any) -> SeedingStorage:
    """A store keeping two messages per conversation (the rest is trimmed)."""
    values = {"default_max_history_messages": 2, "rate_limit_per_minute": 0} | overrides
    return SeedingStorage(database, settings.model_copy(update=values))


async def talk(storage: SeedingStorage, *words: str) -> None:
    """Questions and answers, alternating, as stored (and trimmed) one by one."""
    for number, content in enumerate(words):
        await storage.add_message(USER, "user" if number % 2 == 0 else "assistant", content)


async def one(database: Database, sql: str, **values: Any) -> Any:
    async with database.session(read_only=True) as session:
        return (await session.execute(text(sql), {"u": USER, **values})).one()


async def conversation(database: Database) -> int:
    return int((await one(database, "SELECT id FROM conversations WHERE user_id = :u"))[0])


async def tokens(database: Database, model: str) -> int:
    sql = (
        "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM token_usage"
        " WHERE user_id = :u AND model = :m"
    )
    return int((await one(database, sql, m=model))[0])


async def test_what_was_trimmed_is_due_once_and_the_summary_reaches_the_context(
    database: Database, settings: Settings
) -> None:
    storage = summarising(database, settings)
    await talk(storage, "kiwi one", "answer one")
    chat = await conversation(database)
    assert await storage.summary_due(USER, chat) is None, "nothing trimmed yet"
    await talk(storage, "kiwi two", "answer two")
    due = await storage.summary_due(USER, chat)
    assert due is not None
    assert (due.summary, due.since_seq) == (None, None)
    assert due.messages == (("user", "kiwi one"), ("assistant", "answer one"))

    assert await storage.store_summary(USER, chat, due, " Kiwis, once. ", TokenUsage("s", 10, 5))
    assert await one(database, "SELECT summary, summary_seq FROM conversations") == (
        "Kiwis, once.",
        due.upto_seq,
    )
    assert await tokens(database, "s") == 15
    assert await storage.summary_due(USER, chat) is None, "covered"
    assert (await storage.load_context(USER)).summary == "Kiwis, once."

    await talk(storage, "kiwi three", "answer three")
    rolled = await storage.summary_due(USER, chat)
    assert rolled is not None
    assert (rolled.summary, rolled.since_seq) == ("Kiwis, once.", due.upto_seq)
    assert rolled.messages == (("user", "kiwi two"), ("assistant", "answer two"))


async def test_a_summary_over_one_that_moved_meanwhile_is_not_stored_but_counted(
    database: Database, settings: Settings
) -> None:
    storage = summarising(database, settings)
    await talk(storage, "a", "b", "c", "d")
    chat = await conversation(database)
    due = await storage.summary_due(USER, chat)
    assert due is not None
    assert await storage.store_summary(USER, chat, due, "first", TokenUsage("s", 1, 1))
    # Another process made one from the same material: it lost the race.
    assert not await storage.store_summary(USER, chat, due, "second", TokenUsage("s", 2, 2))
    assert not await storage.store_summary(USER, chat, due, None, TokenUsage("s", 3, 0))
    assert (await one(database, "SELECT summary FROM conversations"))[0] == "first"
    assert await tokens(database, "s") == 9, "every request is counted"


async def test_reset_and_role_forget_the_summary_and_what_they_cleared(
    database: Database, settings: Settings
) -> None:
    storage = summarising(database, settings)
    await talk(storage, "a", "b", "c", "d")
    chat = await conversation(database)
    due = await storage.summary_due(USER, chat)
    assert due is not None
    await talk(storage, "e", "f")  # more trimmed meanwhile
    assert await storage.clear_history(USER) == 2
    summary, covered = await one(database, "SELECT summary, summary_seq FROM conversations")
    assert summary is None
    assert covered == (await one(database, "SELECT message_seq FROM users WHERE id = :u"))[0]
    assert await storage.summary_due(USER, chat) is None, "what /reset cleared is never due"
    assert not await storage.store_summary(USER, chat, due, "too late"), "made before /reset"
    assert (await one(database, "SELECT summary FROM conversations"))[0] is None

    await talk(storage, "g", "h", "i", "j")
    after = await storage.summary_due(USER, chat)
    assert after is not None
    assert after.messages == (("user", "g"), ("assistant", "h"))
    assert await storage.store_summary(USER, chat, after, "g and h")
    await storage.set_conversation_role(USER, "You are terse.")
    assert (await one(database, "SELECT summary FROM conversations"))[0] is None
    await talk(storage, "k", "l", "m", "n")
    fresh = await storage.summary_due(USER, chat)
    assert fresh is not None
    assert (fresh.summary, fresh.messages) == (None, (("user", "k"), ("assistant", "l")))


async def test_nothing_is_due_while_the_budget_is_spent(
    database: Database, settings: Settings
) -> None:
    storage = summarising(database, settings, daily_token_limit=100)
    await talk(storage, "a", "b", "c", "d")
    chat = await conversation(database)
    due = await storage.summary_due(USER, chat)
    assert due is not None
    await storage.store_summary(USER, chat, due, None, TokenUsage("s", 60, 40))
    assert await storage.summary_due(USER, chat) is None, "a summary is a paid call"


async def test_a_summary_reads_a_bounded_amount_and_leaves_the_rest_due(
    database: Database, settings: Settings
) -> None:
    storage = summarising(database, settings)
    big = "x" * (SUMMARY_READ_CHARS + 10)
    await talk(storage, big, "short", "y" * (SUMMARY_READ_CHARS // 2), "z", "q", "r")
    chat = await conversation(database)
    first = await storage.summary_due(USER, chat)
    assert first is not None
    assert first.messages == (("user", "x" * SUMMARY_READ_CHARS),), "cut, alone"
    assert await storage.store_summary(USER, chat, first, "xs")
    second = await storage.summary_due(USER, chat)
    assert second is not None
    assert [content[:1] for _, content in second.messages] == ["s", "y", "z"]
    assert isinstance(second, SummaryDue)


async def test_a_member_who_forgets_takes_the_group_summary_with_them(
    database: Database, settings: Settings
) -> None:
    group, member = -100_7301, USER
    storage = summarising(database, settings)
    asked = NewQuestion(group, "the member's secret", author_id=member)
    await storage.ask(asked, owner="test", lease_seconds=5)
    async with database.session() as session:
        await session.execute(
            text("UPDATE conversations SET summary = 'their secret', summary_seq = 1")
        )
    await PrivacyStore(database, storage.settings).forget_user(member)
    async with database.session(read_only=True) as session:
        found = await session.execute(
            text("SELECT summary, summary_seq FROM conversations WHERE user_id = :g"),
            {"g": group},
        )
        assert found.one() == (None, 1), "the summary may hold their words"

"""DialogueStore on both backends: trimming, soft delete, isolation, bad input, settings."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest
from sqlalchemy import select, text

from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import Message, User
from ai_tg_bot.storage.accounts import AccountsStore
from ai_tg_bot.storage.privacy import PrivacyStore
from ai_tg_bot.storage.records import EmptyTextError, Standing
from tests.seeding import SeedingStorage

USER = 1001
OTHER = 2002


async def count_rows(database: Database, user_id: int, *, active: bool | None = None) -> int:
    condition = {None: "", True: " AND deleted_at IS NULL", False: " AND deleted_at IS NOT NULL"}
    async with database.session(read_only=True) as session:
        result = await session.execute(
            text(f"SELECT count(*) FROM messages WHERE user_id = :u{condition[active]}"),
            {"u": user_id},
        )
        return int(result.scalar_one())


async def test_ensure_user_is_idempotent(storage: SeedingStorage, database: Database) -> None:
    await storage.ensure_user(USER)
    await storage.ensure_user(USER)
    async with database.session(read_only=True) as session:
        users = await session.execute(text("SELECT count(*) FROM users WHERE id = :u"), {"u": USER})
        settings = await session.execute(
            text("SELECT max_history_messages, system_prompt FROM user_settings WHERE user_id=:u"),
            {"u": USER},
        )
        assert users.scalar_one() == 1
        assert settings.one() == (None, None)  # NULL: the defaults from Settings


async def test_history_is_ordered_and_trimmed_to_the_limit_exactly(
    storage: SeedingStorage, accounts: AccountsStore
) -> None:
    await accounts.set_max_history_messages(USER, 5)
    for number in range(12):
        await storage.add_message(USER, "user" if number % 2 == 0 else "assistant", f"m{number}")
    history = await storage.load_history(USER)
    assert [m["content"] for m in history] == ["m7", "m8", "m9", "m10", "m11"]
    assert [m["role"] for m in history] == ["assistant", "user", "assistant", "user", "assistant"]


async def test_soft_delete_keeps_every_row(
    storage: SeedingStorage, database: Database, accounts: AccountsStore
) -> None:
    await accounts.set_max_history_messages(USER, 3)
    for number in range(10):
        await storage.add_message(USER, "user", f"m{number}")
    assert await count_rows(database, USER) == 10
    assert await count_rows(database, USER, active=True) == 3
    assert await count_rows(database, USER, active=False) == 7


async def test_lowering_the_limit_trims_at_once(
    storage: SeedingStorage, accounts: AccountsStore
) -> None:
    for number in range(8):
        await storage.add_message(USER, "user", f"m{number}")
    assert await accounts.set_max_history_messages(USER, 2) == 6
    assert [m["content"] for m in await storage.load_history(USER)] == ["m6", "m7"]


@pytest.mark.parametrize("bad_limit", [0, -1, 1001])
async def test_limit_bounds_are_enforced(
    storage: SeedingStorage, bad_limit: int, accounts: AccountsStore
) -> None:
    with pytest.raises(ValueError, match="between 1 and 1000"):
        await accounts.set_max_history_messages(USER, bad_limit)


async def test_concurrent_writers_leave_exactly_the_limit(
    storage: SeedingStorage, database: Database, accounts: AccountsStore
) -> None:
    await accounts.set_max_history_messages(USER, 10)
    await asyncio.gather(*(storage.add_message(USER, "user", f"c{n}") for n in range(50)))
    assert await count_rows(database, USER) == 50
    assert await count_rows(database, USER, active=True) == 10
    history = await storage.load_history(USER)
    # The survivors are the ten that took the lock last: a contiguous tail of the order.
    async with database.session(read_only=True) as session:
        result = await session.execute(
            text("SELECT content FROM messages WHERE user_id = :u ORDER BY seq DESC LIMIT 10"),
            {"u": USER},
        )
        newest = [row[0] for row in result]
    assert [m["content"] for m in history] == list(reversed(newest))


async def test_users_are_isolated(storage: SeedingStorage, accounts: AccountsStore) -> None:
    await storage.add_message(USER, "user", "mine")
    await storage.add_message(OTHER, "user", "theirs")
    await storage.set_conversation_role(OTHER, "You are a pirate.")
    await storage.clear_history(OTHER)
    assert await storage.load_history(USER) == [{"role": "user", "content": "mine"}]
    assert await storage.load_history(OTHER) == []
    assert await storage.conversation_role(USER) == storage.settings.default_system_prompt


async def test_clear_history_soft_deletes_and_keeps_the_prompt(
    storage: SeedingStorage, database: Database, accounts: AccountsStore
) -> None:
    await storage.set_conversation_role(USER, "Be brief.")
    await storage.add_message(USER, "user", "hello")
    await storage.add_message(USER, "assistant", "hi")
    assert await storage.clear_history(USER) == 2
    assert await storage.load_history(USER) == []
    assert await count_rows(database, USER) == 2
    assert await storage.conversation_role(USER) == "Be brief."


async def test_system_prompt_is_not_history_and_setting_it_clears_history(
    storage: SeedingStorage,
    accounts: AccountsStore,
) -> None:
    await storage.add_message(USER, "user", "before")
    await storage.set_conversation_role(USER, "You are terse.")
    context = await storage.load_context(USER)
    assert context.system_prompt == "You are terse."
    assert context.history == []
    await accounts.set_max_history_messages(USER, 1)
    for number in range(3):
        await storage.add_message(USER, "user", f"m{number}")
    assert await storage.conversation_role(USER) == "You are terse."
    await storage.set_conversation_role(USER, None)
    assert await storage.conversation_role(USER) == storage.settings.default_system_prompt


async def test_nul_characters_are_stripped(
    storage: SeedingStorage, accounts: AccountsStore
) -> None:
    stored = await storage.add_message(USER, "user", "a\x00b\x00c")
    assert stored.content == "abc"
    assert await storage.load_history(USER) == [{"role": "user", "content": "abc"}]
    await storage.set_conversation_role(USER, "p\x00rompt")
    assert await storage.conversation_role(USER) == "prompt"


@pytest.mark.parametrize("content", ["", "   \n", "\x00\x00"])
async def test_empty_content_is_refused(storage: SeedingStorage, content: str) -> None:
    with pytest.raises(EmptyTextError, match="must not be empty"):
        await storage.add_message(USER, "user", content)
    assert await storage.load_history(USER) == []


async def test_unknown_role_is_refused(storage: SeedingStorage) -> None:
    with pytest.raises(ValueError, match="role must be one of"):
        await storage.add_message(USER, "tool", "x")


async def test_large_and_unusual_content_round_trips(storage: SeedingStorage) -> None:
    large = "я" * 50_000 + "🙂" * 25_000 + "'; DROP TABLE users; --"
    await storage.add_message(USER, "user", large)
    mixed = "e\u0301 \u05e9\u05dc\u05d5\u05dd 👩‍👩‍👧 \u202eRTL"
    await storage.add_message(USER, "assistant", mixed)
    history = await storage.load_history(USER)
    assert history == [
        {"role": "user", "content": large},
        {"role": "assistant", "content": mixed},
    ]
    info = await storage.get_dialog_info(USER)
    assert info.total_characters == len(large) + len(mixed)


async def test_a_settings_change_made_with_sql_takes_effect(
    storage: SeedingStorage, database: Database, accounts: AccountsStore
) -> None:
    await storage.ensure_user(USER)
    for number in range(6):
        await storage.add_message(USER, "user", f"m{number}")
    # What an operator does in psql, outside the bot.
    async with database.session() as session:
        await session.execute(
            text(
                "UPDATE user_settings SET max_history_messages = 2, system_prompt = 'From psql'"
                " WHERE user_id = :u"
            ),
            {"u": USER},
        )
    assert await storage.conversation_role(USER) == "From psql"
    await storage.add_message(USER, "user", "next")
    assert [m["content"] for m in await storage.load_history(USER)] == ["m5", "next"]


async def test_dialog_info_reports_counts_sizes_and_times(
    storage: SeedingStorage, accounts: AccountsStore
) -> None:
    empty = await storage.get_dialog_info(USER)
    assert (empty.active_count, empty.total_characters, empty.first_message_at) == (0, 0, None)
    await accounts.set_max_history_messages(USER, 2)
    for content in ["one", "three", "sixsix"]:
        await storage.add_message(USER, "user", content)
    info = await storage.get_dialog_info(USER)
    assert info.active_count == 2
    assert info.max_history_messages == 2
    assert info.total_characters == len("three") + len("sixsix")
    assert info.deleted_count == 1
    assert info.first_message_at is not None
    assert info.last_message_at is not None
    assert info.first_message_at.tzinfo == UTC
    assert info.first_message_at <= info.last_message_at
    assert info.is_default_prompt


async def test_prepare_retry_drops_the_answer_and_returns_the_question(
    storage: SeedingStorage,
) -> None:
    assert await storage.prepare_retry(USER) is None
    await storage.add_message(USER, "user", "q1")
    await storage.add_message(USER, "assistant", "a1")
    await storage.add_message(USER, "user", "q2")
    await storage.add_message(USER, "assistant", "a2")
    question = await storage.prepare_retry(USER)
    assert question is not None
    assert question.content == "q2"
    assert await storage.is_pending(USER, question.seq)
    assert [m["content"] for m in await storage.load_history(USER)] == ["q1", "a1", "q2"]
    # A failed turn leaves no answer; retrying it again changes nothing else.
    again = await storage.prepare_retry(USER)
    assert again is not None
    assert again.content == question.content
    assert [m["content"] for m in await storage.load_history(USER)] == ["q1", "a1", "q2"]


async def test_timestamps_are_utc_aware(storage: SeedingStorage, database: Database) -> None:
    await storage.add_message(USER, "user", "x")
    async with database.session(read_only=True) as session:
        message = (await session.execute(select(Message))).scalar_one()
        user = (await session.execute(select(User))).scalar_one()
    assert message.created_at.tzinfo == UTC
    assert user.created_at.tzinfo == UTC
    assert message.content_length == 1


async def test_no_attachments_is_stored_as_sql_null(
    storage: SeedingStorage, database: Database
) -> None:
    await storage.add_message(USER, "user", "plain text")
    await storage.add_message(USER, "user", "", attachments=[{"type": "image", "file_id": "f"}])
    async with database.session() as session:
        rows = await session.execute(
            text("SELECT attachments IS NULL FROM messages WHERE user_id = :u ORDER BY seq"),
            {"u": USER},
        )
        assert [row[0] for row in rows] == [True, False]


async def test_the_language_choice_is_stored_read_in_one_go_and_forgotten(
    storage: SeedingStorage, accounts: AccountsStore, database: Database
) -> None:
    assert await accounts.standing(USER) == Standing(is_blocked=False, language=None)
    await accounts.set_language(USER, "ru")
    await accounts.set_blocked(USER, True)
    assert await accounts.standing(USER) == Standing(is_blocked=True, language="ru")
    assert await storage.chosen_language(USER) == "ru"
    await accounts.set_language(USER, None)
    assert (await accounts.standing(USER)).language is None
    await accounts.set_language(USER, "ru")
    await PrivacyStore(database, storage.settings).forget_user(USER)
    assert await accounts.standing(USER) == Standing(is_blocked=True, language=None)

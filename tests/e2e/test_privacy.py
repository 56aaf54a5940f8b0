"""/export, /forget and RETENTION_DAYS through the real bot, on both database backends."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import Message
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.privacy import export as export_module
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.telegram import SentDocument, SentMessage

ALICE = 7101
ADMIN = 7909
BOB = 7202
HEADING = re.compile(r"^#### (\S+) · (user|assistant)(.*)$")


def document(bot: BotHarness, chat_id: int, suffix: str) -> SentDocument:
    found = [d for d in bot.tg.documents if d.chat_id == chat_id and d.filename]
    matching = [d for d in found if d.filename and d.filename.endswith(suffix)]
    assert len(matching) == 1, [d.filename for d in found]
    return matching[0]


def parse_markdown(markdown: str) -> list[tuple[str, str, bool, str]]:
    """(timestamp, role, trimmed, content) per message heading and its quoted body."""
    messages: list[tuple[str, str, bool, str]] = []
    body: list[str] = []
    for line in markdown.split("## Messages", 1)[1].splitlines():
        if match := HEADING.match(line):
            messages.append((match[1], match[2], "trimmed" in match[3], ""))
            body = []
        elif line.startswith(">") and messages:
            body.append(line[2:])
            stamp, role, trimmed, _ = messages[-1]
            messages[-1] = (stamp, role, trimmed, "\n".join(body))
    return messages


async def rows_of(database: Database, user_id: int) -> dict[str, int]:
    """How many rows the user has in each table."""
    queries = {
        "users": "SELECT count(*) FROM users WHERE id = :u",
        "user_settings": "SELECT count(*) FROM user_settings WHERE user_id = :u",
        "messages": "SELECT count(*) FROM messages WHERE user_id = :u",
    }
    async with database.session(read_only=True) as session:
        return {
            table: int((await session.execute(text(sql), {"u": user_id})).scalar_one())
            for table, sql in queries.items()
        }


async def assert_no_words_left(database: Database, user_id: int) -> None:
    """After /forget: no prompt, no model choice, no message; usage only as timestamps."""
    async with database.session(read_only=True) as session:
        settings = (
            await session.execute(
                text("SELECT system_prompt, model FROM user_settings WHERE user_id = :u"),
                {"u": user_id},
            )
        ).one()
        kinds = await session.execute(
            text("SELECT DISTINCT kind FROM usage_events WHERE user_id = :u"), {"u": user_id}
        )
        assert tuple(settings) == (None, None)
        assert set(kinds.scalars()) <= {"message", "export"}


async def ask_to_forget(bot: BotHarness, user_id: int) -> SentMessage:
    assert await bot.say(user_id, "/forget") == [texts.FORGET_CONFIRM]
    return bot.messages(user_id)[-1]


async def press(
    bot: BotHarness,
    user_id: int,
    data: str,
    message: SentMessage,
    *,
    chat_id: int | None = None,
    message_date: int | None = None,
) -> dict[str, object]:
    """Press a button as `user_id`; returns the bot's answerCallbackQuery parameters."""
    query_id = bot.tg.push_callback(
        user_id, data, message.message_id, chat_id=chat_id, message_date=message_date
    )
    await bot.settle()
    assert query_id in bot.tg.callback_answers, "every button press is answered"
    return bot.tg.callback_answers[query_id]


async def test_export_sends_own_history_as_markdown_and_json(make_bot: HarnessFactory) -> None:
    bot = await make_bot(default_max_history_messages=4)
    await bot.say(ALICE, "cleared by role")
    await bot.say(ALICE, "/role Be a pirate.\nSay arr.")
    await bot.say(ALICE, "cleared by reset")
    await bot.say(ALICE, "/reset")
    for word in ("one", "two", "three"):
        await bot.say(ALICE, word)  # the limit of 4 trims "one" and its answer
    bot.llm.queue_reply("second take with `code` and\n# a heading")
    await bot.say(ALICE, "/retry")  # clears the first answer to "three"
    await bot.say(BOB, "bob's secret")
    calls = bot.llm.calls

    replies = await bot.say(ALICE, "/export")
    assert replies == [], "the files are the answer"
    assert bot.llm.calls == calls
    markdown_doc = document(bot, ALICE, ".md")
    json_doc = document(bot, ALICE, ".json")
    assert (markdown_doc.filename or "").startswith(f"history-{ALICE}-")
    assert markdown_doc.caption == "Your history as Markdown: 6 messages."
    assert json_doc.caption == "Your history as JSON: 6 messages."

    expected = [
        ("user", "one", False),
        ("assistant", "Echo: one", False),
        ("user", "two", True),
        ("assistant", "Echo: two", True),
        ("user", "three", True),
        ("assistant", "second take with `code` and\n# a heading", True),
    ]
    exported = json.loads(json_doc.data.decode("utf-8"))
    assert exported["user_id"] == ALICE
    assert exported["system_prompt"] == "Be a pirate.\nSay arr."
    assert exported["system_prompt_is_default"] is False
    assert exported["message_count"] == 6
    messages = exported["messages"]
    assert [(m["role"], m["content"], m["in_context"]) for m in messages] == expected
    stamps = [datetime.fromisoformat(m["created_at"]) for m in messages]
    assert all(m["created_at"].endswith("Z") for m in messages)
    assert all(stamp.utcoffset() == timedelta(0) for stamp in stamps)
    assert stamps == sorted(stamps)
    assert abs(datetime.now(UTC) - stamps[-1]) < timedelta(minutes=5)
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)
    assert messages[-1]["model"] == "fake-model"

    markdown = markdown_doc.data.decode("utf-8")
    assert "> Be a pirate.\n> Say arr." in markdown
    assert "## System prompt (your own)" in markdown
    parsed = parse_markdown(markdown)
    assert [(role, content, not trimmed) for _, role, trimmed, content in parsed] == expected
    assert [stamp for stamp, *_ in parsed] == [m["created_at"] for m in messages]
    for document_text in (markdown, json_doc.data.decode("utf-8")):
        assert "cleared by" not in document_text
        assert "Echo: three" not in document_text
        assert "bob" not in document_text

    await bot.say(BOB, "/export")
    bob_export = json.loads(document(bot, BOB, ".json").data)
    assert [m["content"] for m in bob_export["messages"]] == ["bob's secret", "Echo: bob's secret"]
    assert bob_export["system_prompt"] == bot.settings.default_system_prompt
    assert bob_export["system_prompt_is_default"] is True


async def test_an_empty_history_exports_a_clear_line(bot: BotHarness) -> None:
    assert await bot.say(ALICE, "/export") == [texts.NOTHING_TO_EXPORT]
    await bot.say(ALICE, "soon cleared")
    await bot.say(ALICE, "/reset")
    assert await bot.say(ALICE, "/export") == [texts.NOTHING_TO_EXPORT]
    assert bot.tg.documents == []


async def test_export_asked_in_a_group_goes_to_the_private_chat(make_bot: HarnessFactory) -> None:
    bot = await make_bot(group_chats=True)
    await bot.say(ALICE, "private matters")
    group = -100123
    bot.tg.push_update(
        {"message": bot.tg.make_message(ALICE, "/export", chat_id=group, chat_type="supergroup")}
    )
    await bot.settle()
    assert bot.tg.texts(group) == [texts.SENT_PRIVATELY]
    assert {d.chat_id for d in bot.tg.documents} == {ALICE}
    assert len(bot.tg.documents) == 2


async def test_a_large_export_is_streamed_from_disk(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "SPOOL_MAX_BYTES", 256)  # spill to disk at once
    long_text = "ünïcode " * 200
    await bot.say(ALICE, long_text)
    await bot.say(ALICE, "/export")
    exported = json.loads(document(bot, ALICE, ".json").data)
    assert [m["content"] for m in exported["messages"]] == [long_text, f"Echo: {long_text}"]
    markdown = document(bot, ALICE, ".md").data.decode("utf-8")
    assert [content for *_, content in parse_markdown(markdown)] == [
        long_text,
        f"Echo: {long_text}",
    ]


async def test_forget_deletes_every_row_of_the_user_and_no_one_else(
    bot: BotHarness, database: Database
) -> None:
    await bot.say(ALICE, "/role Be terse.")
    await bot.say(ALICE, "remember my name is Alice")
    await bot.say(ALICE, "/reset")
    await bot.say(ALICE, "and my cat's name")
    await bot.say(BOB, "bob stays")
    before_bob = await rows_of(database, BOB)
    assert before_bob == {"users": 1, "user_settings": 1, "messages": 2}

    question = await ask_to_forget(bot, ALICE)
    assert question.reply_markup is not None
    buttons = [row[0] for row in question.reply_markup["inline_keyboard"]]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("Yes, delete everything", f"forget:yes:{ALICE}"),
        ("Cancel", f"forget:no:{ALICE}"),
    ]
    assert (await rows_of(database, ALICE))["messages"] > 0

    answer = await press(bot, ALICE, f"forget:yes:{ALICE}", question)
    assert not answer.get("show_alert")
    shown = bot.messages(ALICE)[-1]
    assert shown.message_id == question.message_id
    assert shown.text == texts.forgotten(4)
    assert shown.reply_markup is None, "the buttons are gone"
    # What stays holds none of her words: the account row and the limits.
    assert await rows_of(database, ALICE) == {"users": 1, "user_settings": 1, "messages": 0}
    await assert_no_words_left(database, ALICE)
    assert await rows_of(database, BOB) == before_bob
    if database.is_sqlite:  # the full-text index forgot too (its triggers ran)
        async with database.session() as session:
            await session.execute(
                text("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
            )
            found = await session.execute(
                text("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'cat'")
            )
            assert found.scalar_one() == 0

    assert await bot.say(ALICE, "hello again") == ["Echo: hello again"]
    sent = bot.llm.last_request["messages"]
    assert sent == [
        {"role": "system", "content": bot.settings.default_system_prompt},
        {"role": "user", "content": "hello again"},
    ]


async def test_cancel_keeps_everything(bot: BotHarness, database: Database) -> None:
    await bot.say(ALICE, "keep me")
    before = await rows_of(database, ALICE)
    question = await ask_to_forget(bot, ALICE)
    await press(bot, ALICE, f"forget:no:{ALICE}", question)
    shown = bot.messages(ALICE)[-1]
    assert (shown.message_id, shown.text) == (question.message_id, texts.FORGET_CANCELLED)
    assert shown.reply_markup is None
    assert await rows_of(database, ALICE) == before


async def test_nobody_else_can_confirm(bot: BotHarness, database: Database) -> None:
    await bot.say(ALICE, "mine")
    before = await rows_of(database, ALICE)
    question = await ask_to_forget(bot, ALICE)
    # As in a group, where everyone sees the buttons: Bob presses Alice's "yes".
    answer = await press(bot, BOB, f"forget:yes:{ALICE}", question, chat_id=ALICE)
    assert answer.get("show_alert") == "true"
    assert answer.get("text") == texts.FORGET_NOT_YOURS
    assert await rows_of(database, ALICE) == before
    # Nor by forging the data with his own id on her message: that forgets only Bob.
    await bot.say(BOB, "bob's")
    await press(bot, BOB, f"forget:yes:{BOB}", question, chat_id=ALICE)
    assert await rows_of(database, ALICE) == before
    assert await rows_of(database, BOB) == {"users": 1, "user_settings": 1, "messages": 0}
    assert bot.messages(ALICE)[-1].text == texts.forgotten(2)


async def test_an_old_confirmation_has_expired(bot: BotHarness, database: Database) -> None:
    await bot.say(ALICE, "still here")
    before = await rows_of(database, ALICE)
    question = await ask_to_forget(bot, ALICE)
    an_hour_ago = int(time.time()) - 3600
    answer = await press(bot, ALICE, f"forget:yes:{ALICE}", question, message_date=an_hour_ago)
    assert answer.get("text") == texts.FORGET_EXPIRED
    assert bot.messages(ALICE)[-1].text == texts.FORGET_EXPIRED
    assert await rows_of(database, ALICE) == before


async def test_forget_during_an_answer_leaves_no_row(bot: BotHarness, database: Database) -> None:
    bot.llm.stall_next(1.5, after_chunks=1)
    bot.tg.push_text(ALICE, "a slow question")
    await bot.llm.wait_for_requests(1)
    # The question is stored and being answered; the user asks to be forgotten meanwhile.
    bot.tg.push_text(ALICE, "/forget")
    await bot.tg.wait_for(
        lambda: any(m.text == texts.FORGET_CONFIRM for m in bot.messages(ALICE)),
        what="the confirmation",
    )
    question = next(m for m in bot.messages(ALICE) if m.text == texts.FORGET_CONFIRM)
    bot.tg.push_callback(ALICE, f"forget:yes:{ALICE}", question.message_id)
    await bot.tg.wait_for(
        lambda: any(m.text.startswith("🗑 Done") for m in bot.messages(ALICE)), what="forgotten"
    )
    await bot.settle()
    assert "Echo: a slow question" in bot.tg.texts(ALICE), "the answer is still shown"
    assert await rows_of(database, ALICE) == {"users": 1, "user_settings": 1, "messages": 0}
    await assert_no_words_left(database, ALICE)


async def test_the_running_bot_purges_old_soft_deleted_messages(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(retention_days=7)
    for word in ("old", "recent"):
        await bot.say(ALICE, word)
        await bot.say(ALICE, "/reset")
    await bot.say(ALICE, "active")
    async with database.session() as session:
        await session.execute(
            update(Message)
            .where(Message.user_id == ALICE, Message.content.in_(["old", "Echo: old"]))
            .values(deleted_at=utc_now() - timedelta(days=8))
        )
    await bot.restart()  # a purge runs at start, then hourly

    async def contents() -> list[str]:
        async with database.session(read_only=True) as session:
            rows = await session.execute(
                text("SELECT content FROM messages WHERE user_id = :u ORDER BY seq"), {"u": ALICE}
            )
            return [row[0] for row in rows]

    for _ in range(200):  # the purge runs beside polling; give it up to 10 s
        if "old" not in await contents():
            break
        await asyncio.sleep(0.05)
    assert await contents() == ["recent", "Echo: recent", "active", "Echo: active"]


async def test_forgetting_refunds_no_quota_and_lifts_no_limit(make_bot: HarnessFactory) -> None:
    bot = await make_bot(daily_message_limit=5, admin_user_ids=[ADMIN])
    await bot.say(ADMIN, f"/setlimit {ALICE} daily 2")
    await bot.say(ALICE, "one")
    await bot.say(ALICE, "two")
    (refused,) = await bot.say(ALICE, "three")
    assert "daily limit of 2" in refused
    question = await ask_to_forget(bot, ALICE)
    await press(bot, ALICE, f"forget:yes:{ALICE}", question)
    calls = bot.llm.calls
    (still,) = await bot.say(ALICE, "fresh start?")
    assert "daily limit of 2" in still, "a forget is not a new day"
    assert bot.llm.calls == calls

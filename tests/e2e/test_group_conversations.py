"""Issue 27 end to end: a group's shared conversation, replies in context, admins
answered privately, forum topics. Two members, Alice and Bob, with GROUP_CHATS=true."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory

ALICE, BOB, ADMIN = 27_101, 27_202, 27_303
NAMES = {ALICE: "Alice", BOB: "Bob", ADMIN: "Ada"}
GROUP = -100_2727
SECRET = "my private code word is PERIWINKLE"


async def in_group(
    bot: BotHarness, user_id: int, body: str, *, thread_id: int | None = None, **fields: Any
) -> list[str]:
    """Post in the group as the user (mentioning the bot when the text starts with
    @test_bot); return what the bot posted in the group meanwhile."""
    before = len(bot.messages(GROUP))
    message = bot.tg.make_message(
        user_id, body, chat_id=GROUP, chat_type="supergroup", first_name=NAMES[user_id],
        thread_id=thread_id,
    )  # fmt: skip
    if body.startswith("@test_bot"):
        message["entities"] = [{"type": "mention", "offset": 0, "length": len("@test_bot")}]
    bot.tg.push_update({"message": message | fields})
    await bot.settle()
    return [m.text for m in bot.messages(GROUP)[before:]]


def said_to_the_model(bot: BotHarness) -> list[str]:
    """The texts of the last LLM request, system prompt first."""
    return [str(m["content"]) for m in bot.llm.last_request["messages"]]


async def test_members_share_the_groups_conversation_and_no_private_one(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(group_chats=True)
    await bot.say(ALICE, SECRET)
    await in_group(bot, ALICE, "@test_bot the meeting is on Friday")
    replies = await in_group(bot, BOB, "@test_bot when is the meeting?")
    assert replies == ["Echo: Bob: @test_bot when is the meeting?"]
    sent = said_to_the_model(bot)
    assert sent[1:] == [
        "Alice: @test_bot the meeting is on Friday",
        "Echo: Alice: @test_bot the meeting is on Friday",
        "Bob: @test_bot when is the meeting?",
    ], "the group's own exchanges, each question with its asker's name"
    assert not [s for s in sent if "PERIWINKLE" in s], "never anyone's private conversation"
    await bot.say(ALICE, "and privately?")
    private = said_to_the_model(bot)
    assert private[1:] == [SECRET, f"Echo: {SECRET}", "and privately?"], "nor the reverse"


async def test_chatter_not_addressed_to_the_bot_is_neither_answered_nor_stored(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(group_chats=True)
    assert await in_group(bot, ALICE, "just chatting with Bob") == []
    await in_group(bot, BOB, "@test_bot hi")
    assert said_to_the_model(bot)[1:] == ["Bob: @test_bot hi"]


async def test_the_asker_is_counted_and_the_group_trimmed(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(
        group_chats=True, daily_message_limit=1, rate_limit_per_minute=0,
        group_max_history_messages=2,
    )  # fmt: skip
    await in_group(bot, ALICE, "@test_bot one")
    refused = await in_group(bot, ALICE, "@test_bot two")
    assert not [r for r in refused if r.startswith("Echo")], "Alice's own limit applies"
    assert await in_group(bot, BOB, "@test_bot three") == ["Echo: Bob: @test_bot three"]
    assert said_to_the_model(bot)[1:] == [
        "Echo: Alice: @test_bot one", "Bob: @test_bot three",
    ], "the newest 2 messages: GROUP_MAX_HISTORY_MESSAGES"  # fmt: skip
    async with database.session(read_only=True) as session:
        rows = (
            await session.execute(
                text("SELECT author_id, role FROM messages WHERE user_id = :g ORDER BY seq"),
                {"g": GROUP},
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (ALICE, "user"), (ALICE, "assistant"), (BOB, "user"), (BOB, "assistant"),
    ]  # fmt: skip


async def test_only_admins_set_the_groups_role_and_reset_it(make_bot: HarnessFactory) -> None:
    bot = await make_bot(group_chats=True)
    bot.tg.make_admin(GROUP, ADMIN)
    assert await in_group(bot, BOB, "/role You are a pirate.") == [texts.GROUP_ADMINS_ONLY]
    assert await in_group(bot, BOB, "/reset") == [texts.GROUP_ADMINS_ONLY]
    (done,) = await in_group(bot, ADMIN, "/role You are a pirate.")
    assert "Role set" in done
    await in_group(bot, BOB, "@test_bot ahoy")
    assert said_to_the_model(bot)[0] == "You are a pirate."
    (shown,) = await in_group(bot, BOB, "/role")
    assert "You are a pirate." in shown
    (cleared,) = await in_group(bot, ADMIN, "/reset")
    assert "cleared (2 messages)" in cleared
    await in_group(bot, ALICE, "@test_bot fresh start")
    assert said_to_the_model(bot)[1:] == ["Alice: @test_bot fresh start"]
    await bot.say(BOB, "privately")
    assert said_to_the_model(bot)[0] != "You are a pirate.", "the group's role is its own"


async def test_a_reply_and_a_quote_reach_the_model(make_bot: HarnessFactory) -> None:
    bot = await make_bot(group_chats=True)
    await bot.say(ALICE, "the code is 4711")
    answer = bot.messages(ALICE)[-1]
    reply_to: dict[str, Any] = {
        "message_id": answer.message_id,
        "from": {"id": 123456, "is_bot": True, "first_name": "Test bot"},
        "chat": {"id": ALICE, "type": "private", "first_name": "Alice"},
        "date": 0,
        "text": answer.text,
    }
    bot.tg.push_update(
        {"message": bot.tg.make_message(ALICE, "what does it open?", reply_to_message=reply_to)}
    )
    await bot.settle()
    asked = said_to_the_model(bot)[-1]
    assert asked == ("[In reply to Test bot: «Echo: the code is 4711»]\n\nwhat does it open?"), (
        "marked as a reply, before the question"
    )
    quoted = {"text": "4711", "position": 15}
    bot.tg.push_update(
        {
            "message": bot.tg.make_message(
                ALICE, "why this number?", reply_to_message=reply_to, quote=quoted
            )
        }
    )
    await bot.settle()
    assert said_to_the_model(bot)[-1] == "[In reply to Test bot: «4711»]\n\nwhy this number?"
    assert await bot.say(ALICE, "/retry") == [
        "Echo: [In reply to Test bot: «4711»]\n\nwhy this number?"
    ], "stored with the question: /retry has it"


async def test_an_admin_command_in_a_group_reveals_nothing_there(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(group_chats=True, admin_user_ids=[ADMIN])
    bot.tg.start_private_chat(ADMIN)
    shown = await in_group(bot, ADMIN, f"/setlimit {ALICE} daily 5")
    assert shown == [texts.SENT_PRIVATELY]
    shown = await in_group(bot, ADMIN, f"/block {BOB}")
    assert shown == [texts.SENT_PRIVATELY]
    private = bot.tg.texts(ADMIN)
    assert any(str(ALICE) in t and "5" in t for t in private), private
    assert any(str(BOB) in t and "blocked" in t for t in private), private
    group = [t for m in bot.tg.sent if m.chat_id == GROUP for t in (m.text, *m.edits)]
    assert not [t for t in group if str(ALICE) in t or str(BOB) in t], group


async def test_a_forum_topics_answer_stays_in_its_topic(make_bot: HarnessFactory) -> None:
    bot = await make_bot(group_chats=True, chunk_size=5)
    topic = bot.tg.open_topic(GROUP, "Plans")
    other = bot.tg.open_topic(GROUP, "Other")
    await in_group(bot, ALICE, "@test_bot plan the trip", thread_id=topic)
    in_topic = [m for m in bot.tg.sent if m.chat_id == GROUP]
    assert in_topic, "answered"
    assert {m.thread_id for m in in_topic} == {topic}, "every message in the question's topic"
    await in_group(bot, BOB, "@test_bot unrelated", thread_id=other)
    assert said_to_the_model(bot)[1:] == ["Bob: @test_bot unrelated"], "each topic its own"


async def test_forget_deletes_the_users_own_group_messages(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(group_chats=True)
    await in_group(bot, ALICE, "@test_bot remember my birthday")
    await in_group(bot, BOB, "@test_bot hello")
    await bot.say(ALICE, "/forget")
    confirm = bot.messages(ALICE)[-1]
    assert confirm.reply_markup is not None
    data = confirm.reply_markup["inline_keyboard"][0][0]["callback_data"]
    bot.tg.push_callback(ALICE, data, confirm.message_id)
    await bot.settle()
    await in_group(bot, BOB, "@test_bot again")
    assert said_to_the_model(bot)[1:] == [
        "Bob: @test_bot hello", "Echo: Bob: @test_bot hello", "Bob: @test_bot again",
    ]  # fmt: skip

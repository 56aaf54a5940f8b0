"""Issue 31 end to end: memory the user controls (/remember, /memory, MEMORY_TOOL,
MEMORY_MAX_FACTS), through the real bot on both database backends."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_group_conversations import ALICE, BOB, GROUP, in_group
from tests.e2e.test_privacy import ask_to_forget, press

FACT = "I live in Berlin and prefer metric units"


def system_message(bot: BotHarness) -> str:
    """The system message of the last chat request."""
    first = bot.llm.last_request["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


async def stored_facts(database: Database, user_id: int) -> list[tuple[str, str]]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text("SELECT text, source FROM memory_facts WHERE user_id = :u ORDER BY id"),
            {"u": user_id},
        )
        return [(str(r[0]), str(r[1])) for r in rows]


def delete_buttons(bot: BotHarness, user_id: int) -> tuple[int, list[tuple[str, str]]]:
    """The newest /memory listing's message id and its (label, data) buttons."""
    for message in reversed(bot.messages(user_id)):
        markup = message.reply_markup or {}
        rows = markup.get("inline_keyboard") or []
        buttons = [(b["text"], b["callback_data"]) for row in rows for b in row]
        if buttons and buttons[0][1].startswith("mem:"):
            return message.message_id, buttons
    raise AssertionError("no /memory listing with buttons")


async def test_a_fact_reaches_every_new_conversation_and_is_listed_and_deleted(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    (reply,) = await bot.say(ALICE, f"/remember {FACT}")
    assert reply.startswith("🧠 Remembered.")
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, "what units should you use?")
    system = system_message(bot)
    assert system.startswith(bot.settings.default_system_prompt)
    assert f"- {FACT}" in system, "the fact, after the prompt, in the new conversation"
    assert [m["content"] for m in bot.llm.last_request["messages"][1:]] == [
        "what units should you use?"
    ], "the fact is not a history message"
    # Nobody else's requests carry it.
    await bot.say(BOB, "hello")
    assert FACT not in system_message(bot)
    # Said again: kept once.
    (again,) = await bot.say(ALICE, f"/remember   {FACT} ")
    assert "already" in again
    await bot.say(ALICE, "/remember I have a cat named Tom")
    assert await stored_facts(database, ALICE) == [
        (FACT, "command"),
        ("I have a cat named Tom", "command"),
    ]
    (listing,) = await bot.say(ALICE, "/memory")
    assert "Memory is on" in listing
    assert f"1. {FACT}" in listing
    assert "2. I have a cat named Tom" in listing
    message_id, buttons = delete_buttons(bot, ALICE)
    assert len(buttons) == 2
    # Another user cannot press Alice's buttons (forged presses change nothing).
    query = bot.tg.push_callback(BOB, buttons[0][1], message_id, chat_id=ALICE)
    await bot.settle()
    assert bot.tg.callback_answers[query]["text"] == texts.BUTTON_NOT_YOURS
    assert len(await stored_facts(database, ALICE)) == 2
    bot.tg.push_callback(ALICE, buttons[0][1], message_id)
    await bot.settle()
    assert await stored_facts(database, ALICE) == [("I have a cat named Tom", "command")]
    edited = next(m for m in bot.messages(ALICE) if m.message_id == message_id)
    assert FACT not in edited.text
    assert "1. I have a cat named Tom" in edited.text
    # The same button again: expired, nothing else deleted.
    query = bot.tg.push_callback(ALICE, buttons[0][1], message_id)
    await bot.settle()
    assert bot.tg.callback_answers[query]["text"] == texts.BUTTON_EXPIRED
    assert len(await stored_facts(database, ALICE)) == 1
    await bot.say(ALICE, "and now?")
    assert FACT not in system_message(bot)
    assert "I have a cat named Tom" in system_message(bot)


async def test_memory_off_and_on_and_bad_input(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    (usage,) = await bot.say(ALICE, "/remember")
    assert usage.startswith("Usage: /remember")
    (empty,) = await bot.say(ALICE, "/memory")
    assert "don't remember anything" in empty
    await bot.say(ALICE, f"/remember {FACT}")
    (off,) = await bot.say(ALICE, "/memory off")
    assert off.startswith("🧠 Memory off")
    await bot.say(ALICE, "hi")
    assert FACT not in system_message(bot), "memory off: not given to the model"
    (listing,) = await bot.say(ALICE, "/memory")
    assert "Memory is off" in listing, "kept while off"
    assert FACT in listing, "kept while off"
    (noted,) = await bot.say(ALICE, "/remember I like tea")
    assert "/memory on" in noted
    (wrong,) = await bot.say(ALICE, "/memory sideways")
    assert wrong.startswith("Usage: /memory")
    await bot.say(ALICE, "/memory on")
    await bot.say(ALICE, "hi again")
    assert FACT in system_message(bot)
    assert "I like tea" in system_message(bot)
    # A fact too long is cut, and the user is told.
    (cut,) = await bot.say(ALICE, "/remember " + "y" * 400)
    assert "kept its first 300 characters" in cut
    # A fact is one line, however it was typed.
    await bot.say(ALICE, "/remember my\n\nname   is\tAlice")
    await bot.say(ALICE, "hello")
    assert "- my name is Alice" in system_message(bot)


async def test_the_oldest_facts_go_past_memory_max_facts(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(memory_max_facts=2)
    await bot.say(ALICE, "/remember fact one")
    await bot.say(ALICE, "/remember fact two")
    (third,) = await bot.say(ALICE, "/remember fact three")
    assert "1 old fact was forgotten to make room (at most 2 are kept)" in third
    assert [t for t, _ in await stored_facts(database, ALICE)] == ["fact two", "fact three"]


async def test_forget_and_export(make_bot: HarnessFactory, database: Database) -> None:
    bot = await make_bot()
    await bot.say(ALICE, f"/remember {FACT}")
    # Facts alone are something to export.
    await bot.say(ALICE, "/export")
    exported = [
        d for d in bot.tg.documents if d.chat_id == ALICE and (d.filename or "").endswith(".json")
    ]
    data = json.loads(exported[-1].data)
    assert [f["text"] for f in data["memory"]] == [FACT]
    assert data["memory"][0]["source"] == "command"
    markdown = [
        d for d in bot.tg.documents if d.chat_id == ALICE and (d.filename or "").endswith(".md")
    ]
    assert f"- {FACT}" in markdown[-1].data.decode()
    question = await ask_to_forget(bot, ALICE)
    await press(bot, ALICE, f"forget:yes:{ALICE}", question)
    assert await stored_facts(database, ALICE) == []
    await bot.say(ALICE, "who am I?")
    assert FACT not in system_message(bot)


async def test_a_group_never_reads_or_writes_a_members_memory(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(group_chats=True, memory_tool=True)
    await bot.say(ALICE, f"/remember {FACT}")
    await in_group(bot, ALICE, "@test_bot which units?")
    assert FACT not in system_message(bot), "the group's conversation is not Alice's"
    assert "remember" not in {
        t["function"]["name"] for t in bot.llm.last_request.get("tools") or ()
    }, "no memory tool in a group"
    # A change from the group is refused there (nothing stored, nothing echoed).
    posted = await in_group(bot, ALICE, "/remember I am left-handed")
    assert posted == ["🔒 Your memory is changed in our private chat only: send it to me there."]
    assert await stored_facts(database, ALICE) == [(FACT, "command")]
    assert (await in_group(bot, ALICE, "/memory off"))[0].startswith("🔒")
    await bot.say(ALICE, "still on?")
    assert FACT in system_message(bot), "/memory off from the group changed nothing"
    listing_before = len(bot.messages(GROUP))
    await in_group(bot, ALICE, "/memory")
    assert not any(FACT in m.text for m in bot.messages(GROUP)[listing_before:])
    assert any(FACT in m.text for m in bot.messages(ALICE))


async def test_the_model_remembers_with_the_memory_tool(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(memory_tool=True)
    bot.llm.queue_tool_call("remember", {"fact": "The user's name is Alice"})
    (reply,) = await bot.say(ALICE, "I'm Alice, remember that")
    assert reply.startswith("🧠 memory: remember\n\n")
    assert reply.endswith("Tool said: saved")
    asking = bot.llm.requests[-2]
    assert "remember" in {t["function"]["name"] for t in asking["tools"]}
    assert await stored_facts(database, ALICE) == [("The user's name is Alice", "tool")]
    # Both rounds are counted on the answer.
    async with database.session(read_only=True) as session:
        tokens = (
            await session.execute(
                text(
                    "SELECT prompt_tokens + completion_tokens FROM messages"
                    " WHERE user_id = :u AND role = 'assistant'"
                ),
                {"u": ALICE},
            )
        ).scalar_one()
    assert tokens > 0
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, "what's my name?")
    assert "- The user's name is Alice" in system_message(bot)
    # With memory off the tool is not offered.
    await bot.say(ALICE, "/memory off")
    await bot.say(ALICE, "hello")
    assert not bot.llm.last_request.get("tools")


async def test_memory_commands_are_listed(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    (help_text,) = await bot.say(ALICE, "/help")
    assert "/remember" in help_text
    assert "/memory" in help_text


async def test_a_long_memory_is_listed_within_one_message(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    for n in range(15):
        await bot.say(ALICE, f"/remember fact {n:02d} " + "x" * 280)
    (listing,) = await bot.say(ALICE, "/memory")
    assert len(listing) < 4096
    assert "older facts: /export has them all" in listing
    assert "fact 14" in listing, "the newest are listed"
    assert "fact 00" not in listing
    _message_id, buttons = delete_buttons(bot, ALICE)
    assert len(buttons) == len(re.findall(r"fact \d\d", listing))

"""A user's view of the bot, end to end, on both database backends."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from ai_tg_bot.bot import drafts, menus, texts
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.waiting import poll_until_async

ALICE = 111
BOB = 222


def history_of(request: dict[str, object]) -> list[tuple[str, str]]:
    messages = request["messages"]
    assert isinstance(messages, list)
    return [(m["role"], m["content"]) for m in messages]


async def active_rows(database: Database, user_id: int) -> list[tuple[str, str]]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT role, content FROM messages WHERE user_id = :u AND deleted_at IS NULL"
                " ORDER BY seq"
            ),
            {"u": user_id},
        )
        return [(role, content) for role, content in rows]


async def test_start_registers_greets_and_sets_commands(
    bot: BotHarness, database: Database
) -> None:
    replies = await bot.say(ALICE, "/start")
    assert replies == [texts.GREETING]
    assert [c["command"] for c in bot.tg.commands] == [name for name, _ in menus.COMMANDS]
    for command in ["start", "help", "role", "reset", "status", "retry"]:
        assert f"/{command} " in texts.HELP
    async with database.session(read_only=True) as session:
        settings = await session.execute(
            text("SELECT count(*) FROM user_settings WHERE user_id = :u"), {"u": ALICE}
        )
        assert settings.scalar_one() == 1
    assert await bot.say(ALICE, "/help") == [texts.HELP]
    assert bot.llm.calls == 0


async def test_a_turn_sends_prompt_and_history_and_stores_both(
    bot: BotHarness, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drafts, "FIRST_DRAFT_SECONDS", 60.0)  # no machine is that slow
    assert await bot.say(ALICE, "hello there") == ["Echo: hello there"]
    assert history_of(bot.llm.last_request)[0] == (
        "system",
        bot.settings.default_system_prompt,
    )
    assert history_of(bot.llm.last_request)[1:] == [("user", "hello there")]
    assert bot.llm.last_request["stream"] is True
    assert await active_rows(database, ALICE) == [
        ("user", "hello there"),
        ("assistant", "Echo: hello there"),
    ]
    # An instant answer is one message: no placeholder replaced before anyone saw it.
    assert not bot.tg.drafts
    assert not bot.tg.method_calls("editMessageText")


async def test_a_slow_answer_shows_the_thinking_placeholder_with_stop(bot: BotHarness) -> None:
    """A private chat: once the answer takes a moment, the "Thinking…" placeholder (an
    empty draft) with a Stop button, then the answer streamed into the same draft, then
    the message."""
    bot.llm.hold()
    bot.tg.push_text(ALICE, "take your time")
    await bot.tg.wait_for(lambda: bool(bot.tg.drafts), what="the placeholder")
    first = bot.tg.drafts[0]
    assert (first.chat_id, first.text, first.can_stop) == (ALICE, "", True)
    bot.llm.release()
    await bot.settle()
    assert bot.messages(ALICE)[-1].text == "Echo: take your time"
    assert {d.draft_id for d in bot.tg.drafts} == {first.draft_id} != {0}
    assert not bot.tg.method_calls("editMessageText")


async def test_history_survives_a_restart(bot: BotHarness) -> None:
    await bot.say(ALICE, "remember the number 42")
    await bot.restart()
    await bot.say(ALICE, "what was the number?")
    assert history_of(bot.llm.last_request)[1:] == [
        ("user", "remember the number 42"),
        ("assistant", "Echo: remember the number 42"),
        ("user", "what was the number?"),
    ]


async def test_role_sets_shows_and_restores_the_prompt(bot: BotHarness) -> None:
    await bot.say(ALICE, "before the role")
    assert await bot.say(ALICE, "/role You are a pirate.\nSpeak like one.") == [
        "Role set for this conversation. It starts afresh with it; /new ones use the default."
    ]
    await bot.say(ALICE, "ahoy")
    assert history_of(bot.llm.last_request) == [
        ("system", "You are a pirate.\nSpeak like one."),
        ("user", "ahoy"),
    ]
    (shown,) = await bot.say(ALICE, "/role")
    assert "You are a pirate." in shown
    assert "/role default" in shown
    await bot.say(ALICE, "/role default")
    await bot.say(ALICE, "plain again")
    assert history_of(bot.llm.last_request)[0] == ("system", bot.settings.default_system_prompt)


async def test_reset_forgets_history_but_keeps_the_role(bot: BotHarness) -> None:
    await bot.say(ALICE, "/role Be brief.")
    await bot.say(ALICE, "first")
    (reply,) = await bot.say(ALICE, "/reset")
    assert "forgotten" in reply
    await bot.say(ALICE, "second")
    assert history_of(bot.llm.last_request) == [("system", "Be brief."), ("user", "second")]


async def test_status_shows_counts_model_and_role(bot: BotHarness) -> None:
    await bot.say(ALICE, "/role Answer in French.")
    await bot.say(ALICE, "bonjour")
    (status,) = await bot.say(ALICE, "/status")
    assert "Messages in history: 2 of 50" in status
    assert f"Characters in history: {len('bonjour') + len('Echo: bonjour')}" in status
    assert "Model: fake-model" in status
    assert "Role: Answer in French." in status
    assert "UTC" in status


async def test_retry_answers_the_last_message_again(bot: BotHarness, database: Database) -> None:
    bot.llm.queue_reply("first answer")
    await bot.say(ALICE, "question")
    bot.llm.queue_reply("second answer")
    assert await bot.say(ALICE, "/retry") == ["second answer"]
    assert history_of(bot.llm.last_request)[1:] == [("user", "question")]
    assert await active_rows(database, ALICE) == [
        ("user", "question"),
        ("assistant", "second answer"),
    ]
    assert await bot.say(BOB, "/retry") == [texts.NOTHING_TO_RETRY]


async def test_history_is_trimmed_to_the_users_limit(bot: BotHarness, database: Database) -> None:
    await bot.say(ALICE, "/start")
    async with database.session() as session:
        await session.execute(
            text("UPDATE user_settings SET max_history_messages = 3 WHERE user_id = :u"),
            {"u": ALICE},
        )
    for number in range(4):
        await bot.say(ALICE, f"message {number}")
    # The request is built after the question is stored: the limit counts it.
    assert history_of(bot.llm.last_request)[1:] == [
        ("user", "message 2"),
        ("assistant", "Echo: message 2"),
        ("user", "message 3"),
    ]
    assert len(await active_rows(database, ALICE)) == 3


async def test_llm_server_error_is_explained_and_the_message_kept(
    bot: BotHarness, database: Database
) -> None:
    bot.llm.fail_next(500)
    (reply,) = await bot.say(ALICE, "are you there?")
    assert "server error" in reply
    assert "/retry" in reply
    assert await active_rows(database, ALICE) == [("user", "are you there?")]
    assert await bot.say(ALICE, "/retry") == ["Echo: are you there?"]


async def test_llm_rate_limit_is_explained(bot: BotHarness) -> None:
    bot.llm.fail_next(429, retry_after=1)
    (reply,) = await bot.say(ALICE, "hi")
    assert "rate limit" in reply
    assert await bot.say(ALICE, "hi again") == ["Echo: hi again"]


async def test_llm_timeout_ends_the_turn_and_the_bot_goes_on(make_bot: HarnessFactory) -> None:
    # Long enough for the first chunks (and the next answer) on a busy machine.
    bot = await make_bot(llm_timeout_seconds=3)
    bot.llm.queue_reply("The beginning of a long answer that never ends")
    bot.llm.stall_next(30, after_chunks=2)
    replies = await bot.say(ALICE, "slow question")
    assert replies[0].startswith("The beginning"), "what arrived is shown"
    assert "cut off" in replies[-1]
    assert "took too long" in replies[-1]
    assert "/retry" in replies[-1]
    assert await bot.say(ALICE, "quick one") == ["Echo: quick one"]


async def test_telegram_flood_control_is_waited_out(bot: BotHarness) -> None:
    bot.tg.fail_next("sendMessage", status=429, retry_after=1)
    assert await bot.say(ALICE, "/help") == [texts.HELP]
    attempts = bot.tg.method_calls("sendMessage")
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 1.0


async def test_a_10000_character_reply_arrives_whole_in_parts(make_bot: HarnessFactory) -> None:
    # Entity messages (RICH_MESSAGES=off, or where rich messages are refused): 4096 each.
    bot = await make_bot(chunk_size=500, rich_messages="off")
    paragraphs = [f"Paragraph {n}: " + " ".join(["lorem ipsum"] * 40) for n in range(21)]
    long_reply = "\n\n".join(paragraphs)
    assert len(long_reply) > 10_000
    bot.llm.queue_reply(long_reply)
    replies = await bot.say(ALICE, "write a lot")
    assert len(replies) == 3
    assert all(len(part) <= 4096 for part in replies)
    # Cut on paragraph boundaries; Telegram trims the blank line at the end of each part.
    assert "\n\n".join(replies) == long_reply


async def test_markdown_is_rendered_as_telegram_entities(make_bot: HarnessFactory) -> None:
    bot = await make_bot(rich_messages="off")
    bot.llm.queue_reply("**Bold** and `code`:\n\n```python\nprint('hi')\n```")
    await bot.say(ALICE, "format please")
    final = bot.messages(ALICE)[-1]
    assert "**" not in final.text
    assert "`" not in final.text
    types = {entity["type"] for entity in final.entities or []}
    assert {"bold", "code", "pre"} <= types


@pytest.mark.parametrize("rich", ["auto", "off"])
async def test_a_quick_answer_is_one_message_with_no_preview(
    make_bot: HarnessFactory, rich: str
) -> None:
    bot = await make_bot(stream_edit_interval_seconds=60, rich_messages=rich)
    bot.llm.queue_reply("Short and **quick**.")
    assert await bot.say(ALICE, "hi") == ["Short and quick."]
    sent = "sendRichMessage" if rich == "auto" else "sendMessage"
    assert len(bot.tg.method_calls(sent)) == 1
    assert not bot.tg.method_calls("editMessageText")


@pytest.mark.parametrize("final_call", ["sendMessage", "editMessageText"])
async def test_rejected_formatting_falls_back_to_plain_text(
    make_bot: HarnessFactory, final_call: str
) -> None:
    # A quick answer is sent as one message; a slow one replaces its preview by an edit
    # (where a server has no drafts, a private chat streams with edits too).
    bot = await make_bot(stream_edit_interval_seconds=60, rich_messages="off")
    bot.tg.fail_next(final_call, status=400, description="Bad Request: can't parse entities: boom")
    bot.llm.queue_reply("Some **bold** words")
    if final_call == "editMessageText":
        bot.tg.become_older_server()
        bot.llm.hold()  # until the draft was refused and typing shows instead
        bot.tg.push_text(ALICE, "go")
        await bot.tg.wait_for(lambda: bool(bot.tg.actions), what="typing")
        bot.llm.release()  # the first piece is previewed, the rest comes within the interval
        await bot.settle()
        assert [m.text for m in bot.messages(ALICE)] == ["Some bold words"]
    else:
        assert await bot.say(ALICE, "go") == ["Some bold words"]
    assert not bot.messages(ALICE)[-1].entities
    assert bot.tg.method_calls(final_call)


async def test_unsupported_updates_get_a_polite_line(bot: BotHarness) -> None:
    sticker = {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512,
               "height": 512, "is_animated": False, "is_video": False}  # fmt: skip
    assert await bot.push(ALICE, sticker=sticker) == [texts.UNSUPPORTED]
    audio = {"file_id": "a1", "file_unique_id": "u2", "duration": 3}  # music, not voice
    assert await bot.push(ALICE, audio=audio) == [texts.UNSUPPORTED]
    assert await bot.say(ALICE, "/frobnicate") == [texts.UNKNOWN_COMMAND]
    assert await bot.say(ALICE, "/start@other_bot") == []
    assert await bot.say(ALICE, "/help@test_bot") == [texts.HELP]
    assert bot.llm.calls == 0


async def test_a_burst_is_answered_in_order_each_seeing_the_previous(bot: BotHarness) -> None:
    for number in range(5):
        bot.tg.push_text(ALICE, f"burst {number}")
        bot.tg.push_text(BOB, f"bob {number}")
    await bot.settle()
    alice_requests = [r for r in bot.llm.requests if "burst" in str(r["messages"])]
    for number, request in enumerate(alice_requests):
        users = [c for role, c in history_of(request) if role == "user"]
        assert users == [f"burst {n}" for n in range(number + 1)]
        assert all("bob" not in c for _, c in history_of(request))
    assert [m.text for m in bot.messages(ALICE)] == [f"Echo: burst {n}" for n in range(5)]
    assert [m.text for m in bot.messages(BOB)] == [f"Echo: bob {n}" for n in range(5)]


async def test_users_never_see_each_others_messages(bot: BotHarness) -> None:
    await bot.say(ALICE, "/role Alice's secret role")
    await bot.say(ALICE, "alice secret")
    await bot.say(BOB, "bob question")
    assert "alice" not in str(bot.llm.last_request["messages"]).lower()
    (status,) = await bot.say(BOB, "/status")
    assert "Alice" not in status


async def test_shutdown_waits_for_a_turn_in_flight(bot: BotHarness, database: Database) -> None:
    bot.llm.stall_next(1.0, after_chunks=1)
    bot.tg.push_text(ALICE, "slow one")
    await bot.llm.wait_for_requests(1)
    assert bot.app is not None
    await bot.app.stop()  # what SIGTERM does
    await asyncio.wait_for(bot._task, 15)  # type: ignore[arg-type]
    assert await active_rows(database, ALICE) == [
        ("user", "slow one"),
        ("assistant", "Echo: slow one"),
    ]
    bot.app, bot._task = None, None


async def test_a_burst_longer_than_the_history_limit_keeps_every_previous_turn(
    make_bot: HarnessFactory, database: Database
) -> None:
    """Six questions at once with a history limit of 4: each answer saw the turn before."""
    bot = await make_bot(default_max_history_messages=4)
    assert await bot.say(ALICE, "warm up") == ["Echo: warm up"]
    bot.llm.hold()  # the first question of the burst is answered only once all are stored
    for number in range(6):
        bot.tg.push_text(ALICE, f"burst {number}")

    async def pending() -> int:
        async with database.session(read_only=True) as session:
            found = await session.execute(
                text("SELECT count(*) FROM messages WHERE user_id = :u AND status = 'pending'"),
                {"u": ALICE},
            )
            return int(found.scalar_one())

    async def all_stored() -> bool:
        return await pending() == 6

    await poll_until_async(all_stored, 15, lambda: "six questions stored as pending")
    bot.llm.release()
    await bot.settle()
    burst = [r for r in bot.llm.requests if "burst" in str(r["messages"])]
    assert len(burst) == 6
    for number, request in enumerate(burst):
        history = history_of(request)[1:]
        assert len(history) <= 4
        assert history[-1] == ("user", f"burst {number}")
        previous = f"burst {number - 1}" if number else "warm up"
        assert history[-3:-1] == [("user", previous), ("assistant", f"Echo: {previous}")]
    assert [m.text for m in bot.messages(ALICE)][1:] == [f"Echo: burst {n}" for n in range(6)]
    assert len(await active_rows(database, ALICE)) == 4

"""Nothing private in a group: two members, Alice and Bob, with GROUP_CHATS=true.

Commands that show a user's own data (/search, /status, /role, /limits, /export, /forget)
answer in the asker's private chat; the group sees one neutral line, or a link to open
the private chat when the bot may not write there. Buttons answer only their owner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.handlers.search import MAX_PAGE
from ai_tg_bot.db.database import Database
from ai_tg_bot.storage.search import SearchPage, SearchStore
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.telegram import SentMessage

ALICE, BOB = 7301, 7402
NAMES = {ALICE: "Alice", BOB: "Bob"}
GROUP = -100_4242
PROMPT = "You are Alice's tax adviser. Her code word is PERIWINKLE."
SECRET = "my passport number is kiwi 90210"
# What Alice's private answers contain; none of it may reach the group.
PRIVATE_BITS = ("PERIWINKLE", "90210", "passport", "Messages in history", "limits", "Status")
LINK = "https://t.me/test_bot?start=private"
# (/role and /reset in a group are about the group's own conversation: its admins').
PRIVATE_COMMANDS = ["/search kiwi", "/status", "/limits", "/export", "/forget"]


async def in_group(bot: BotHarness, user_id: int, body: str) -> list[str]:
    """Post in the group as the user; return what the bot posted in the group meanwhile."""
    before = len(bot.messages(GROUP))
    message = bot.tg.make_message(
        user_id, body, chat_id=GROUP, chat_type="supergroup", first_name=NAMES[user_id]
    )
    if body.startswith("@test_bot "):  # Telegram marks the mention
        message["entities"] = [{"type": "mention", "offset": 0, "length": len("@test_bot")}]
    bot.tg.push_update({"message": message})
    await bot.settle()
    return [m.text for m in bot.messages(GROUP)[before:]]


def nothing_private_in_the_group(bot: BotHarness) -> None:
    """No text, edit or file the bot put in the group carries any of Alice's data."""
    shown = [text for m in bot.tg.sent if m.chat_id == GROUP for text in (m.text, *m.edits)]
    for bit in PRIVATE_BITS:
        assert not [t for t in shown if bit in t], f"{bit!r} reached the group: {shown}"
    assert [d for d in bot.tg.documents if d.chat_id == GROUP] == []


async def message_count(database: Database, user_id: int) -> int:
    async with database.session(read_only=True) as session:
        found = await session.execute(
            # Hers: in her own conversations, and what she asked in groups' (and its answers).
            text("SELECT count(*) FROM messages WHERE user_id = :u OR author_id = :u"),
            {"u": user_id},
        )
        return int(found.scalar_one())


async def alice_and_bob(make_bot: HarnessFactory) -> BotHarness:
    """A group bot; Alice has a private prompt and a private message, Bob has his own."""
    bot = await make_bot(group_chats=True)
    await bot.say(ALICE, f"/role {PROMPT}")
    assert await bot.say(ALICE, SECRET) == [f"Echo: {SECRET}"]
    await bot.say(BOB, "bob likes kiwi too")
    return bot


@dataclass
class SearchSpy:
    """Records whose searches run, then runs them for real."""

    search: SearchStore
    user_ids: list[int] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> SearchSpy:
        original: Callable[..., Awaitable[SearchPage]] = self.search.search

        async def spy(user_id: int, query: str, **kwargs: Any) -> SearchPage:
            self.user_ids.append(user_id)
            return await original(user_id, query, **kwargs)

        monkeypatch.setattr(self.search, "search", spy)
        return self


def spy_on_search(bot: BotHarness, monkeypatch: pytest.MonkeyPatch) -> SearchSpy:
    assert bot.app is not None
    return SearchSpy(bot.app.dispatcher["deps"].search).install(monkeypatch)


async def press(bot: BotHarness, user_id: int, data: str, message: SentMessage) -> dict[str, Any]:
    """Press a button of `message` as `user_id`; returns the bot's answerCallbackQuery."""
    query_id = bot.tg.push_callback(
        user_id, data, message.message_id, chat_id=message.chat_id, first_name=NAMES[user_id]
    )
    await bot.settle()
    assert query_id in bot.tg.callback_answers, "every button press is answered"
    return bot.tg.callback_answers[query_id]


# ---- each command asked in the group answers in private ----------------------------------


@pytest.mark.parametrize("command", PRIVATE_COMMANDS)
async def test_a_private_answer_asked_for_in_a_group_goes_to_the_private_chat(
    make_bot: HarnessFactory, command: str
) -> None:
    bot = await alice_and_bob(make_bot)
    before = len(bot.messages(ALICE))

    assert await in_group(bot, ALICE, command) == [texts.SENT_PRIVATELY]
    nothing_private_in_the_group(bot)
    (line,) = bot.messages(GROUP)
    assert line.reply_markup is None, "no buttons in the group"
    sent = bot.tg.method_calls("sendMessage")
    reply = next(c.params for c in sent if str(c.params["chat_id"]) == str(GROUP))
    assert reply["reply_parameters"]["message_id"], "the line answers Alice's command"

    private = [m.text for m in bot.messages(ALICE)[before:]]
    if command == "/export":
        files = [d for d in bot.tg.documents if d.chat_id == ALICE]
        assert len(files) == 2
        exported = json.loads(next(d.data for d in files if (d.filename or "").endswith("json")))
        assert exported["system_prompt"] == PROMPT
        assert SECRET in [m["content"] for m in exported["messages"]]
        return
    (answer,) = private
    expected = {
        "/search kiwi": ("🔎 «kiwi»: 2 found", "passport number is «kiwi»"),
        "/status": ("📊 Status", "PERIWINKLE"),
        "/limits": ("📏 Your limits", "Messages per day"),
        "/forget": (texts.FORGET_CONFIRM, texts.FORGET_CONFIRM),
    }[command]
    assert answer.startswith(expected[0])
    assert expected[1] in answer
    if command == "/forget":
        question = bot.messages(ALICE)[-1]
        assert question.reply_markup is not None
        buttons = [row[0]["callback_data"] for row in question.reply_markup["inline_keyboard"]]
        assert buttons == [f"forget:yes:{ALICE}", f"forget:no:{ALICE}"]
        assert (await press(bot, BOB, f"forget:yes:{ALICE}", question)).get("show_alert")
        await press(bot, ALICE, f"forget:no:{ALICE}", question)
        assert bot.messages(ALICE)[-1].text == texts.FORGET_CANCELLED


async def test_all_private_commands_in_a_row_leave_only_neutral_lines(
    make_bot: HarnessFactory,
) -> None:
    bot = await alice_and_bob(make_bot)
    for command in PRIVATE_COMMANDS:
        await in_group(bot, ALICE, command)
    await in_group(bot, BOB, "/status")
    assert bot.tg.texts(GROUP) == [texts.SENT_PRIVATELY] * (len(PRIVATE_COMMANDS) + 1)
    nothing_private_in_the_group(bot)
    assert "bob likes kiwi" not in "\n".join(bot.tg.texts(ALICE))
    assert "Messages in history: 2 of" in bot.tg.texts(BOB)[-1]


async def test_role_in_a_group_is_the_groups_and_never_shows_a_members_prompt(
    make_bot: HarnessFactory,
) -> None:
    """/role in a group is about the group's shared conversation (set by its admins); a
    member's own prompt never appears there, and a member cannot change the group's."""
    bot = await alice_and_bob(make_bot)
    new_prompt = "Answer like a pirate; my account is 12345-SECRET."
    assert await in_group(bot, ALICE, f"/role {new_prompt}") == [texts.GROUP_ADMINS_ONLY]
    (shown,) = await in_group(bot, ALICE, "/role")
    assert shown.startswith("My role in this group")
    assert PROMPT not in shown, "Alice's own role stays private"
    assert all("12345" not in line for line in bot.tg.texts(GROUP))


async def test_search_usage_is_answered_in_place(make_bot: HarnessFactory) -> None:
    bot = await alice_and_bob(make_bot)
    (usage,) = await in_group(bot, ALICE, "/search ?!")
    assert usage.startswith("Usage: /search")


# ---- the bot may not write to the asker privately ---------------------------------------


@pytest.mark.parametrize("command", PRIVATE_COMMANDS)
async def test_a_user_who_never_started_the_bot_gets_a_link_and_loses_nothing(
    make_bot: HarnessFactory, database: Database, command: str
) -> None:
    bot = await make_bot(group_chats=True)
    # Alice talks to the bot only in the group: the bot may not write to her privately.
    assert await in_group(bot, ALICE, "@test_bot remember kiwi 90210") == [
        "Echo: Alice: @test_bot remember kiwi 90210"
    ]
    stored = await message_count(database, ALICE)
    assert stored == 2

    (line,) = await in_group(bot, ALICE, command)
    assert line == texts.open_private_chat(LINK)
    assert bot.tg.texts(ALICE) == []
    assert bot.tg.documents == []
    assert "Messages in history" not in line
    assert await message_count(database, ALICE) == stored, "nothing lost, nothing deleted"

    # She follows the link: /start with its payload greets as usual.
    assert await bot.say(ALICE, "/start private") == [texts.GREETING]
    assert await in_group(bot, ALICE, command) == [texts.SENT_PRIVATELY]
    delivered = bot.tg.texts(ALICE)[1:] + [d.filename or "" for d in bot.tg.documents]
    assert delivered, "the answer reached her private chat"
    assert await message_count(database, ALICE) == stored


async def test_a_user_who_blocked_the_bot_gets_the_link_too(make_bot: HarnessFactory) -> None:
    bot = await alice_and_bob(make_bot)
    sent_before = len(bot.messages(ALICE))
    bot.tg.blocked_by.add(ALICE)
    assert await in_group(bot, ALICE, "/status") == [texts.open_private_chat(LINK)]
    assert len(bot.messages(ALICE)) == sent_before
    nothing_private_in_the_group(bot)


async def test_chat_not_found_gets_the_link(make_bot: HarnessFactory) -> None:
    bot = await alice_and_bob(make_bot)
    bot.tg.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    assert await in_group(bot, ALICE, "/limits") == [texts.open_private_chat(LINK)]
    nothing_private_in_the_group(bot)


# ---- buttons answer only the user they were made for ------------------------------------


async def alice_searched(bot: BotHarness) -> SentMessage:
    """Alice has 14 kiwi hits (3 pages) and asked for them from the group."""
    for number in range(6):
        await bot.say(ALICE, f"kiwi note {number}")
    assert await in_group(bot, ALICE, "/search kiwi") == [texts.SENT_PRIVATELY]
    results = bot.messages(ALICE)[-1]
    assert results.text.startswith("🔎 «kiwi»: 14 found, page 1 of 3")
    assert results.reply_markup is not None
    buttons = results.reply_markup["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"search:{ALICE}:2"]
    return results


async def test_only_alice_can_turn_the_pages_of_her_search(
    make_bot: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await alice_and_bob(make_bot)
    for number in range(6):
        await bot.say(BOB, f"bob's kiwi {number}")
    results = await alice_searched(bot)
    spy = spy_on_search(bot, monkeypatch)

    # Bob presses Alice's button; then forges his own id onto it.
    answer = await press(bot, BOB, f"search:{ALICE}:2", results)
    assert (answer.get("text"), answer.get("show_alert")) == (texts.BUTTON_NOT_YOURS, "true")
    answer = await press(bot, BOB, f"search:{BOB}:2", results)
    assert (answer.get("text"), answer.get("show_alert")) == (texts.SEARCH_EXPIRED, "true")
    assert spy.user_ids == [], "no search ran, as Bob or anyone"
    assert results.edits == []

    # An older release left results with buttons in the group; pressing them shows nothing.
    keyboard = {
        "inline_keyboard": [
            [
                {"text": "Next ▶", "callback_data": "search:2"},
                {"text": "Next ▶", "callback_data": f"search:{ALICE}:2"},
            ]
        ]
    }
    left = bot.tg.add_bot_message(GROUP, "🔎 «kiwi»: 14 found, page 1 of 3", keyboard)
    for user_id, data, alert in [
        (BOB, "search:2", texts.SEARCH_EXPIRED),
        (BOB, f"search:{ALICE}:2", texts.BUTTON_NOT_YOURS),
        (BOB, f"search:{BOB}:2", texts.SEARCH_EXPIRED),
        (ALICE, f"search:{ALICE}:2", texts.SEARCH_EXPIRED),
    ]:
        answer = await press(bot, user_id, data, left)
        assert (answer.get("text"), answer.get("show_alert")) == (alert, "true"), data
    assert left.edits == []
    assert left.text == "🔎 «kiwi»: 14 found, page 1 of 3"
    assert spy.user_ids == []
    nothing_private_in_the_group(bot)

    # Alice's own press in her private chat turns the page.
    answer = await press(bot, ALICE, f"search:{ALICE}:2", results)
    assert not answer.get("show_alert")
    assert spy.user_ids == [ALICE]
    assert results.text.startswith("🔎 «kiwi»: 14 found, page 2 of 3")
    assert "bob" not in results.text
    assert results.reply_markup is not None
    buttons = results.reply_markup["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"search:{ALICE}:1", f"search:{ALICE}:3"]


async def test_bad_search_button_data_is_answered_and_changes_nothing(
    make_bot: HarnessFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await alice_and_bob(make_bot)
    results = await alice_searched(bot)
    spy = spy_on_search(bot, monkeypatch)
    caplog.set_level(logging.WARNING)
    bad = [
        f"search:{ALICE}:0",
        f"search:{ALICE}:-1",
        f"search:{ALICE}:{MAX_PAGE + 1}",
        f"search:{ALICE}:{10**30}",
        f"search:{ALICE}:two",
        f"search:{ALICE}:",
        f"search:{ALICE}:2:3",
        "search:2",  # the format before buttons were bound to their user
        "search:kiwi:2",
        "search:",
    ]
    for data in bad:
        answer = await press(bot, ALICE, data, results)
        assert (answer.get("text"), answer.get("show_alert")) == (texts.SEARCH_EXPIRED, "true")
    answer = await press(bot, ALICE, "no-such-button", results)
    assert (answer.get("text"), answer.get("show_alert")) == (texts.BUTTON_EXPIRED, "true")

    assert spy.user_ids == [], "no database call for bad data"
    assert results.edits == []
    assert texts.INTERNAL_ERROR not in bot.tg.texts(ALICE)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_page_past_the_end_shows_the_last_page(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await alice_and_bob(make_bot)
    results = await alice_searched(bot)
    async with database.session() as session:  # the history shrank since the search
        await session.execute(
            text("DELETE FROM messages WHERE user_id = :u AND content LIKE '%note%'"),
            {"u": ALICE},
        )
    await press(bot, ALICE, f"search:{ALICE}:3", results)
    assert results.text.startswith("🔎 «kiwi»: 2 found, page 1 of 1")
    assert results.reply_markup is None


async def test_retry_in_the_group_never_answers_a_private_question_there(
    make_bot: HarnessFactory,
) -> None:
    bot = await alice_and_bob(make_bot)
    calls = bot.llm.calls
    assert await in_group(bot, ALICE, "/retry") == [texts.NOTHING_TO_RETRY]
    assert bot.llm.calls == calls, "nothing re-asked, nothing spent"
    nothing_private_in_the_group(bot)
    # A question asked in the group (its own conversation) may be retried there.
    asked = "Echo: Alice: @test_bot what is 2+2?"
    assert await in_group(bot, ALICE, "@test_bot what is 2+2?") == [asked]
    assert await in_group(bot, BOB, "/retry") == [asked]
    nothing_private_in_the_group(bot)


async def test_limits_models_and_counts_are_never_named_in_the_group(
    make_bot: HarnessFactory,
) -> None:
    """A refusal naming her limit, /model, /reset's count, an admin's /user and /stats."""
    bot = await make_bot(group_chats=True, daily_message_limit=1, admin_user_ids=[BOB])
    assert await bot.say(ALICE, SECRET) == [f"Echo: {SECRET}"]  # her one message today
    await bot.say(BOB, "hello")
    private_before = len(bot.messages(ALICE))
    # Her limit's notice is shown to her alone, in the group (an ephemeral message).
    assert await in_group(bot, ALICE, "@test_bot one more?") == []
    assert "daily limit of 1" in bot.tg.ephemeral_to(ALICE, GROUP)[0]
    for command in ("/model", "/model gpt-4o-mini"):
        assert await in_group(bot, ALICE, command) == [texts.SENT_PRIVATELY], command
    assert await in_group(bot, ALICE, "/reset") == [texts.GROUP_ADMINS_ONLY]
    for command in (f"/user {ALICE}", "/stats"):
        assert await in_group(bot, BOB, command) == [texts.SENT_PRIVATELY], command
    nothing_private_in_the_group(bot)
    group = "\n".join(bot.tg.texts(GROUP))
    for bit in ("daily limit", "Models", "forgotten", "Tokens", "Messages today"):
        assert bit not in group, bit
    private = [m.text for m in bot.messages(ALICE)[private_before:]]
    assert any(text.startswith("Models:") for text in private)
    assert any("/user" not in t and "Tokens" in t for t in bot.tg.texts(BOB))

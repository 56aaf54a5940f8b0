"""Issue 15 end to end: several conversations per user (ADR 0014), on both backends.

Each topic of a user's private chat is its own conversation, answered in that topic;
outside topics /new starts another conversation and /chats goes back to an earlier one.
History, trimming, /reset and /role are per conversation. The Telegram stand-in refuses
any thread that is not an open topic of the chat, as Telegram does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import SendMessageDraft, SendRichMessage
from aiogram.types import BufferedInputFile, InputRichMessage
from sqlalchemy import text, update

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.handlers.conversations import ConversationCallback
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import Conversation
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.storage import DialogueStore, NewQuestion
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_bot import history_of
from tests.fakes.telegram import THREAD_NOT_FOUND, FakeTelegram, SentAction, SentMessage
from tests.fakes.waiting import poll_until_async

ALICE = 8101
BOB = 8202
GROUP = -100_8383
KIWIS = "Tell me everything you know about kiwis, their origin, their taste and how to grow them"
KIWIS_TITLE = "Tell me everything you know about kiwis, their origin…"  # 60 characters at most
OGG = b"OggS\x00\x02" + bytes(range(200))


# ---- helpers ---------------------------------------------------------------------------
async def ask(
    bot: BotHarness, user_id: int, body: str, thread_id: int | None = None
) -> list[SentMessage]:
    """Write as the user (in a topic of their private chat, with `thread_id`); the
    messages the bot sent them meanwhile."""
    before = len(bot.tg.sent)
    bot.tg.push_text(user_id, body, thread_id=thread_id)
    await bot.settle()
    return [m for m in bot.tg.sent[before:] if m.chat_id == user_id]


async def answered_in(
    bot: BotHarness, user_id: int, question: str, thread_id: int | None
) -> list[str]:
    """Ask; every draft, message and chat action of the answer is in `thread_id`
    (None: outside topics). The texts sent."""
    drafts, actions = len(bot.tg.drafts), len(bot.tg.actions)
    sent = await ask(bot, user_id, question, thread_id)
    assert sent, f"no answer to {question!r}"
    assert [m.thread_id for m in sent] == [thread_id] * len(sent), bot.tg.dump()
    # An instant answer has no draft (drafts.FIRST_DRAFT_SECONDS); any there was is here.
    assert {d.thread_id for d in bot.tg.drafts[drafts:] if d.chat_id == user_id} <= {thread_id}
    assert {a.thread_id for a in bot.tg.actions[actions:] if a.chat_id == user_id} <= {thread_id}
    return [m.text for m in sent]


def request_for(bot: BotHarness, question: str) -> list[tuple[str, str]]:
    """The history (system prompt first) the LLM was sent to answer `question`."""
    found = [history_of(r) for r in bot.llm.requests if history_of(r)[-1] == ("user", question)]
    assert len(found) == 1, f"{len(found)} requests end with {question!r}"
    return found[0]


def exchange(question: str) -> list[tuple[str, str]]:
    """A question and its echoed answer, as they appear in a later request."""
    return [("user", question), ("assistant", f"Echo: {question}")]


async def scalar(database: Database, sql: str, **values: Any) -> Any:
    async with database.session(read_only=True) as session:
        return (await session.execute(text(sql), values)).scalar()


async def active_by_conversation(database: Database, user_id: int) -> dict[int, list[str]]:
    """The user's active messages (not deleted) by conversation id, oldest first."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT conversation_id, content FROM messages"
                " WHERE user_id = :u AND deleted_at IS NULL ORDER BY seq"
            ),
            {"u": user_id},
        )
        found: dict[int, list[str]] = {}
        for conversation_id, content in rows:
            found.setdefault(int(conversation_id), []).append(content)
        return found


async def conversations_of(database: Database, user_id: int) -> list[tuple[int, str | None]]:
    """The user's conversations (id, title), oldest first."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text("SELECT id, title FROM conversations WHERE user_id = :u ORDER BY id"),
            {"u": user_id},
        )
        return [(int(i), title) for i, title in rows]


async def current_of(database: Database, user_id: int) -> int | None:
    found = await scalar(
        database, "SELECT current_conversation_id FROM users WHERE id = :u", u=user_id
    )
    return None if found is None else int(found)


def buttons_of(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of each inline button."""
    assert message.reply_markup is not None, "no buttons"
    rows = message.reply_markup["inline_keyboard"]
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def chats_listing(bot: BotHarness, user_id: int) -> SentMessage:
    """/chats in the private chat (outside topics): its one message."""
    (listing,) = await ask(bot, user_id, "/chats")
    return listing


async def press(
    bot: BotHarness, user_id: int, data: str, message: SentMessage, *, chat_id: int | None = None
) -> dict[str, object]:
    """Press a button as `user_id`; the bot's answerCallbackQuery parameters."""
    query_id = bot.tg.push_callback(user_id, data, message.message_id, chat_id=chat_id)
    await bot.settle()
    assert query_id in bot.tg.callback_answers, "every button press is answered"
    return bot.tg.callback_answers[query_id]


async def topics_bot(make_bot: HarnessFactory, **overrides: Any) -> BotHarness:
    bot = await make_bot(**overrides)
    bot.tg.enable_topics()
    return bot


# ---- the stand-in ----------------------------------------------------------------------
@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(max_poll_seconds=0.5) as fake:
        yield fake


@pytest.fixture
async def client(tg: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    client = Bot(token="123456:TEST", session=session)
    yield client
    await client.session.close()


async def test_the_fake_has_topics_only_where_opened(tg: FakeTelegram, client: Bot) -> None:
    me = await client.get_me()
    assert not me.has_topics_enabled
    with pytest.raises(AssertionError, match="enable_topics"):
        tg.open_topic(ALICE, "Kiwis")
    tg.enable_topics()
    me = await client.get_me()
    assert (me.has_topics_enabled, me.allows_users_to_create_topics) == (True, True)
    tg.start_private_chat(ALICE, BOB)
    topic = tg.open_topic(ALICE, "Kiwis")
    assert tg.topics[ALICE] == {topic: "Kiwis"}

    sent = await client.send_message(ALICE, "in the topic", message_thread_id=topic)
    assert (sent.message_thread_id, sent.is_topic_message) == (topic, True)
    assert tg.sent[-1].thread_id == topic
    outside = await client.send_message(ALICE, "outside topics")
    assert (outside.message_thread_id, outside.is_topic_message) == (None, None)
    assert tg.sent[-1].thread_id is None

    await client.send_chat_action(ALICE, "typing", message_thread_id=topic)
    assert tg.actions[-1] == SentAction(ALICE, topic, "typing")
    assert tg.chat_actions[-1] == (ALICE, "typing"), "the old record is unchanged"
    await client(SendMessageDraft(chat_id=ALICE, message_thread_id=topic, draft_id=7, text="so"))
    assert (tg.drafts[-1].thread_id, tg.drafts[-1].text) == (topic, "so")
    rich = await client(
        SendRichMessage(
            chat_id=ALICE, message_thread_id=topic, rich_message=InputRichMessage(markdown="**a**")
        )
    )
    assert (rich.message_thread_id, tg.sent[-1].thread_id, tg.sent[-1].text) == (topic, topic, "a")
    document = await client.send_document(
        ALICE, BufferedInputFile(b"data", "a.txt"), message_thread_id=topic
    )
    assert (document.message_thread_id, tg.documents[-1].thread_id) == (topic, topic)

    # Any other thread of a private chat is refused: unknown, another chat's, deleted.
    tg.open_topic(BOB, "Bob's first")
    other = tg.open_topic(BOB, "Bob's second")
    assert other not in tg.topics[ALICE]
    calls = len(tg.sent), len(tg.drafts), len(tg.actions), len(tg.documents)
    for thread in (topic + 1000, other):
        with pytest.raises(
            TelegramBadRequest, match=THREAD_NOT_FOUND.removeprefix("Bad Request: ")
        ):
            await client.send_message(ALICE, "lost", message_thread_id=thread)
        with pytest.raises(TelegramBadRequest, match="message thread not found"):
            await client.send_chat_action(ALICE, "typing", message_thread_id=thread)
        with pytest.raises(TelegramBadRequest, match="message thread not found"):
            await client(
                SendMessageDraft(chat_id=ALICE, message_thread_id=thread, draft_id=7, text="x")
            )
        with pytest.raises(TelegramBadRequest, match="message thread not found"):
            await client(
                SendRichMessage(
                    chat_id=ALICE,
                    message_thread_id=thread,
                    rich_message=InputRichMessage(markdown="x"),
                )
            )
        with pytest.raises(TelegramBadRequest, match="message thread not found"):
            await client.send_document(
                ALICE, BufferedInputFile(b"data", "a.txt"), message_thread_id=thread
            )
    assert (len(tg.sent), len(tg.drafts), len(tg.actions), len(tg.documents)) == calls

    # A user's message in the topic says so; a thread never opened cannot be written in.
    incoming = tg.make_message(ALICE, "hello", thread_id=topic)
    assert (incoming["message_thread_id"], incoming["is_topic_message"]) == (topic, True)
    assert "message_thread_id" not in tg.make_message(ALICE, "hello")
    with pytest.raises(AssertionError, match="no open topic"):
        tg.make_message(ALICE, "hello", thread_id=other)
    # A button pressed on a message in a topic: the message still says where it is.
    tg.push_callback(ALICE, "data", sent.message_id)
    (update_,) = await client.get_updates(timeout=0)
    assert update_.callback_query is not None
    pressed = update_.callback_query.message
    assert pressed is not None
    assert pressed.message_thread_id == topic

    tg.delete_topic(ALICE, topic)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await client.send_message(ALICE, "gone", message_thread_id=topic)
    with pytest.raises(AssertionError, match="no open topic"):
        tg.push_text(ALICE, "in a deleted topic", thread_id=topic)
    # A group that is no forum takes threads as given (replies in discussion groups).
    await client.send_message(GROUP, "in a thread", message_thread_id=5)
    assert tg.sent[-1].thread_id == 5


# ---- topics ----------------------------------------------------------------------------
async def test_each_topic_has_its_own_history_and_is_answered_in_it(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await topics_bot(make_bot)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    rockets = bot.tg.open_topic(ALICE, "Rockets")

    assert await answered_in(bot, ALICE, "outside one", None) == ["Echo: outside one"]
    assert await answered_in(bot, ALICE, "kiwi one", kiwis) == ["Echo: kiwi one"]
    assert await answered_in(bot, ALICE, "rocket one", rockets) == ["Echo: rocket one"]
    assert await answered_in(bot, ALICE, "kiwi two", kiwis) == ["Echo: kiwi two"]
    assert await answered_in(bot, ALICE, "outside two", None) == ["Echo: outside two"]
    assert await answered_in(bot, ALICE, "rocket two", rockets) == ["Echo: rocket two"]
    assert await answered_in(bot, ALICE, "kiwi three", kiwis) == ["Echo: kiwi three"]

    prompt = ("system", bot.settings.default_system_prompt)
    assert request_for(bot, "kiwi one") == [prompt, ("user", "kiwi one")]
    assert request_for(bot, "rocket one") == [prompt, ("user", "rocket one")]
    assert request_for(bot, "kiwi two") == [prompt, *exchange("kiwi one"), ("user", "kiwi two")]
    assert request_for(bot, "outside two") == [
        prompt, *exchange("outside one"), ("user", "outside two")
    ]  # fmt: skip
    assert request_for(bot, "rocket two") == [
        prompt, *exchange("rocket one"), ("user", "rocket two")
    ]  # fmt: skip
    assert request_for(bot, "kiwi three") == [
        prompt, *exchange("kiwi one"), *exchange("kiwi two"), ("user", "kiwi three")
    ]  # fmt: skip

    # Three conversations, one per topic and one outside, titled by their first question.
    titles = [title for _, title in await conversations_of(database, ALICE)]
    assert sorted(titles, key=str) == ["kiwi one", "outside one", "rocket one"]
    assert (
        await scalar(
            database,
            "SELECT count(*) FROM conversations WHERE user_id = :u AND telegram_thread_id = :t",
            u=ALICE,
            t=kiwis,
        )
        == 1
    )
    # Bob's private chat has no topics: his answers go outside any.
    assert await answered_in(bot, BOB, "hello", None) == ["Echo: hello"]


async def test_commands_in_a_topic_answer_in_it_and_mean_its_conversation(
    make_bot: HarnessFactory,
) -> None:
    bot = await topics_bot(make_bot)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    await answered_in(bot, ALICE, "outside one", None)
    await answered_in(bot, ALICE, "kiwi one", kiwis)
    await answered_in(bot, ALICE, "kiwi two", kiwis)

    (status,) = await ask(bot, ALICE, "/status", kiwis)
    assert status.thread_id == kiwis
    assert "Messages in history: 4 of 50" in status.text
    (status,) = await ask(bot, ALICE, "/status")
    assert status.thread_id is None
    assert "Messages in history: 2 of 50" in status.text

    (refused,) = await ask(bot, ALICE, "/new", kiwis)
    assert refused.thread_id == kiwis
    assert "each topic is its own conversation" in refused.text

    bot.llm.queue_reply("A second take on kiwis.")
    retried = await ask(bot, ALICE, "/retry", kiwis)
    assert [(m.text, m.thread_id) for m in retried] == [("A second take on kiwis.", kiwis)]
    asked, retried_request = [
        history_of(r) for r in bot.llm.requests if history_of(r)[-1] == ("user", "kiwi two")
    ]
    assert asked[1:] == retried_request[1:] == [*exchange("kiwi one"), ("user", "kiwi two")]


async def test_an_older_server_streams_with_edits_in_the_topic(make_bot: HarnessFactory) -> None:
    """No drafts, no rich messages: typing, the preview and its edits are in the topic."""
    bot = await topics_bot(make_bot, stream_edit_interval_seconds=0.05)
    bot.tg.become_older_server()
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    bot.llm.chunk_size, bot.llm.chunk_delay = 5, 0.05
    bot.llm.queue_reply("Kiwis grow on vines, and they like **warm** summers.")
    bot.llm.hold()  # until the draft was refused and typing shows instead
    bot.tg.push_text(ALICE, "how do kiwis grow?", thread_id=kiwis)
    await bot.tg.wait_for(lambda: bool(bot.tg.actions), what="typing")
    bot.llm.release()
    await bot.settle()
    (answer,) = bot.messages(ALICE)
    assert answer.text == "Kiwis grow on vines, and they like warm summers."
    assert answer.edits, "streamed as a preview edited into the answer"
    assert answer.thread_id == kiwis
    actions = [a for a in bot.tg.actions if a.chat_id == ALICE]
    assert actions, "typing was shown"
    assert {a.thread_id for a in actions} == {kiwis}


async def test_a_voice_question_in_a_topic_is_heard_answered_and_titled_there(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await topics_bot(make_bot, transcription_model="whisper-large")
    rockets = bot.tg.open_topic(ALICE, "Rockets")
    bot.tg.add_file("v1", OGG, "voice/file_1.oga")
    bot.llm.transcript = "how far is the moon?"
    voice = {"file_id": "v1", "file_unique_id": "uv1", "duration": 3, "mime_type": "audio/ogg"}
    before = len(bot.tg.sent)
    message = bot.tg.make_message(ALICE, thread_id=rockets, voice=voice)
    bot.tg.push_update({"message": message})
    await bot.settle()
    sent = [(m.text, m.thread_id) for m in bot.tg.sent[before:]]
    assert sent == [("🎤 how far is the moon?", rockets), ("Echo: how far is the moon?", rockets)]
    assert {d.thread_id for d in bot.tg.drafts} == {rockets}
    assert [title for _, title in await conversations_of(database, ALICE)] == [
        "how far is the moon?"
    ]


async def test_questions_queued_in_several_topics_are_answered_each_in_its_own(
    make_bot: HarnessFactory, database: Database
) -> None:
    """A burst across topics waits on the one per-user turn; each queued question is
    answered with its own conversation's history, in its own topic."""
    bot = await topics_bot(make_bot)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    rockets = bot.tg.open_topic(ALICE, "Rockets")
    await answered_in(bot, ALICE, "kiwi one", kiwis)
    await answered_in(bot, ALICE, "rocket one", rockets)
    sent_before = len(bot.tg.sent)
    bot.llm.hold()
    burst = [("kiwi two", kiwis), ("outside one", None), ("rocket two", rockets)]
    burst += [("kiwi three", kiwis)]
    for question, thread in burst:
        bot.tg.push_text(ALICE, question, thread_id=thread)

    async def all_stored() -> bool:
        found = await scalar(
            database,
            "SELECT count(*) FROM messages WHERE user_id = :u AND status = 'pending'",
            u=ALICE,
        )
        return int(found) == len(burst)

    await poll_until_async(all_stored, 15, lambda: "the burst stored as pending")
    drafts_before = len(bot.tg.drafts)
    await bot.tg.wait_for(lambda: len(bot.tg.drafts) > drafts_before, what="the held one's draft")
    bot.llm.release()
    await bot.settle()
    answers = [(m.text, m.thread_id) for m in bot.tg.sent[sent_before:]]
    assert answers == [(f"Echo: {question}", thread) for question, thread in burst]
    prompt = ("system", bot.settings.default_system_prompt)
    assert request_for(bot, "kiwi two") == [prompt, *exchange("kiwi one"), ("user", "kiwi two")]
    assert request_for(bot, "outside one") == [prompt, ("user", "outside one")]
    assert request_for(bot, "rocket two") == [
        prompt, *exchange("rocket one"), ("user", "rocket two")
    ]  # fmt: skip
    assert request_for(bot, "kiwi three") == [
        prompt, *exchange("kiwi one"), *exchange("kiwi two"), ("user", "kiwi three")
    ]  # fmt: skip
    for index, (question, thread) in enumerate(burst):  # a draft's id is its question's slot
        seq = await scalar(
            database,
            "SELECT seq FROM messages WHERE user_id = :u AND content = :c",
            u=ALICE,
            c=question,
        )
        drafts = [d for d in bot.tg.drafts if d.draft_id == seq]
        assert drafts or index, "the held answer's draft"  # the others were instant
        assert {d.thread_id for d in drafts} <= {thread}, question


async def test_a_stranded_question_in_a_topic_is_answered_in_it(
    make_bot: HarnessFactory, database: Database
) -> None:
    """A question a crashed process left is recovered by the sweep into its topic."""
    bot = await topics_bot(make_bot, turn_lease_seconds=2)  # swept every second
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    await answered_in(bot, ALICE, "kiwi one", kiwis)
    await answered_in(bot, ALICE, "outside one", None)
    storage = DialogueStore(database, bot.settings)
    question = NewQuestion(ALICE, "left behind", ALICE, 9999, telegram_thread_id=kiwis)
    await storage.ask(question, owner="dead:1", lease_seconds=0.01)  # then it "crashed"

    def recovered() -> bool:
        return any(m.text == "Echo: left behind" for m in bot.tg.sent)

    await bot.tg.wait_for(recovered, 30, "the stranded question answered")
    await bot.settle()
    (answer,) = [m for m in bot.tg.sent if m.text == "Echo: left behind"]
    assert answer.thread_id == kiwis
    assert request_for(bot, "left behind")[1:] == [*exchange("kiwi one"), ("user", "left behind")]


async def test_an_answer_for_a_deleted_topic_still_reaches_the_user(
    make_bot: HarnessFactory, database: Database
) -> None:
    """The user deletes the topic while its answer is being written (or Telegram stops
    taking the thread): "message thread not found". The stored answer must still be
    shown, outside topics, rather than lost behind a generic error."""
    bot = await topics_bot(make_bot)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    bot.llm.hold()
    bot.tg.push_text(ALICE, "how do kiwis grow?", thread_id=kiwis)
    await bot.llm.wait_for_requests(1)
    bot.tg.delete_topic(ALICE, kiwis)
    bot.llm.release()
    await bot.settle()
    statuses = await scalar(
        database,
        "SELECT status FROM messages WHERE user_id = :u AND role = 'user'",
        u=ALICE,
    )
    assert statuses == "answered", "the answer was stored"
    shown = [m.text for m in bot.messages(ALICE)]
    assert "Echo: how do kiwis grow?" in shown, f"the stored answer never reached the user: {shown}"
    assert texts.INTERNAL_ERROR not in shown


# ---- trimming --------------------------------------------------------------------------
async def test_the_history_limit_trims_each_conversation_on_its_own(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await topics_bot(make_bot, admin_user_ids=[BOB])
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    rockets = bot.tg.open_topic(ALICE, "Rockets")
    assert await bot.say(BOB, f"/setlimit {ALICE} history 4") == [
        f"The history limit of user {ALICE} is now 4."
    ]
    await answered_in(bot, ALICE, "outside one", None)
    await answered_in(bot, ALICE, "rocket one", rockets)
    for number in range(5):
        await answered_in(bot, ALICE, f"kiwi {number}", kiwis)

    last = request_for(bot, "kiwi 4")
    assert len(last) - 1 <= 4, "the limit holds within the topic"
    assert last[-3:] == [*exchange("kiwi 3"), ("user", "kiwi 4")]
    await answered_in(bot, ALICE, "outside two", None)
    await answered_in(bot, ALICE, "rocket two", rockets)
    prompt = ("system", bot.settings.default_system_prompt)
    assert request_for(bot, "outside two") == [
        prompt, *exchange("outside one"), ("user", "outside two")
    ], "a long topic trimmed nothing outside it"  # fmt: skip
    assert request_for(bot, "rocket two") == [
        prompt, *exchange("rocket one"), ("user", "rocket two")
    ], "nor in another topic"  # fmt: skip

    histories = list((await active_by_conversation(database, ALICE)).values())
    assert sorted(histories) == sorted([
        ["kiwi 3", "Echo: kiwi 3", "kiwi 4", "Echo: kiwi 4"],
        ["outside one", "Echo: outside one", "outside two", "Echo: outside two"],
        ["rocket one", "Echo: rocket one", "rocket two", "Echo: rocket two"],
    ])  # fmt: skip
    trimmed = await scalar(
        database,
        "SELECT count(*) FROM messages WHERE user_id = :u AND deleted_reason = 'trimmed'",
        u=ALICE,
    )
    assert trimmed == 6, "kiwi 0 to 2 and their answers, nothing else"


# ---- /new and /chats -------------------------------------------------------------------
async def test_new_keeps_the_old_conversation_and_chats_goes_back_to_it(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    prompt = ("system", bot.settings.default_system_prompt)
    (reply,) = await bot.say(ALICE, "/new")
    assert reply == "This conversation is new already: just write."
    await bot.say(ALICE, KIWIS)
    await bot.say(ALICE, "and plums?")
    (started,) = await bot.say(ALICE, "/new")
    assert started.startswith("New conversation started.")
    (again,) = await bot.say(ALICE, "/new")
    assert again == "This conversation is new already: just write.", "nothing to keep yet"
    await bot.say(ALICE, "what about rockets?")
    assert request_for(bot, "what about rockets?") == [prompt, ("user", "what about rockets?")]

    (old_id, old_title), (new_id, new_title) = await conversations_of(database, ALICE)
    assert (old_title, new_title) == (KIWIS_TITLE, "what about rockets?")
    active = await active_by_conversation(database, ALICE)
    assert active == {
        old_id: [KIWIS, f"Echo: {KIWIS}", "and plums?", "Echo: and plums?"],
        new_id: ["what about rockets?", "Echo: what about rockets?"],
    }, "the old conversation's messages are all still active"
    assert await current_of(database, ALICE) == new_id

    listing = await chats_listing(bot, ALICE)
    lines = listing.text.splitlines()
    assert lines[0] == "Your conversations, most recent first:"
    assert lines[1].startswith("• what about rockets? (current): 2 messages, ")
    assert lines[2].startswith(f"• {KIWIS_TITLE}: 4 messages, ")
    labels = [label for label, _ in buttons_of(listing)]
    assert labels == ["▶ what about rockets? · 2", "Tell me everything you know about kiwis… · 4"]
    data = [d for _, d in buttons_of(listing)]
    assert data == [
        ConversationCallback(user_id=ALICE, conversation_id=new_id).pack(),
        ConversationCallback(user_id=ALICE, conversation_id=old_id).pack(),
    ]

    answer = await press(bot, ALICE, data[1], listing)
    assert not answer.get("show_alert")
    assert (
        bot.messages(ALICE)[-1].text
        == f"Back in “{KIWIS_TITLE}”. It continues with its own history."
    )
    assert await current_of(database, ALICE) == old_id
    await bot.say(ALICE, "and their price?")
    assert request_for(bot, "and their price?") == [
        prompt, *exchange(KIWIS), *exchange("and plums?"), ("user", "and their price?")
    ]  # fmt: skip
    # And forth again: the rockets conversation goes on without the kiwis.
    await press(bot, ALICE, data[0], listing)
    await bot.say(ALICE, "how high do they fly?")
    assert request_for(bot, "how high do they fly?") == [
        prompt, *exchange("what about rockets?"), ("user", "how high do they fly?")
    ]  # fmt: skip


async def test_chats_buttons_answer_only_their_user_and_their_conversations(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await topics_bot(make_bot)
    await bot.say(ALICE, "alice first")
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, "alice second")
    await bot.say(BOB, "bob's own")
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    await answered_in(bot, ALICE, "in a topic", kiwis)
    alice_first, alice_second, topic_id = [i for i, _ in await conversations_of(database, ALICE)]
    ((bob_id, _),) = await conversations_of(database, BOB)
    listing = await chats_listing(bot, ALICE)
    assert [label for label, _ in buttons_of(listing)] == [
        "▶ alice second · 2",
        "alice first · 2",
    ], "topics are conversations of their own, not listed"
    first_button = buttons_of(listing)[1][1]

    # Bob presses Alice's button (as if he could see it): refused, nothing changes.
    answer = await press(bot, BOB, first_button, listing, chat_id=ALICE)
    assert (answer.get("text"), answer.get("show_alert")) == (texts.BUTTON_NOT_YOURS, "true")
    assert await current_of(database, ALICE) == alice_second
    assert await current_of(database, BOB) == bob_id
    # Alice presses buttons naming conversations that are not hers to switch to.
    for conversation_id in (bob_id, topic_id, 10**12):
        forged = ConversationCallback(user_id=ALICE, conversation_id=conversation_id).pack()
        answer = await press(bot, ALICE, forged, listing)
        assert (answer.get("text"), answer.get("show_alert")) == (texts.BUTTON_EXPIRED, "true")
    # Or Bob's button naming Alice's conversation, pressed by Bob.
    forged = ConversationCallback(user_id=BOB, conversation_id=alice_first).pack()
    bob_listing = await chats_listing(bot, BOB)
    answer = await press(bot, BOB, forged, bob_listing)
    assert (answer.get("text"), answer.get("show_alert")) == (texts.BUTTON_EXPIRED, "true")
    assert await current_of(database, ALICE) == alice_second
    assert await current_of(database, BOB) == bob_id

    await bot.say(ALICE, "alice third")
    assert request_for(bot, "alice third")[1:] == [
        *exchange("alice second"),
        ("user", "alice third"),
    ]
    await bot.say(BOB, "bob again")
    assert request_for(bot, "bob again")[1:] == [*exchange("bob's own"), ("user", "bob again")]
    assert "alice" not in json.dumps([m.text for m in bot.messages(BOB)])


async def test_chats_asked_in_a_group_lists_titles_only_privately(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(group_chats=True)
    await bot.say(ALICE, "my secret plan for the heist")
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, "a second private matter")
    private_before = len(bot.messages(ALICE))
    message = bot.tg.make_message(
        ALICE, "/chats", chat_id=GROUP, chat_type="supergroup", first_name="Alice"
    )
    bot.tg.push_update({"message": message})
    await bot.settle()
    group = [m for m in bot.tg.sent if m.chat_id == GROUP]
    assert [m.text for m in group] == [texts.SENT_PRIVATELY]
    assert all(m.reply_markup is None for m in group), "no buttons in the group"
    (listing,) = bot.messages(ALICE)[private_before:]
    assert "my secret plan for the heist" in listing.text
    assert "a second private matter (current)" in listing.text
    assert len(buttons_of(listing)) == 2


# ---- /reset and /role ------------------------------------------------------------------
async def test_reset_in_a_topic_clears_only_that_topic(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await topics_bot(make_bot)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    rockets = bot.tg.open_topic(ALICE, "Rockets")
    await answered_in(bot, ALICE, "outside one", None)
    await answered_in(bot, ALICE, "kiwi one", kiwis)
    await answered_in(bot, ALICE, "rocket one", rockets)

    (reset,) = await ask(bot, ALICE, "/reset", kiwis)
    assert reset.thread_id == kiwis
    assert "forgotten our dialogue (2 messages)" in reset.text
    histories = sorted((await active_by_conversation(database, ALICE)).values())
    assert histories == [
        ["outside one", "Echo: outside one"],
        ["rocket one", "Echo: rocket one"],
    ]
    prompt = ("system", bot.settings.default_system_prompt)
    await answered_in(bot, ALICE, "kiwi again", kiwis)
    assert request_for(bot, "kiwi again") == [prompt, ("user", "kiwi again")]
    await answered_in(bot, ALICE, "outside two", None)
    assert request_for(bot, "outside two")[1:] == [
        *exchange("outside one"),
        ("user", "outside two"),
    ]
    await answered_in(bot, ALICE, "rocket two", rockets)
    assert request_for(bot, "rocket two")[1:] == [*exchange("rocket one"), ("user", "rocket two")]

    # And /reset outside topics clears only the conversation outside them.
    (reset,) = await ask(bot, ALICE, "/reset")
    assert reset.thread_id is None
    assert "(4 messages)" in reset.text
    await answered_in(bot, ALICE, "rocket three", rockets)
    assert request_for(bot, "rocket three")[1:] == [
        *exchange("rocket one"), *exchange("rocket two"), ("user", "rocket three")
    ]  # fmt: skip


async def test_role_is_set_per_conversation(make_bot: HarnessFactory) -> None:
    bot = await topics_bot(make_bot)
    default = ("system", bot.settings.default_system_prompt)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    rockets = bot.tg.open_topic(ALICE, "Rockets")
    (done,) = await ask(bot, ALICE, "/role You are a pirate.", kiwis)
    assert done.thread_id == kiwis
    assert done.text.startswith("Role set for this conversation.")
    await answered_in(bot, ALICE, "ahoy", kiwis)
    assert request_for(bot, "ahoy")[0] == ("system", "You are a pirate.")
    await answered_in(bot, ALICE, "launch", rockets)
    assert request_for(bot, "launch")[0] == default, "another topic keeps the default"
    await answered_in(bot, ALICE, "plain words", None)
    assert request_for(bot, "plain words")[0] == default, "so does the chat outside topics"
    (shown,) = await ask(bot, ALICE, "/role", kiwis)
    assert "You are a pirate." in shown.text
    assert shown.thread_id == kiwis
    (shown,) = await ask(bot, ALICE, "/role", rockets)
    assert "You are a pirate." not in shown.text

    # Outside topics: a role for the current conversation; /new starts with the default,
    # and going back brings the role back.
    await ask(bot, ALICE, "/role Answer in French.")
    await answered_in(bot, ALICE, "bonjour", None)
    assert request_for(bot, "bonjour") == [("system", "Answer in French."), ("user", "bonjour")]
    await ask(bot, ALICE, "/new")
    await answered_in(bot, ALICE, "hello again", None)
    assert request_for(bot, "hello again") == [default, ("user", "hello again")]
    listing = await chats_listing(bot, ALICE)
    french = next(data for label, data in buttons_of(listing) if label.startswith("bonjour"))
    await press(bot, ALICE, french, listing)
    await answered_in(bot, ALICE, "encore", None)
    assert request_for(bot, "encore") == [
        ("system", "Answer in French."), *exchange("bonjour"), ("user", "encore")
    ]  # fmt: skip
    await answered_in(bot, ALICE, "arr", kiwis)
    assert request_for(bot, "arr")[0] == ("system", "You are a pirate.")


# ---- CONVERSATION_IDLE_MINUTES and TITLE_MODEL -----------------------------------------
async def backdate(database: Database, user_id: int, minutes: int) -> None:
    """The user's conversations were last active `minutes` ago."""
    async with database.session() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.user_id == user_id)
            .values(last_active_at=utc_now() - timedelta(minutes=minutes))
        )


async def test_a_long_silence_opens_a_new_conversation(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await topics_bot(make_bot, conversation_idle_minutes=30)
    prompt = ("system", bot.settings.default_system_prompt)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    await answered_in(bot, ALICE, "before the break", None)
    await answered_in(bot, ALICE, "kiwi before", kiwis)
    await backdate(database, ALICE, 29)
    await answered_in(bot, ALICE, "within the half hour", None)
    assert request_for(bot, "within the half hour")[1:-1] == exchange("before the break")
    assert len(await conversations_of(database, ALICE)) == 2

    await backdate(database, ALICE, 31)
    await answered_in(bot, ALICE, "after the break", None)
    assert request_for(bot, "after the break") == [prompt, ("user", "after the break")]
    await answered_in(bot, ALICE, "kiwi after", kiwis)
    assert request_for(bot, "kiwi after")[1:] == [
        *exchange("kiwi before"), ("user", "kiwi after")
    ], "a topic is its own conversation however long the silence"  # fmt: skip
    titles = [title for _, title in await conversations_of(database, ALICE)]
    assert titles == ["before the break", "kiwi before", "after the break"]
    active = await active_by_conversation(database, ALICE)
    assert sum(len(m) for m in active.values()) == 10, "nothing was deleted"
    listing = await chats_listing(bot, ALICE)
    assert [label for label, _ in buttons_of(listing)] == [
        "▶ after the break · 2",
        "before the break · 4",
    ]


async def test_a_conversation_chosen_after_a_long_silence_takes_the_next_message(
    make_bot: HarnessFactory, database: Database
) -> None:
    """Going back with /chats (or setting a /role, below) is activity: the next message
    goes to the conversation the user just chose, however long it had been silent."""
    bot = await make_bot(conversation_idle_minutes=30)
    await bot.say(ALICE, "old talk")
    await backdate(database, ALICE, 60)
    await bot.say(ALICE, "new talk")
    assert request_for(bot, "new talk")[1:] == [("user", "new talk")]
    await backdate(database, ALICE, 60)
    listing = await chats_listing(bot, ALICE)
    old = next(data for label, data in buttons_of(listing) if label.startswith("old talk"))
    await press(bot, ALICE, old, listing)
    assert bot.messages(ALICE)[-1].text.startswith("Back in “old talk”")
    await bot.say(ALICE, "continuing the old talk")
    assert request_for(bot, "continuing the old talk")[1:] == [
        *exchange("old talk"), ("user", "continuing the old talk")
    ], "the conversation just chosen goes on"  # fmt: skip


async def test_a_role_set_after_a_long_silence_answers_the_next_message(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(conversation_idle_minutes=30)
    await bot.say(ALICE, "old talk")
    await backdate(database, ALICE, 60)
    await bot.say(ALICE, "/role You are a pirate.")
    await bot.say(ALICE, "ahoy")
    assert request_for(bot, "ahoy") == [("system", "You are a pirate."), ("user", "ahoy")], (
        "the role just set is the one answering"
    )


async def test_the_title_model_names_a_conversation_after_its_first_answer(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(title_model="title-model")
    titled: list[dict[str, Any]] = []

    def responder(request: dict[str, Any]) -> str:
        messages = request["messages"]
        if str(messages[0]["content"]).startswith("Name this conversation"):
            titled.append(request)
            return "«Growing kiwis at home»"
        return "Echo: " + str(messages[-1]["content"])

    bot.llm.responder = responder
    assert await bot.say(ALICE, KIWIS) == [f"Echo: {KIWIS}"]

    async def named() -> bool:
        return [t for _, t in await conversations_of(database, ALICE)] == ["Growing kiwis at home"]

    await poll_until_async(named, 10, lambda: "the title model's title stored")
    (request,) = titled
    assert request["model"] == "title-model"
    assert KIWIS in request["messages"][-1]["content"]
    assert f"Echo: {KIWIS}" in request["messages"][-1]["content"]
    await bot.say(ALICE, "and plums?")
    await bot.settle()
    assert len(titled) == 1, "named once, after the first answer only"
    assert request_for(bot, "and plums?")[1:] == [*exchange(KIWIS), ("user", "and plums?")]
    assert "Growing kiwis" not in json.dumps(bot.llm.requests[-1]), "titles stay out of context"
    listing = await chats_listing(bot, ALICE)
    assert "• Growing kiwis at home (current): 4 messages" in listing.text
    assert [label for label, _ in buttons_of(listing)] == ["▶ Growing kiwis at home · 4"]


# ---- /export ---------------------------------------------------------------------------
async def test_export_groups_messages_by_conversation(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await topics_bot(make_bot)
    kiwis = bot.tg.open_topic(ALICE, "Kiwis")
    await answered_in(bot, ALICE, "outside first", None)
    await answered_in(bot, ALICE, "kiwi question", kiwis)
    await answered_in(bot, ALICE, "outside second", None)
    await ask(bot, ALICE, "/new")
    await answered_in(bot, ALICE, KIWIS, None)
    (outside, _), (topic, _), (newer, _) = await conversations_of(database, ALICE)

    await ask(bot, ALICE, "/export")
    files = {d.filename or "": d for d in bot.tg.documents if d.chat_id == ALICE}
    markdown = next(d for name, d in files.items() if name.endswith(".md")).data.decode()
    data = json.loads(next(d for name, d in files.items() if name.endswith(".json")).data)

    headings = [line for line in markdown.splitlines() if line.startswith("### 💬 ")]
    assert headings == ["### 💬 outside first", "### 💬 kiwi question", f"### 💬 {KIWIS_TITLE}"]
    sections = markdown.split("### 💬 ")[1:]
    assert "outside second" in sections[0]
    assert "kiwi question" not in sections[0]
    assert "kiwi question" in sections[1]
    assert "outside" not in sections[1]
    assert KIWIS in sections[2]
    assert "outside" not in sections[2]

    listed = {c["id"]: c for c in data["conversations"]}
    assert list(listed) == [outside, topic, newer]
    assert [c["title"] for c in listed.values()] == ["outside first", "kiwi question", KIWIS_TITLE]
    assert [c["telegram_thread_id"] for c in listed.values()] == [None, kiwis, None]
    by_conversation: dict[int, list[str]] = {}
    for message in data["messages"]:
        by_conversation.setdefault(message["conversation_id"], []).append(message["content"])
    assert by_conversation == {
        outside: ["outside first", "Echo: outside first", "outside second", "Echo: outside second"],
        topic: ["kiwi question", "Echo: kiwi question"],
        newer: [KIWIS, f"Echo: {KIWIS}"],
    }
    assert data["message_count"] == 8


async def test_the_title_model_is_asked_once_even_with_a_history_of_one(
    make_bot: HarnessFactory, database: Database
) -> None:
    """With max_history_messages = 1 every context holds one message: the first exchange is
    told by the stored title, not by the context's size (no request, no rename, per turn)."""
    bot = await make_bot(title_model="title-model", default_max_history_messages=1)
    titled: list[str] = []

    def responder(request: dict[str, Any]) -> str:
        messages = request["messages"]
        if str(messages[0]["content"]).startswith("Name this conversation"):
            titled.append(str(messages[-1]["content"]))
            return f"Title {len(titled)}"
        return "Echo: " + str(messages[-1]["content"])

    bot.llm.responder = responder
    await bot.say(ALICE, KIWIS)
    for question in ("and plums?", "and pears?"):
        await bot.say(ALICE, question)
    await bot.settle()
    assert len(titled) == 1, titled
    assert [t for _, t in await conversations_of(database, ALICE)] == ["Title 1"]
    await bot.say(ALICE, "/reset")
    await bot.say(ALICE, "figs, then")
    await bot.settle()
    assert len(titled) == 2, "a cleared conversation is named again by its next first answer"
    assert [t for _, t in await conversations_of(database, ALICE)] == ["Title 2"]

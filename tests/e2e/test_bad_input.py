"""Bad input gets a clear answer and loses nothing: issue 5's table, one test per row.

Each test drives the real bot (aiogram over HTTP) against the loopback Telegram and LLM,
on both database backends, and checks three things: what the user sees, what the LLM was
sent (the system prompt first, then the text verbatim) and what the `messages` table holds.
A row's variants are subtests on one running bot, each from a user of its own, so they
cannot disturb each other and the file stays quick.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.handlers.documents import UNSUPPORTED_DOCUMENT
from ai_tg_bot.db.database import Database
from ai_tg_bot.i18n import _
from tests.e2e.conftest import TOKEN, BotHarness, HarnessFactory
from tests.fakes.telegram import utf16_len

ALICE = 111
BOB = 222
FIRST_USER = 1000  # variants of a row write as FIRST_USER, FIRST_USER + 1, ...
GROUP = -100_123
OTHER_GROUP = -100_456
BOT_ID = int(TOKEN.split(":")[0])  # Telegram (and FakeTelegram) take it from the token
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "TestBot", "username": "test_bot"}
TELEGRAM_LIMIT = 4096
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{4,32}(?![\w@])")


@dataclass(frozen=True)
class Row:
    """One row of `messages`, soft-deleted or not."""

    role: str
    content: str
    active: bool
    telegram_chat_id: int | None
    telegram_message_id: int | None


async def authored_rows(database: Database, user_id: int) -> list[Row]:
    """What a member asked in groups' conversations (and the answers), in order."""
    async with database.session(read_only=True) as session:
        result = await session.execute(
            text(
                "SELECT role, content, deleted_at IS NULL, telegram_chat_id, telegram_message_id"
                " FROM messages WHERE author_id = :u ORDER BY seq, created_at"
            ),
            {"u": user_id},
        )
        return [Row(r[0], r[1], bool(r[2]), r[3], r[4]) for r in result]


async def rows_of(database: Database, user_id: int) -> list[Row]:
    """Every stored message of a user, soft-deleted ones included, in dialogue order."""
    async with database.session(read_only=True) as session:
        result = await session.execute(
            text(
                "SELECT role, content, deleted_at IS NULL, telegram_chat_id, telegram_message_id"
                " FROM messages WHERE user_id = :u ORDER BY seq, created_at"
            ),
            {"u": user_id},
        )
        return [Row(r[0], r[1], bool(r[2]), r[3], r[4]) for r in result]


async def contents_of(database: Database, user_id: int) -> list[tuple[str, str]]:
    """(role, content) of a user's active messages."""
    return [(r.role, r.content) for r in await rows_of(database, user_id) if r.active]


async def message_count(database: Database) -> int:
    """All rows of `messages`, whoever they belong to."""
    async with database.session(read_only=True) as session:
        return int((await session.execute(text("SELECT count(*) FROM messages"))).scalar_one())


def history_of(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, content) of the messages one LLM request carried."""
    messages = request["messages"]
    assert isinstance(messages, list)
    return [(m["role"], m["content"]) for m in messages]


def assert_sent_to_llm(bot: BotHarness, content: str) -> None:
    """The last LLM request was the system prompt, then exactly this one user message."""
    assert history_of(bot.llm.last_request) == [
        ("system", bot.settings.default_system_prompt),
        ("user", content),
    ]


async def assert_one_turn(
    bot: BotHarness, database: Database, user_id: int, sent: str, kept: str, shown: str = ""
) -> None:
    """`sent` reached the LLM and the database as `kept`, and one reply came back.

    The reply is `shown` when given, else the echo verbatim.
    """
    calls = bot.llm.calls
    assert await bot.say(user_id, sent) == [shown or f"Echo: {kept}"]
    assert bot.llm.calls == calls + 1
    assert_sent_to_llm(bot, kept)
    assert await contents_of(database, user_id) == [("user", kept), ("assistant", f"Echo: {kept}")]


async def assert_nothing_stored(bot: BotHarness, database: Database) -> None:
    """No LLM call at all and not a single stored message, anyone's."""
    assert bot.llm.calls == 0
    assert await message_count(database) == 0


def assert_rejoins(parts: list[str], whole: str) -> None:
    """The parts are `whole` in order, each within the limit; only whitespace at a cut is gone.

    Telegram trims the whitespace around each message it is sent, so a cut at a space
    loses that space and nothing else.
    """
    position = 0
    for index, part in enumerate(parts):
        assert part.strip(), f"part {index} is blank"
        assert utf16_len(part) <= TELEGRAM_LIMIT, f"part {index}: {utf16_len(part)} units"
        while not whole.startswith(part, position) and whole[position : position + 1].isspace():
            position += 1
        assert whole.startswith(part, position), f"part {index} is not the next piece of the text"
        position += len(part)
    assert not whole[position:].strip(), f"{len(whole) - position} characters were lost at the end"


def with_mentions(message: dict[str, Any]) -> dict[str, Any]:
    """Add the `mention` entities Telegram would mark in the message's text or caption."""
    key = "text" if "text" in message else "caption"
    body = message.get(key) or ""
    entities = [
        {"type": "mention", "offset": utf16_len(body[: m.start()]), "length": utf16_len(m[0])}
        for m in _MENTION.finditer(body)
    ]
    if not entities:
        return message
    field = "entities" if key == "text" else "caption_entities"
    return message | {field: [*message.get(field, []), *entities]}


def group_message(
    bot: BotHarness,
    user_id: int,
    body: str | None,
    *,
    chat_id: int = GROUP,
    chat_type: str = "group",
    **fields: Any,
) -> dict[str, Any]:
    """A message from a user in a group, with the entities Telegram would add."""
    message = bot.tg.make_message(user_id, body, chat_id=chat_id, chat_type=chat_type, **fields)
    return with_mentions(message)


def reply_to(
    author: dict[str, Any], chat_id: int = GROUP, chat_type: str = "group"
) -> dict[str, Any]:
    """The `reply_to_message` of a reply to an earlier message by `author`."""
    chat = {"id": chat_id, "type": chat_type, "title": "Test group"}
    return {"message_id": 1, "from": author, "chat": chat, "date": int(time.time()),
            "text": "An earlier message"}  # fmt: skip


# ---- NUL and other control characters ----------------------------------------------------


async def test_nul_characters_are_dropped_and_the_rest_kept_verbatim(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    cases = {
        "inside": ("before\x00after", "beforeafter"),
        "everywhere": ("\x00leading, trailing, dou\x00\x00bled\x00", "leading, trailing, doubled"),
        "before-a-newline": ("line one\x00\nline two", "line one\nline two"),
    }
    for user_id, (case, (sent, kept)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            await assert_one_turn(bot, database, user_id, sent, kept)
            assert "\x00" not in str(bot.llm.last_request)


async def test_a_message_of_only_nul_or_whitespace_gets_the_empty_line(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    cases = {
        "one-nul": "\x00",
        "nuls": "\x00\x00\x00",
        "spaces": "   ",
        "whitespace": "\n\t \u3000\n",
        "nuls-and-whitespace": "\x00 \x00\n",
    }
    for user_id, (case, sent) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            assert await bot.say(user_id, sent) == [texts.EMPTY_MESSAGE]
            await assert_nothing_stored(bot, database)
    # The bot goes on as usual afterwards.
    await assert_one_turn(bot, database, ALICE, "and now some text", "and now some text")


async def test_other_control_characters_are_kept_verbatim(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    cases = {
        "c0": "start\x01\x02\x03\x04\x05\x06\x07\x08 end",
        "ansi-escapes": "\x1b[31mred\x1b[0m and \x1b]0;title\x07",
        "del-and-c1": "delete\x7fme and \x80\x9f",
        "zero-width": "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060wj",
        "separators": "line\u2028separator\u2029paragraph\x0bvertical\x0cfeed",
    }
    for user_id, (case, sent) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            await assert_one_turn(bot, database, user_id, sent, sent)


# ---- length and Unicode -------------------------------------------------------------------


def _fill(pattern: str, units: int) -> str:
    """`pattern` repeated to exactly `units` UTF-16 units, ending in a visible character."""
    body = pattern * (units // utf16_len(pattern) + 1)
    while utf16_len(body) > units:
        body = body[:-1]
    body = body[:-1] + "x" if body[-1].isspace() else body
    assert utf16_len(body) == units
    return body


async def test_a_4096_unit_message_is_kept_whole_and_its_echo_arrives_in_parts(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    bot = await make_bot(chunk_size=1000, rich_messages="off")  # entity messages: 4096 each
    cases = {
        "words": _fill("lorem ipsum dolor sit amet. ", TELEGRAM_LIMIT),
        "one-long-word": "x" * TELEGRAM_LIMIT,
        "cyrillic": _fill("Привет, мир! ", TELEGRAM_LIMIT),
        "astral-emoji": "😀" * (TELEGRAM_LIMIT // 2),  # 2048 characters, 4096 UTF-16 units
        "lines": _fill("a line of text\n", TELEGRAM_LIMIT),
    }
    for user_id, (case, sent) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            assert utf16_len(sent) == TELEGRAM_LIMIT
            echo = f"Echo: {sent}"
            replies = await bot.say(user_id, sent)
            assert len(replies) >= 2, "the echo is over the limit: it must be split"
            assert_rejoins(replies, echo)
            assert_sent_to_llm(bot, sent)
            assert await contents_of(database, user_id) == [("user", sent), ("assistant", echo)]
    assert bot.llm.calls == len(cases)


async def test_emoji_combining_marks_and_right_to_left_text_round_trip(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    cases = {
        "zwj-flags-modifiers": "family 👨‍👩‍👧‍👦, pride 🏳️‍🌈, flags 🇺🇦🇯🇵🇧🇷, tone 👍🏽, keycap 1️⃣",
        "astral": "astral: \U0001d573\U0001d58a\U0001d591\U0001d591\U0001d594 𐍈 𓀀 🀄 😀",
        "combining-marks": "decomposed e\u0301 a\u0308 (not NFC), Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇, क्षि",
        "hebrew": "שלום עולם, מה שלומך?",
        "arabic": "مرحبا بالعالم! كيف حالك؟",
        "bidi-controls": "a \u202eoverride\u202c \u202dforce\u202c \u2067isolate\u2069"
        " \u200fRLM \u200eLRM עב",
    }
    for user_id, (case, sent) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            await assert_one_turn(bot, database, user_id, sent, sent)


# ---- SQL-looking text ---------------------------------------------------------------------


async def test_sql_looking_text_is_stored_verbatim_and_the_tables_survive(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    cases = {
        "drop-table": ("'); DROP TABLE messages; --", ""),
        "delete-where": ("Robert'); DELETE FROM users WHERE ('1'='1", ""),
        "placeholders": ("%s %(content)s %% $1 $$ ? :name {0}", ""),
        "quotes-and-comments": ('" OR ""=" ; SELECT pg_sleep(1); /* comment', ""),
        # The echo is the LLM's Markdown, where a backslash escapes punctuation: `\\` shows
        # as `\` and `\'` as `'`. What is stored and sent to the LLM stays verbatim.
        "backslashes": ("C:\\\\path\\\\to \\ \\n \\x00 \\'", "Echo: C:\\path\\to \\ \\n \\x00 '"),
    }
    for user_id, (case, (sent, shown)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            # The LLM request is built from the stored rows: the text made the round trip.
            await assert_one_turn(bot, database, user_id, sent, sent, shown)
    users = len(cases)
    async with database.session(read_only=True) as session:
        for table, count in (("users", users), ("user_settings", users), ("messages", 2 * users)):
            found = await session.execute(text(f"SELECT count(*) FROM {table}"))
            assert found.scalar_one() == count, table


# ---- commands -----------------------------------------------------------------------------


async def test_an_unknown_command_gets_a_clear_line(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    cases = {
        "bare": "/frobnicate",
        "with-arguments": "/frobnicate some arguments",
        "own-mention": "/frobnicate@test_bot",
        "own-mention-any-case": "/Frob@TEST_BOT now",
    }
    for user_id, (case, sent) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            assert await bot.say(user_id, sent) == [texts.UNKNOWN_COMMAND]
            await assert_nothing_stored(bot, database)


async def test_a_command_for_another_bot_gets_no_reply_and_changes_nothing(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    await bot.say(ALICE, "remember me")
    before = await rows_of(database, ALICE)
    for case in ["/start@otherbot", "/help@someone_else_bot", "/frobnicate@otherbot",
                 "/reset@otherbot", "/retry@otherbot", "/role@otherbot be a cat"]:  # fmt: skip
        with subtests.test(case):
            assert await bot.say(ALICE, case) == []
            assert bot.llm.calls == 1
            assert await rows_of(database, ALICE) == before


async def test_a_command_mentioning_this_bot_works(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    cases = {
        "/help@test_bot": texts.HELP,
        "/help@TEST_BOT": texts.HELP,
        "/start@test_bot": texts.GREETING,
    }
    for user_id, (sent, expected) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(sent):
            assert await bot.say(user_id, sent) == [expected]
    await assert_nothing_stored(bot, database)


# ---- edited messages ----------------------------------------------------------------------


async def test_an_edited_message_gets_a_note_and_changes_nothing(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    await bot.say(ALICE, "original text")
    before = await rows_of(database, ALICE)
    known = before[0].telegram_message_id
    assert known is not None
    for case, message_id in {"answered-message": known, "unknown-message": 999}.items():
        with subtests.test(case):
            edited = bot.tg.make_message(
                ALICE, "edited text", message_id=message_id, edit_date=int(time.time())
            )
            sent = len(bot.tg.texts(ALICE))
            bot.tg.push_update({"edited_message": edited})
            await bot.settle()
            assert bot.tg.texts(ALICE)[sent:] == [texts.EDITED]
            assert bot.llm.calls == 1
            assert await rows_of(database, ALICE) == before


# ---- groups and channels ------------------------------------------------------------------


async def test_group_messages_are_ignored_by_default(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    for chat_id, chat_type in [(GROUP, "group"), (OTHER_GROUP, "supergroup")]:
        with subtests.test(chat_type):
            messages: list[tuple[str | None, dict[str, Any]]] = [
                ("hello everyone", {}),
                ("@test_bot are you there?", {}),
                ("/help", {}),
                ("/start@test_bot", {}),
                ("an answer", {"reply_to_message": reply_to(BOT_USER, chat_id, chat_type)}),
                (None, {"photo": PHOTO, "caption": "@test_bot look"}),
            ]
            for body, extra in messages:
                message = group_message(
                    bot, ALICE, body, chat_id=chat_id, chat_type=chat_type, **extra
                )
                bot.tg.push_update({"message": message})
            edited = group_message(
                bot, ALICE, "@test_bot edited", chat_id=chat_id, chat_type=chat_type, edit_date=1
            )
            bot.tg.push_update({"edited_message": edited})
            await bot.settle()
            assert bot.tg.texts(chat_id) == []
            assert bot.tg.texts(ALICE) == []
            await assert_nothing_stored(bot, database)


async def test_with_group_chats_an_unaddressed_group_message_is_ignored(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    bot = await make_bot(group_chats=True)
    person = {"id": BOB, "is_bot": False, "first_name": "Bob"}
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "plain": ("just chatting with friends", {}),
        "reply-to-a-person": ("I agree", {"reply_to_message": reply_to(person)}),
        "edited": ("fixed a typo", {"edit_date": int(time.time())}),
    }
    for user_id, (case, (body, extra)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            kind = "edited_message" if "edit_date" in extra else "message"
            bot.tg.push_update({kind: group_message(bot, user_id, body, **extra)})
            await bot.settle()
            assert bot.tg.texts(GROUP) == []
            assert bot.tg.texts(user_id) == []
            await assert_nothing_stored(bot, database)


async def test_with_group_chats_a_mention_of_someone_else_is_not_for_the_bot(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(group_chats=True)
    for user_id, body in enumerate(["ask @test_bot_fan", "thanks, @Test_Botanist!"], FIRST_USER):
        bot.tg.push_update({"message": group_message(bot, user_id, body)})
    await bot.settle()
    assert bot.tg.texts(GROUP) == []
    await assert_nothing_stored(bot, database)


async def test_with_group_chats_an_addressed_group_message_is_answered_in_the_group(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    bot = await make_bot(group_chats=True)
    cases: dict[str, tuple[str, str, dict[str, Any]]] = {
        "mention-group": ("group", "@test_bot what is 2+2?", {}),
        "mention-supergroup": ("supergroup", "Hey @Test_Bot, what is 2+2?", {}),
        "reply-group": ("group", "and 3+3?", {"reply_to_message": reply_to(BOT_USER)}),
        "reply-supergroup": (
            "supergroup",
            "and 4+4?",
            {"reply_to_message": reply_to(BOT_USER, GROUP, "supergroup")},
        ),
    }
    for user_id, (case, (chat_type, body, extra)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            message = group_message(bot, user_id, body, chat_type=chat_type, **extra)
            answered = len(bot.tg.texts(GROUP))
            bot.tg.push_update({"message": message})
            await bot.settle()
            # The group's shared conversation: the asker's name before their words, and
            # the replied-to message before that (ADR 0019).
            asked = f"User: {body}"
            if "reply_to_message" in extra:
                asked = f"[In reply to TestBot: «An earlier message»]\n\n{asked}"
            assert bot.tg.texts(GROUP)[answered:] == [f"Echo: {asked}"]
            assert bot.tg.texts(user_id) == []
            assert history_of(bot.llm.last_request)[-1] == ("user", asked)
            rows = await authored_rows(database, user_id)
            assert [(r.role, r.content) for r in rows] == [
                ("user", asked),
                ("assistant", f"Echo: {asked}"),
            ]
            assert (rows[0].telegram_chat_id, rows[0].telegram_message_id) == (
                GROUP,
                message["message_id"],
            )
            # The user's own dialogue is apart: the group's exchange is not in it.
            assert await bot.say(user_id, "and in private?") == ["Echo: and in private?"]
            assert history_of(bot.llm.last_request)[1:] == [("user", "and in private?")]


async def test_with_group_chats_commands_in_a_group_follow_their_mention(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(group_chats=True)
    for body in ["/help", "/help@test_bot", "/help@otherbot", "/frobnicate@otherbot"]:
        bot.tg.push_update({"message": group_message(bot, ALICE, body)})
        await bot.settle()
    assert bot.tg.texts(GROUP) == [texts.HELP, texts.HELP]
    assert bot.tg.texts(ALICE) == []
    await assert_nothing_stored(bot, database)


async def test_channel_posts_are_ignored(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    channel: dict[str, Any] = {"id": -100_999, "type": "channel", "title": "News"}
    post = {"message_id": 7, "sender_chat": channel, "chat": channel, "date": int(time.time()),
            "text": "@test_bot summarise the news"}  # fmt: skip
    for group_chats in (False, True):
        with subtests.test(group_chats=group_chats):
            bot = await make_bot(group_chats=group_chats)
            bot.tg.push_update({"channel_post": post})
            bot.tg.push_update({"edited_channel_post": post | {"edit_date": int(time.time())}})
            # A channel's message, were it ever delivered as a plain message, is dropped too.
            bot.tg.push_update({"message": post | {"message_id": 8}})
            await bot.settle()
            assert bot.tg.sent == []
            await assert_nothing_stored(bot, database)


async def test_anonymous_admins_of_different_groups_do_not_share_a_dialogue(
    make_bot: HarnessFactory, database: Database
) -> None:
    # Telegram sends an anonymous admin's message "from" GroupAnonymousBot, the same user
    # in every group, with the group itself as sender_chat.
    anonymous: dict[str, Any] = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                 "username": "GroupAnonymousBot"}  # fmt: skip
    bot = await make_bot(group_chats=True)
    for chat_id, body in [(GROUP, "@test_bot secret of group A"), (OTHER_GROUP, "@test_bot hi")]:
        chat = {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
        message = group_message(bot, anonymous["id"], body, chat_id=chat_id)
        bot.tg.push_update({"message": message | {"from": anonymous, "sender_chat": chat,
                                                  "chat": chat}})  # fmt: skip
        await bot.settle()
    for request in bot.llm.requests:
        if "@test_bot hi" in str(request["messages"]):
            assert "secret" not in str(request["messages"])


# ---- forwarded messages and media ---------------------------------------------------------


async def test_a_forwarded_message_is_answered_like_text(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    origins: dict[str, dict[str, Any]] = {
        "user": {"type": "user", "sender_user": {"id": 9, "is_bot": False, "first_name": "C"}},
        "hidden-user": {"type": "hidden_user", "sender_user_name": "Dave"},
        "chat": {"type": "chat", "sender_chat": {"id": -100_777, "type": "group", "title": "G"}},
        "channel": {"type": "channel", "chat": {"id": -100_888, "type": "channel", "title": "N"},
                    "message_id": 5},
        "from-this-bot": {"type": "user", "sender_user": BOT_USER},
    }  # fmt: skip
    for user_id, (case, origin) in enumerate(origins.items(), FIRST_USER):
        with subtests.test(case):
            body = f"forwarded ({case}): the meeting moved to 3 pm"
            origin = origin | {"date": 1_700_000_000}
            assert await bot.push(user_id, text=body, forward_origin=origin) == [f"Echo: {body}"]
            assert_sent_to_llm(bot, body)
            assert await contents_of(database, user_id) == [
                ("user", body),
                ("assistant", f"Echo: {body}"),
            ]


PHOTO = [
    {"file_id": "p-small", "file_unique_id": "up-small", "width": 90, "height": 90},
    {"file_id": "p-large", "file_unique_id": "up-large", "width": 1280, "height": 1280},
]
# Documents are read (tests/e2e/test_documents.py), but not a kind the bot cannot read.
DOCUMENT = {"file_id": "d1", "file_unique_id": "ud1", "file_name": "setup.exe",
            "mime_type": "application/x-msdownload", "file_size": 12}  # fmt: skip


STICKER = {"file_id": "s1", "file_unique_id": "us1", "type": "regular", "width": 512,
           "height": 512, "is_animated": False, "is_video": False}  # fmt: skip


async def test_unsupported_media_and_photos_for_a_blind_model_store_nothing(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    # Photos are supported (tests/e2e/test_media.py), but not by the default test model,
    # which is not in VISION_MODELS: whatever the caption, the user is told so.
    blind = texts.no_vision("fake-model", [])
    unreadable = _(UNSUPPORTED_DOCUMENT)
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "photo": ({"photo": PHOTO}, blind),
        "photo-empty-caption": ({"photo": PHOTO, "caption": ""}, blind),
        "photo-blank-caption": ({"photo": PHOTO, "caption": "   "}, blind),
        "photo-with-caption": ({"photo": PHOTO, "caption": "what is in this picture?"}, blind),
        "document": ({"document": DOCUMENT}, unreadable),
        "document-empty-caption": ({"document": DOCUMENT, "caption": ""}, unreadable),
        "document-with-caption": ({"document": DOCUMENT, "caption": "read it"}, unreadable),
        "sticker": ({"sticker": STICKER}, texts.UNSUPPORTED),
    }
    for user_id, (case, (fields, line)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            assert await bot.push(user_id, **fields) == [line]
            await assert_nothing_stored(bot, database)
    assert bot.tg.method_calls("getFile") == [], "nothing was downloaded"


# ---- redelivered updates ------------------------------------------------------------------


async def test_a_redelivered_update_is_answered_once(
    bot: BotHarness, database: Database, subtests: pytest.Subtests
) -> None:
    for user_id, when in enumerate(
        ["back-to-back", "while-answering", "after-the-answer", "three-times"], FIRST_USER
    ):
        with subtests.test(when):
            message = bot.tg.make_message(user_id, "only once, please")
            if when == "while-answering":
                bot.llm.stall_next(0.5, after_chunks=1)
            calls = bot.llm.calls
            bot.tg.push_update({"message": message})
            if when == "while-answering":
                await bot.llm.wait_for_requests(calls + 1)
            elif when == "after-the-answer":
                await bot.settle()
            bot.tg.push_update({"message": message})
            if when == "three-times":
                bot.tg.push_update({"message": message})
            await bot.settle()
            assert bot.tg.texts(user_id) == ["Echo: only once, please"]
            assert bot.llm.calls == calls + 1
            rows = await rows_of(database, user_id)
            assert [(r.role, r.content) for r in rows] == [
                ("user", "only once, please"),
                ("assistant", "Echo: only once, please"),
            ]
            assert rows[0].telegram_message_id == message["message_id"]

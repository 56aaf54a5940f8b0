"""Albums (media groups) end to end: the real bot against loopback Telegram and LLM.

Telegram sends an album as separate messages sharing a `media_group_id`; the bot makes
one question of them once no part has come for a moment (bot.albums). Both backends.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import func, select

from ai_tg_bot.bot import albums, texts
from ai_tg_bot.bot.handlers.documents import document_read
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import AlbumPart, Message
from ai_tg_bot.media.documents import Extracted
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_documents import content, host

ALICE = 111
CAPTION = "which of these is older?"
VISION = {"vision_models": "fake-model"}
NOTES, MORE = ("notes.txt", "Total: 12 EUR"), ("more.txt", "Total: 30 EUR")
Json = dict[str, Any]


def jpeg(n: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + bytes([n]) * 64 + b"\xff\xd9"


def image_part(data: bytes) -> Json:
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def album_photo(bot: BotHarness, n: int, group: str, caption: str | None = None) -> Json:
    """A photo message of album `group` (its one rendition hosted on the fake Telegram)."""
    data = jpeg(n)
    bot.tg.add_file(f"a{n}", data, f"photos/a{n}.jpg")
    size = {"file_id": f"a{n}", "file_unique_id": f"ua{n}", "width": 800, "height": 600,
            "file_size": len(data)}  # fmt: skip
    fields: Json = {"photo": [size], "media_group_id": group}
    return bot.tg.make_message(ALICE, **fields | ({"caption": caption} if caption else {}))


def push_together(bot: BotHarness, *messages: Json) -> None:
    """Queue the parts at once, as Telegram sends an album (one getUpdates takes them)."""
    for message in messages:
        bot.tg.push_update({"message": message})


async def parts_stored(database: Database) -> int:
    async with database.session(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(AlbumPart)) or 0)


async def questions(database: Database) -> list[Any]:
    """Alice's stored questions: (kind, content, attachments, telegram_message_id)."""
    columns = (Message.kind, Message.content, Message.attachments, Message.telegram_message_id)
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            select(*columns)
            .where(Message.user_id == ALICE, Message.role == "user")
            .order_by(Message.seq)
        )
        return list(rows)


async def album_done(bot: BotHarness, database: Database) -> None:
    """Until every update is handled, no album is being collected or asked, and none is
    left stored."""
    await bot.settle()
    assert bot.app is not None
    collector = bot.app.deps.albums
    await bot.tg.wait_for(lambda: collector.busy == 0, 15, "the album to be asked")
    assert await parts_stored(database) == 0


async def test_an_album_of_two_photos_is_one_question_with_both_images(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**VISION)
    first = album_photo(bot, 1, "g-1", CAPTION)
    second = album_photo(bot, 2, "g-1")
    push_together(bot, first, second)
    await album_done(bot, database)

    assert bot.llm.calls == 1, "one request for the album"
    assert bot.llm.last_request["messages"][1:] == [
        {"role": "user", "content": [
            {"type": "text", "text": CAPTION}, image_part(jpeg(1)), image_part(jpeg(2)),
        ]},
    ]  # fmt: skip
    assert bot.tg.texts(ALICE) == [f"Echo: {CAPTION}"], "one answer"
    ((kind, text, attachments, message_id),) = await questions(database)
    assert (kind, text, message_id) == ("photo", CAPTION, first["message_id"])
    assert [a["file_id"] for a in attachments] == ["a1", "a2"]


async def test_an_album_survives_a_restart_in_the_middle(
    make_bot: HarnessFactory, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first process waits long for the rest of the album: it stops before then.
    monkeypatch.setattr(albums, "WINDOW_SECONDS", 600.0)
    bot = await make_bot(**VISION)
    push_together(bot, album_photo(bot, 1, "g-2"), album_photo(bot, 2, "g-2", CAPTION))
    await bot.settle()
    assert await parts_stored(database) == 2
    await bot.stop()
    assert bot.llm.calls == 0
    assert await parts_stored(database) == 2, "stopping keeps the parts"

    monkeypatch.setattr(albums, "WINDOW_SECONDS", 0.8)
    await bot.start()
    await bot.llm.wait_for_requests(1)
    await album_done(bot, database)
    assert bot.llm.calls == 1
    content_parts = bot.llm.last_request["messages"][-1]["content"]
    assert content_parts == [
        {"type": "text", "text": CAPTION}, image_part(jpeg(1)), image_part(jpeg(2)),
    ]  # fmt: skip
    assert bot.tg.texts(ALICE) == [f"Echo: {CAPTION}"]


async def test_a_redelivered_part_is_not_doubled(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**VISION)
    first = album_photo(bot, 1, "g-3", CAPTION)
    push_together(bot, first, album_photo(bot, 2, "g-3"), first)
    await album_done(bot, database)
    assert bot.llm.calls == 1
    images = bot.llm.last_request["messages"][-1]["content"][1:]
    assert images == [image_part(jpeg(1)), image_part(jpeg(2))]
    assert bot.tg.texts(ALICE) == [f"Echo: {CAPTION}"]
    assert len(await questions(database)) == 1


async def test_an_album_over_the_daily_limit_gets_one_refusal(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**VISION, daily_message_limit=1)
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    push_together(bot, *(album_photo(bot, n, "g-4", CAPTION if n == 1 else None)
                         for n in (1, 2, 3)))  # fmt: skip
    await album_done(bot, database)
    (refusal,) = bot.tg.texts(ALICE)[1:]
    assert "daily limit of 1 message" in refusal
    assert bot.llm.calls == 1, "only the first question"
    assert bot.tg.downloads == [], "no image fetched"
    assert len(await questions(database)) == 1


async def test_an_album_for_a_model_that_cannot_see_is_refused_once(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    push_together(bot, album_photo(bot, 1, "g-5", CAPTION), album_photo(bot, 2, "g-5"))
    await album_done(bot, database)
    assert bot.tg.texts(ALICE) == [texts.no_vision("fake-model", [])]
    assert bot.llm.calls == 0
    assert await questions(database) == []


async def test_an_album_of_documents_is_one_question_with_every_text(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    bot.llm.queue_reply("42 EUR in all.")
    notes = host(bot, "d1", NOTES[0], NOTES[1].encode(), "text/plain")
    more = host(bot, "d2", MORE[0], MORE[1].encode(), "text/plain")
    push_together(
        bot,
        bot.tg.make_message(ALICE, document=notes, media_group_id="g-6"),
        bot.tg.make_message(ALICE, document=more, media_group_id="g-6", caption=CAPTION),
    )
    await album_done(bot, database)

    assert bot.llm.calls == 1
    texts_read = [content(name, text, "") for name, text in (NOTES, MORE)]
    question = "\n\n".join([*texts_read, CAPTION])
    assert bot.llm.last_request["messages"][-1] == {"role": "user", "content": question}
    read = "\n".join(document_read(name, Extracted(text, False)) for name, text in (NOTES, MORE))
    assert bot.tg.texts(ALICE) == [read, "42 EUR in all."]
    ((kind, _text, attachments, _id),) = await questions(database)
    assert kind == "document"
    assert [a["file_name"] for a in attachments] == ["notes.txt", "more.txt"]


async def test_photos_and_a_document_in_one_album(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**VISION)
    notes = host(bot, "d3", "notes.txt", b"born 1901", "text/plain")
    push_together(
        bot,
        album_photo(bot, 1, "g-7", CAPTION),
        bot.tg.make_message(ALICE, document=notes, media_group_id="g-7"),
    )
    await album_done(bot, database)
    assert bot.llm.calls == 1
    text = content("notes.txt", "born 1901", "") + "\n\n" + CAPTION
    assert bot.llm.last_request["messages"][-1]["content"] == [
        {"type": "text", "text": text}, image_part(jpeg(1)),
    ]  # fmt: skip

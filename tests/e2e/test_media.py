"""Photos and voice messages end to end: the real bot against loopback Telegram and LLM.

Telegram hosts the files (getFile, then /file/bot<token>/<path>); the LLM stand-in checks
image parts like the real API and transcribes at /audio/transcriptions. Both backends.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import Message
from ai_tg_bot.llm.client import LLMError, LLMErrorKind
from tests.e2e.conftest import BotHarness, HarnessFactory

ALICE = 111
FIRST_USER = 1000
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
SMALL_JPEG = b"\xff\xd8\xff\xe0small\xff\xd9"
OGG = b"OggS\x00\x02" + bytes(range(200))
CAPTION = "what is in this picture?"


@dataclass(frozen=True)
class Stored:
    """One active row of `messages`, with its media columns."""

    role: str
    kind: str | None
    content: str
    content_length: int
    status: str | None
    attachments: list[dict[str, Any]] | None


async def stored(database: Database, user_id: int) -> list[Stored]:
    """A user's active messages in dialogue order."""
    columns = (
        Message.role, Message.kind, Message.content, Message.content_length, Message.status,
        Message.attachments,
    )  # fmt: skip
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            select(*columns)
            .where(Message.user_id == user_id, Message.deleted_at.is_(None))
            .order_by(Message.seq)
        )
        return [Stored(*row) for row in rows]


def photo_sizes(large: int | None = len(JPEG), small: int | None = len(SMALL_JPEG)) -> Any:
    """Telegram's renditions of one photo, smallest first; a None size is left out."""
    sizes = [
        {"file_id": "p-small", "file_unique_id": "up-small", "width": 90, "height": 90},
        {"file_id": "p-large", "file_unique_id": "up-large", "width": 1280, "height": 960},
    ]
    for size, file_size in zip(sizes, (small, large), strict=True):
        if file_size is not None:
            size["file_size"] = file_size
    return sizes


def host_photo(bot: BotHarness) -> None:
    bot.tg.add_file("p-large", JPEG, "photos/file_1.jpg")
    bot.tg.add_file("p-small", SMALL_JPEG, "photos/file_0.jpg")


def image_part(data: bytes) -> dict[str, Any]:
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def has_images(request: dict[str, Any]) -> bool:
    return any(isinstance(m["content"], list) for m in request["messages"])


async def test_a_photo_turn_sends_the_image_then_later_turns_a_stand_in(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(vision_models="fake-model")
    host_photo(bot)

    assert await bot.push(ALICE, photo=photo_sizes(), caption=CAPTION) == [f"Echo: {CAPTION}"]
    request = bot.llm.last_request
    assert request["messages"] == [
        {"role": "system", "content": bot.settings.default_system_prompt},
        {"role": "user", "content": [{"type": "text", "text": CAPTION}, image_part(JPEG)]},
    ]
    assert bot.tg.downloads == ["photos/file_1.jpg"], "the largest rendition, once"
    question = (await stored(database, ALICE))[0]
    assert question == Stored(
        "user", "photo", CAPTION, len(CAPTION), "answered",
        [{"type": "image", "file_id": "p-large", "file_unique_id": "up-large",
          "size": len(JPEG), "mime": "image/jpeg", "width": 1280, "height": 960}],
    )  # fmt: skip

    assert await bot.say(ALICE, "and the colours?") == ["Echo: and the colours?"]
    later = bot.llm.last_request
    assert not has_images(later), "an earlier image is not sent again"
    assert [m["content"] for m in later["messages"][1:]] == [
        f"[photo] {CAPTION}",
        f"Echo: {CAPTION}",
        "and the colours?",
    ]
    assert bot.tg.downloads == ["photos/file_1.jpg"]


PNG_FILE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def image_file(size: int | None = len(PNG_FILE)) -> dict[str, Any]:
    """A picture sent as a file (Telegram's `document`), not compressed into a photo."""
    document = {"file_id": "f-png", "file_unique_id": "uf-png", "file_name": "chart.png",
                "mime_type": "image/png"}  # fmt: skip
    return document | ({"file_size": size} if size is not None else {})


async def test_a_picture_sent_as_a_file_is_seen_like_a_photo(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(vision_models="fake-model")
    bot.tg.add_file("f-png", PNG_FILE, "documents/file_2.png")
    assert await bot.push(ALICE, document=image_file(), caption=CAPTION) == [f"Echo: {CAPTION}"]
    url = "data:image/png;base64," + base64.b64encode(PNG_FILE).decode()
    assert bot.llm.last_request["messages"][1]["content"] == [
        {"type": "text", "text": CAPTION},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    question = (await stored(database, ALICE))[0]
    assert (question.kind, question.content) == ("photo", CAPTION)
    assert question.attachments is not None
    assert question.attachments[0]["mime"] == "image/png"
    assert question.attachments[0]["file_name"] == "chart.png"


async def test_a_picture_file_for_a_blind_model_or_over_the_cap_is_refused_unfetched(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(vision_models="seeing-model", max_image_bytes=len(PNG_FILE) - 1)
    assert await bot.push(ALICE, document=image_file()) == [texts.no_vision("fake-model", [])]
    seeing = await make_bot(vision_models="fake-model", max_image_bytes=len(PNG_FILE) - 1)
    assert await seeing.push(ALICE, document=image_file()) == [
        texts.image_too_large(len(PNG_FILE) - 1)
    ]
    for harness in (bot, seeing):
        assert harness.tg.method_calls("getFile") == []
        assert harness.llm.calls == 0
    assert await stored(database, ALICE) == []


async def test_a_photo_without_a_caption_is_only_an_image(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(vision_models="fake-model")
    host_photo(bot)
    bot.llm.queue_reply("A test pattern.")
    assert await bot.push(ALICE, photo=photo_sizes()) == ["A test pattern."]
    assert bot.llm.last_request["messages"][-1] == {"role": "user", "content": [image_part(JPEG)]}
    question = (await stored(database, ALICE))[0]
    assert (question.kind, question.content, question.content_length) == ("photo", "", 0)

    await bot.say(ALICE, "thanks")
    assert bot.llm.last_request["messages"][1]["content"] == "[photo]"


async def test_resend_images_sends_earlier_photos_on_every_turn(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(vision_models="fake-model", resend_images=True)
    host_photo(bot)
    await bot.push(ALICE, photo=photo_sizes(), caption=CAPTION)
    await bot.say(ALICE, "look again")
    assert bot.llm.last_request["messages"][1]["content"] == [
        {"type": "text", "text": CAPTION},
        image_part(JPEG),
    ]
    assert len(bot.tg.downloads) == 2


async def test_retry_of_a_photo_fetches_the_image_again(make_bot: HarnessFactory) -> None:
    bot = await make_bot(vision_models="fake-model")
    host_photo(bot)
    await bot.push(ALICE, photo=photo_sizes(), caption=CAPTION)
    bot.llm.queue_reply("A second look.")
    assert await bot.say(ALICE, "/retry") == ["A second look."]
    assert bot.llm.last_request["messages"][-1]["content"][1] == image_part(JPEG)
    assert len(bot.tg.downloads) == 2


async def test_a_model_that_cannot_see_images_is_refused(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    bot = await make_bot(llm_models="fake-model,gpt-4o", vision_models="gpt-4o,other")
    host_photo(bot)
    assert await bot.push(ALICE, photo=photo_sizes(), caption=CAPTION) == [
        texts.no_vision("fake-model", ["gpt-4o"])
    ]
    assert "/model" in texts.no_vision("fake-model", ["gpt-4o"])
    assert bot.llm.calls == 0
    assert bot.tg.method_calls("getFile") == []
    assert await stored(database, ALICE) == []

    with subtests.test("after /model switches to one that can"):
        await bot.say(ALICE, "/model gpt-4o")
        bot.llm.queue_reply("I see it.")
        assert await bot.push(ALICE, photo=photo_sizes()) == ["I see it."]
        assert bot.llm.last_request["model"] == "gpt-4o"
        assert has_images(bot.llm.last_request)


async def test_an_over_size_image_is_refused(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    bot = await make_bot(vision_models="fake-model", max_image_bytes=100)
    host_photo(bot)
    with subtests.test("every rendition over the cap"):
        user = FIRST_USER
        assert await bot.push(user, photo=photo_sizes(small=101), caption=CAPTION) == [
            texts.image_too_large(100)
        ]
        assert bot.llm.calls == 0
        assert await stored(database, user) == []
        assert bot.tg.method_calls("getFile") == []
    with subtests.test("a smaller rendition fits"):
        user = FIRST_USER + 1
        assert await bot.push(user, photo=photo_sizes(), caption=CAPTION) == [f"Echo: {CAPTION}"]
        assert bot.llm.last_request["messages"][-1]["content"][1] == image_part(SMALL_JPEG)
        attachments = (await stored(database, user))[0].attachments
        assert attachments is not None
        assert attachments[0]["file_id"] == "p-small"


async def test_an_image_larger_than_telegram_said_is_not_sent(
    make_bot: HarnessFactory, database: Database
) -> None:
    # No size in the update: the download itself is capped, and the turn fails cleanly.
    bot = await make_bot(vision_models="fake-model", max_image_bytes=len(JPEG) - 1)
    host_photo(bot)
    replies = await bot.push(ALICE, photo=photo_sizes(large=None), caption=CAPTION)
    assert replies == [LLMError(LLMErrorKind.ATTACHMENT).user_message]
    assert bot.llm.calls == 0
    assert [(m.kind, m.status) for m in await stored(database, ALICE)] == [("photo", "failed")]


async def test_a_voice_message_is_transcribed_shown_stored_and_answered(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(transcription_model="whisper-large")
    bot.tg.add_file("v1", OGG, "voice/file_7.oga")
    bot.llm.transcript = "  what's the weather like on Mars?  "
    said = "what's the weather like on Mars?"
    voice = {"file_id": "v1", "file_unique_id": "uv1", "duration": 3, "mime_type": "audio/ogg",
             "file_size": len(OGG)}  # fmt: skip

    assert await bot.push(ALICE, voice=voice) == [f"🎤 {said}", f"Echo: {said}"]
    (sent,) = bot.llm.transcriptions
    assert (sent["model"], sent["filename"], sent["data"]) == ("whisper-large", "voice.ogg", OGG)
    assert bot.llm.last_request["messages"][-1] == {"role": "user", "content": said}
    assert await stored(database, ALICE) == [
        Stored("user", "voice", said, len(said), "answered",
               [{"type": "voice", "file_id": "v1", "file_unique_id": "uv1", "size": len(OGG),
                 "mime": "audio/ogg", "duration": 3}]),
        Stored("assistant", None, f"Echo: {said}", len(f"Echo: {said}"), None, None),
    ]  # fmt: skip


async def test_a_voice_message_that_cannot_be_transcribed_is_kept_for_retry(
    make_bot: HarnessFactory, database: Database, subtests: pytest.Subtests
) -> None:
    """Stored (and counted) before any download; a failure can be retried, silence is not kept."""
    bot = await make_bot(max_voice_bytes=len(OGG))
    bot.tg.add_file("v1", OGG, "voice/file_1.oga")
    bot.tg.add_file("v-long", OGG + b"more", "voice/file_2.oga")
    voice = {"file_id": "v1", "file_unique_id": "uv1", "duration": 3}
    # (fields, the line the user gets, whether a failed question waits for /retry)
    cases: dict[str, tuple[dict[str, Any], str, bool]] = {
        "server-error": (voice, texts.TRANSCRIPTION_FAILED, True),
        "file-gone": (voice | {"file_id": "missing"}, texts.TRANSCRIPTION_FAILED, True),
        "silence": (voice, texts.NO_SPEECH, False),
        "too-large-said": (
            voice | {"file_size": len(OGG) + 1},
            texts.voice_too_large(len(OGG)),
            False,
        ),
        "too-large-found": (voice | {"file_id": "v-long"}, texts.voice_too_large(len(OGG)), True),
    }
    for user_id, (case, (fields, line, kept)) in enumerate(cases.items(), FIRST_USER):
        with subtests.test(case):
            bot.llm.transcript = "" if case == "silence" else "hello"
            if case == "server-error":
                bot.llm.fail_next_transcription(500)
            assert await bot.push(user_id, voice=fields) == [line]
            rows = await stored(database, user_id)
            assert [(r.kind, r.content, r.status) for r in rows] == (
                [("voice", "", "failed")] if kept else []
            )
    assert bot.llm.calls == 0
    assert len(bot.llm.transcriptions) == 2, "only the server error and the silence got there"
    # The server error's voice message is transcribed and answered on /retry.
    assert await bot.say(FIRST_USER, "/retry") == ["🎤 hello", "Echo: hello"]
    assert [(r.kind, r.content, r.status) for r in await stored(database, FIRST_USER)] == [
        ("voice", "hello", "answered"),
        (None, "Echo: hello", None),
    ]

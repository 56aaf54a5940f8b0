"""/image and /voice end to end: the real bot against loopback Telegram and LLM.

The image API (/images/generations) and speech (/audio/speech) are the LLM stand-in's;
what they were asked and what Telegram got (sendPhoto, sendVoice) is checked, with what
the database counted. Both backends.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import UsageEvent
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.media.speakable import SPEECH_PART_CHARS
from ai_tg_bot.storage.outputs import STALE_AFTER
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_limits import count
from tests.e2e.test_media import stored
from tests.e2e.test_privacy import ask_to_forget, press
from tests.fakes.llm import OGG_SPEECH, PNG

ALICE = 111
ADMIN = 900
IMAGES = {"image_model": "img-model", "image_size": "512x512"}
VOICE = {"tts_model": "tts-model", "tts_voice": "nova"}
IMAGE_EVENTS = "SELECT count(*) FROM usage_events WHERE user_id = :u AND kind = 'image'"
SPEECH_TOKENS = (
    "SELECT coalesce(sum(prompt_tokens), 0) FROM token_usage "
    "WHERE user_id = :u AND model = 'tts-model'"
)


def called(bot: BotHarness, *methods: str) -> list[str]:
    """The Bot API methods the bot called, in order, of those named."""
    return [call.method for call in bot.tg.calls if call.method in methods]


# ---- /image -----------------------------------------------------------------------------


async def test_an_image_is_sent_as_a_photo_and_remembered_in_the_conversation(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**IMAGES)

    assert await bot.say(ALICE, "/image a red fox") == [], "the photo is the whole answer"

    (photo,) = bot.tg.photos
    assert (photo.chat_id, photo.data) == (ALICE, PNG)
    (request,) = bot.llm.image_requests
    assert request["model"] == "img-model"
    assert request["prompt"] == "a red fox"
    assert request["size"] == "512x512"
    assert request["response_format"] == "b64_json"
    assert bot.llm.calls == 0, "no chat completion for an image"
    assert ALICE in [a.chat_id for a in bot.tg.actions if a.action == "upload_photo"]
    assert await count(database, IMAGE_EVENTS, ALICE) == 1

    rows = await stored(database, ALICE)
    assert [(r.role, r.kind, r.content) for r in rows] == [
        ("user", "image", "/image a red fox"),
        ("assistant", "image", "[image: A picture of a red fox]"),
    ]
    assert await bot.say(ALICE, "make it bigger") == ["Echo: make it bigger"]
    assert [m["content"] for m in bot.llm.last_request["messages"][1:]] == [
        "/image a red fox",
        "[image: A picture of a red fox]",
        "make it bigger",
    ]


async def test_over_the_daily_image_limit_nothing_is_spent(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**IMAGES, daily_image_limit=1)
    assert await bot.say(ALICE, "/image a cat") == []
    (refusal,) = await bot.say(ALICE, "/image another cat")
    assert "You've made your 1 image for today" in refusal
    assert "00:00 UTC" in refusal
    assert len(bot.llm.image_requests) == 1, "no second image request"
    assert len(bot.tg.photos) == 1
    assert await count(database, IMAGE_EVENTS, ALICE) == 1
    assert len(await stored(database, ALICE)) == 2, "only the first image's stand-in"


async def test_a_reservation_a_crashed_process_left_stops_counting(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**IMAGES, daily_image_limit=2)
    assert await bot.say(ALICE, "/image a cat") == []  # ALICE exists; 1 image made
    now = utc_now()
    stale = now - timedelta(seconds=bot.settings.llm_timeout_seconds) - STALE_AFTER * 2
    async with database.session() as session:  # a process died while generating
        await session.execute(
            insert(UsageEvent).values(user_id=ALICE, kind="image", created_at=stale)
        )
    assert await bot.say(ALICE, "/image a dog") == [], "the stale reservation is not counted"
    (refusal,) = await bot.say(ALICE, "/image a third")
    assert "You've made your 2 images for today" in refusal
    assert len(bot.llm.image_requests) == 2


async def test_an_admin_sets_a_users_image_limit(make_bot: HarnessFactory) -> None:
    bot = await make_bot(**IMAGES, admin_user_ids=[ADMIN])
    (done,) = await bot.say(ADMIN, f"/setlimit {ALICE} images 1")
    assert str(ALICE) in done
    assert await bot.say(ALICE, "/image one") == []
    (refusal,) = await bot.say(ALICE, "/image two")
    assert "You've made your 1 image for today" in refusal
    assert len(bot.llm.image_requests) == 1


async def test_a_failed_image_is_not_counted(make_bot: HarnessFactory, database: Database) -> None:
    bot = await make_bot(**IMAGES, daily_image_limit=1)
    bot.llm.fail_next_image(500)
    (failed,) = await bot.say(ALICE, "/image a storm")
    assert "No picture was made, and it is not counted" in failed
    assert bot.tg.photos == []
    assert await count(database, IMAGE_EVENTS, ALICE) == 0
    assert await stored(database, ALICE) == []
    assert await bot.say(ALICE, "/image a storm") == [], "the limit of 1 is still free"
    assert len(bot.tg.photos) == 1
    assert len(bot.llm.image_requests) == 2


async def test_an_image_is_not_a_message_but_the_per_minute_guard_counts_it(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(**IMAGES, daily_message_limit=1, rate_limit_per_minute=3)
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert await bot.say(ALICE, "/image a sunrise") == [], "the daily message limit is not hit"
    (limits,) = await bot.say(ALICE, "/limits")
    assert "(today: 1 of 1)" in limits, "the image is not counted as a message"
    assert await bot.say(ALICE, "/image a sunset") == []
    (refusal,) = await bot.say(ALICE, "/image a moon")
    assert "Slow down: at most 3 messages a minute" in refusal
    assert len(bot.llm.image_requests) == 2


async def test_image_is_off_without_an_image_model(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    assert await bot.say(ALICE, "/image a cat") == ["🖼 Making pictures is not available here."]
    assert bot.llm.image_requests == []
    assert bot.llm.calls == 0


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [("", "Usage: /image <description>"), ("x" * 4001, "That description is too long")],
)
async def test_an_empty_or_too_long_description_is_refused(
    make_bot: HarnessFactory, database: Database, prompt: str, expected: str
) -> None:
    bot = await make_bot(**IMAGES)
    (reply,) = await bot.say(ALICE, f"/image {prompt}".strip())
    assert expected in reply
    assert bot.llm.image_requests == []
    assert await count(database, IMAGE_EVENTS, ALICE) == 0


# ---- /voice -----------------------------------------------------------------------------


async def test_voice_on_speaks_each_answer_after_its_text_and_off_stops(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**VOICE)
    (state,) = await bot.say(ALICE, "/voice")
    assert "Spoken answers are off" in state
    (on,) = await bot.say(ALICE, "/voice on")
    assert "Spoken answers on" in on

    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    (voice,) = bot.tg.voices
    assert voice.chat_id == ALICE
    assert voice.data == OGG_SPEECH + b"Echo: hello"
    (request,) = bot.llm.speech_requests
    assert request == {
        "model": "tts-model",
        "voice": "nova",
        "input": "Echo: hello",
        "response_format": "opus",
    }
    sends = called(bot, "sendMessage", "sendRichMessage", "sendVoice")
    assert sends[-1] == "sendVoice", "the voice comes after the text"
    assert ALICE in [a.chat_id for a in bot.tg.actions if a.action == "record_voice"]
    # Priced at a token per four characters (rounded up), as prompt tokens.
    assert await count(database, SPEECH_TOKENS, ALICE) == 3
    (state,) = await bot.say(ALICE, "/voice")
    assert "Spoken answers are on" in state

    (off,) = await bot.say(ALICE, "/voice off")
    assert "Spoken answers off" in off
    assert await bot.say(ALICE, "again") == ["Echo: again"]
    assert len(bot.tg.voices) == 1
    assert len(bot.llm.speech_requests) == 1


async def test_a_long_answer_is_spoken_in_parts_in_order(make_bot: HarnessFactory) -> None:
    bot = await make_bot(**VOICE)
    await bot.say(ALICE, "/voice on")
    paragraphs = [f"Paragraph {i}. " + "Some words here. " * 60 for i in range(9)]
    bot.llm.queue_reply("## A heading\n\n" + "\n\n".join(paragraphs))
    await bot.say(ALICE, "tell me a lot")

    inputs = [r["input"] for r in bot.llm.speech_requests]
    assert len(inputs) >= 3
    assert all(len(text) <= SPEECH_PART_CHARS for text in inputs)
    assert inputs[0].startswith("A heading.\n\nParagraph 0.")
    assert "Paragraph 8." in inputs[-1]
    spoken = "\n\n".join(inputs)
    assert [spoken.index(f"Paragraph {i}.") for i in range(9)] == sorted(
        spoken.index(f"Paragraph {i}.") for i in range(9)
    )
    assert [v.data for v in bot.tg.voices] == [OGG_SPEECH + t.encode() for t in inputs]
    assert "#" not in spoken


async def test_over_the_token_budget_there_is_no_speech(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**VOICE, daily_token_limit=5)
    await bot.say(ALICE, "/voice on")
    replies = await bot.say(ALICE, "hello there")
    assert replies[0] == "Echo: hello there"
    assert "No voice reply: your token budget is used up" in replies[1]
    assert bot.llm.speech_requests == []
    assert bot.tg.voices == []
    assert await count(database, SPEECH_TOKENS, ALICE) == 0


async def test_a_failed_speech_keeps_the_text(make_bot: HarnessFactory, database: Database) -> None:
    bot = await make_bot(**VOICE)
    await bot.say(ALICE, "/voice on")
    bot.llm.fail_next_speech(500)
    replies = await bot.say(ALICE, "hello")
    assert replies[0] == "Echo: hello"
    assert "could not be spoken" in replies[1]
    assert bot.tg.voices == []
    assert await count(database, SPEECH_TOKENS, ALICE) == 0, "nothing spoken, nothing counted"


async def test_voice_is_off_without_a_tts_model(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    assert await bot.say(ALICE, "/voice on") == ["🔇 Spoken answers are not available here."]
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert bot.llm.speech_requests == []
    assert bot.tg.voices == []


async def test_forget_clears_the_voice_choice_and_refunds_no_image(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**IMAGES, **VOICE, daily_image_limit=1, daily_message_limit=1)
    await bot.say(ALICE, "/voice on")
    assert await bot.say(ALICE, "/image a cat") == []
    question = await ask_to_forget(bot, ALICE)
    await press(bot, ALICE, f"forget:yes:{ALICE}", question)
    assert await stored(database, ALICE) == [], "the stand-in is gone with the history"

    (state,) = await bot.say(ALICE, "/voice")
    assert "Spoken answers are off" in state
    (refusal,) = await bot.say(ALICE, "/image a dog")
    assert "You've made your 1 image for today" in refusal, "forgetting refunds nothing"
    assert await bot.say(ALICE, "hello") == ["Echo: hello"], "an image was not a message"
    assert bot.tg.voices == []


async def test_a_server_refusing_response_format_is_asked_again_without_it(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(**IMAGES)
    bot.llm.image_refuses_response_format = True
    assert await bot.say(ALICE, "/image a boat") == []
    first, second = bot.llm.image_requests
    assert first["response_format"] == "b64_json"
    assert "response_format" not in second
    assert [p.data for p in bot.tg.photos] == [PNG]


async def test_an_image_given_as_a_url_is_sent_by_its_url(make_bot: HarnessFactory) -> None:
    bot = await make_bot(**IMAGES)
    bot.llm.image_urls_only = True
    assert await bot.say(ALICE, "/image a kite") == []
    (photo,) = bot.tg.photos
    assert photo.url == "http://127.0.0.1:1/images/1.png"

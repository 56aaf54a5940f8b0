"""/voice auto end to end: answers to voice messages come spoken too, answers to texts
stay text, under the same budget and counting as /voice on.

The real bot against loopback Telegram (which hosts the voice files) and the LLM stand-in
(transcriptions, chat, speech); what Telegram got (sendVoice) and what the database
stored and counted is checked. Both backends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import UserSettings
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_images_voice import SPEECH_TOKENS, VOICE, called
from tests.e2e.test_limits import count
from tests.e2e.test_media import OGG
from tests.e2e.test_privacy import ask_to_forget, press
from tests.fakes.llm import OGG_SPEECH

ALICE = 111
HEARING = {"transcription_model": "whisper-large"}
SAID = "hello from a voice message"
ANSWER = f"Echo: {SAID}"


async def hearing_bot(make_bot: HarnessFactory, **overrides: Any) -> BotHarness:
    """A bot that transcribes voice messages and speaks answers, hosting one voice file."""
    bot = await make_bot(**VOICE, **HEARING, **overrides)
    bot.tg.add_file("v1", OGG, "voice/file_1.oga")
    bot.llm.transcript = SAID
    return bot


async def say_by_voice(bot: BotHarness, user_id: int) -> list[str]:
    """Send the hosted voice message as the user; the bot's text replies."""
    voice = {"file_id": "v1", "file_unique_id": "uv1", "duration": 2, "mime_type": "audio/ogg",
             "file_size": len(OGG)}  # fmt: skip
    return await bot.push(user_id, voice=voice)


async def voice_columns(database: Database, user_id: int) -> tuple[bool | None, bool | None]:
    """The user's stored (voice_replies, voice_auto)."""
    async with database.session(read_only=True) as session:
        found = await session.execute(
            select(UserSettings.voice_replies, UserSettings.voice_auto).where(
                UserSettings.user_id == user_id
            )
        )
        replies, auto = found.one()
    return replies, auto


async def test_voice_auto_speaks_answers_to_voice_messages_only(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await hearing_bot(make_bot)
    (state,) = await bot.say(ALICE, "/voice")
    assert "/voice auto" in state, "the off state offers auto"
    (auto,) = await bot.say(ALICE, "/voice auto")
    assert "Spoken answers auto" in auto
    assert await voice_columns(database, ALICE) == (None, True)
    (state,) = await bot.say(ALICE, "/voice")
    assert "Spoken answers are auto" in state

    # A text gets its text answer only: nothing spoken, nothing counted.
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert bot.tg.voices == []
    assert bot.llm.speech_requests == []
    assert await count(database, SPEECH_TOKENS, ALICE) == 0

    # A voice message gets its text answer, then the answer spoken.
    assert await say_by_voice(bot, ALICE) == [f"🎤 {SAID}", ANSWER]
    (voice,) = bot.tg.voices
    assert (voice.chat_id, voice.data) == (ALICE, OGG_SPEECH + ANSWER.encode())
    (request,) = bot.llm.speech_requests
    assert request == {
        "model": "tts-model",
        "voice": "nova",
        "input": ANSWER,
        "response_format": "opus",
    }
    sends = called(bot, "sendMessage", "sendRichMessage", "sendVoice")
    assert sends[-1] == "sendVoice", "the voice comes after the text"
    assert ALICE in [a.chat_id for a in bot.tg.actions if a.action == "record_voice"]
    # Counted like /voice on: a token per four characters (rounded up), as prompt tokens.
    assert await count(database, SPEECH_TOKENS, ALICE) == -(-len(ANSWER) // 4)

    assert await bot.say(ALICE, "and a text again") == ["Echo: and a text again"]
    assert len(bot.tg.voices) == 1, "texts stay text under auto"

    (off,) = await bot.say(ALICE, "/voice off")
    assert "Spoken answers off" in off
    assert await voice_columns(database, ALICE) == (None, None)
    assert await say_by_voice(bot, ALICE) == [f"🎤 {SAID}", ANSWER]
    assert len(bot.tg.voices) == 1, "off: a voice message is answered in text only"
    assert len(bot.llm.speech_requests) == 1


async def test_on_and_auto_replace_each_other(make_bot: HarnessFactory, database: Database) -> None:
    bot = await hearing_bot(make_bot)
    await bot.say(ALICE, "/voice auto")
    (on,) = await bot.say(ALICE, "/voice on")
    assert "Spoken answers on" in on
    assert await voice_columns(database, ALICE) == (True, None)
    (state,) = await bot.say(ALICE, "/voice")
    assert "Spoken answers are on" in state
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert len(bot.tg.voices) == 1, "on: a text's answer is spoken too"

    await bot.say(ALICE, "/voice auto")
    assert await voice_columns(database, ALICE) == (None, True)
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert len(bot.tg.voices) == 1, "auto replaced on: a text's answer stays text"
    (usage,) = await bot.say(ALICE, "/voice loud")
    assert usage.startswith("Usage:")
    assert "/voice auto" in usage


async def test_over_the_token_budget_auto_refuses_like_on(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await hearing_bot(make_bot, daily_token_limit=5)
    await bot.say(ALICE, "/voice auto")
    replies = await say_by_voice(bot, ALICE)
    assert replies[:2] == [f"🎤 {SAID}", ANSWER]
    (refusal,) = replies[2:]
    assert refusal == "🔇 No voice reply: your token budget is used up (see /limits)."
    assert bot.llm.speech_requests == []
    assert bot.tg.voices == []
    assert await count(database, SPEECH_TOKENS, ALICE) == 0


async def test_over_the_token_budget_a_text_under_auto_gets_no_refusal_line(
    make_bot: HarnessFactory,
) -> None:
    bot = await hearing_bot(make_bot, daily_token_limit=5)
    await bot.say(ALICE, "/voice auto")
    assert await bot.say(ALICE, "hello there") == ["Echo: hello there"], "nothing to speak"


async def test_forget_clears_voice_auto(make_bot: HarnessFactory, database: Database) -> None:
    bot = await hearing_bot(make_bot)
    await bot.say(ALICE, "/voice auto")
    question = await ask_to_forget(bot, ALICE)
    await press(bot, ALICE, f"forget:yes:{ALICE}", question)
    assert await voice_columns(database, ALICE) == (None, None)
    (state,) = await bot.say(ALICE, "/voice")
    assert "Spoken answers are off" in state
    assert await say_by_voice(bot, ALICE) == [f"🎤 {SAID}", ANSWER]
    assert bot.tg.voices == []

"""Issue 13 end to end: the bot speaks the user's language (en, ru), chosen by their
Telegram app or by /language, stored, and registered on Telegram's own surfaces."""

from __future__ import annotations

import json

from sqlalchemy import text

from ai_tg_bot.bot import menus, texts
from ai_tg_bot.db.database import Database
from ai_tg_bot.i18n import use_language
from tests.e2e.conftest import BotHarness, HarnessFactory

ALICE = 111
BOB = 222


def russian(name: str) -> str:
    """A fixed reply as a Russian user reads it."""
    with use_language("ru"):
        return str(getattr(texts, name))


async def language_of(database: Database, user_id: int) -> str | None:
    async with database.session(read_only=True) as session:
        return (
            await session.execute(
                text("SELECT language FROM user_settings WHERE user_id = :u"), {"u": user_id}
            )
        ).scalar_one_or_none()


async def press(bot: BotHarness, user_id: int, data: str, message_id: int) -> None:
    bot.tg.push_callback(user_id, data, message_id, language_code="ru")
    await bot.settle()


async def test_a_russian_app_gets_russian_everywhere(make_bot: HarnessFactory) -> None:
    bot = await make_bot(daily_message_limit=2)
    (greeting,) = await bot.say(ALICE, "/start", language_code="ru")
    assert greeting == russian("GREETING")
    assert greeting.startswith("Привет!")
    assert "/language — Выбрать язык" in greeting
    assert await bot.say(ALICE, "/help", language_code="ru-RU") == [russian("HELP")]
    assert await bot.say(ALICE, "привет", language_code="ru") == ["Echo: привет"]
    (status,) = await bot.say(ALICE, "/status", language_code="ru")
    assert status.startswith("📊 Состояние\nСообщений в истории: 2 из 50")
    assert "Сообщений сегодня: 1 из 2" in status
    bot.llm.fail_next(500)
    (error,) = await bot.say(ALICE, "ещё вопрос", language_code="ru")
    assert error.startswith("⚠️ У языковой модели произошла ошибка сервера.")
    assert "отправьте /retry" in error
    (refusal,) = await bot.say(ALICE, "третий", language_code="ru")
    assert refusal.startswith("🚫 Дневной лимит в 2 сообщения исчерпан.")
    (limits,) = await bot.say(ALICE, "/limits", language_code="ru")
    assert "Размер истории: 50 сообщений" in limits
    assert "В день: 2 сообщения (сегодня: 2 из 2)" in limits
    # The same bot, the same moment: an English app still reads English.
    (english,) = await bot.say(BOB, "/status", language_code="en")
    assert english.startswith("📊 Status\nMessages in history: 0 of 50")


async def test_unsupported_languages_get_the_default(make_bot: HarnessFactory) -> None:
    bot = await make_bot()
    assert await bot.say(ALICE, "/help", language_code="de") == [texts.HELP]
    assert await bot.say(BOB, "/help") == [texts.HELP]  # no language_code at all
    russian_default = await make_bot(default_language="ru")
    assert await russian_default.say(ALICE, "/help", language_code="pt-br") == [russian("HELP")]


async def test_language_command_switches_and_persists_across_restarts(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    (done,) = await bot.say(ALICE, "/language en", language_code="ru")
    assert done == "Done: I speak English with you now."
    assert await language_of(database, ALICE) == "en"
    assert await bot.say(ALICE, "/help", language_code="ru") == [texts.HELP]
    await bot.restart()
    assert await bot.say(ALICE, "/help", language_code="ru") == [texts.HELP]
    (back,) = await bot.say(ALICE, "/language auto", language_code="ru")
    assert back == "Готово: говорю на языке вашего Telegram (русский)."
    assert await language_of(database, ALICE) is None
    assert await bot.say(ALICE, "/help", language_code="ru") == [russian("HELP")]
    (unknown,) = await bot.say(ALICE, "/language klingon", language_code="ru")
    assert unknown.startswith("Язык «klingon» я пока не знаю.")
    assert await language_of(database, ALICE) is None


async def test_language_buttons_are_bound_to_their_user(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot()
    (shown,) = await bot.say(ALICE, "/language", language_code="en")
    assert shown.startswith("My language with you: English.")
    message = bot.messages(ALICE)[-1]
    assert message.reply_markup is not None
    buttons = [b for row in message.reply_markup["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["English", "Русский", "🌐 As in my Telegram app"]
    russian_button = buttons[1]["callback_data"]
    # Somebody else's press changes nothing.
    bot.tg.push_callback(BOB, russian_button, message.message_id, chat_id=ALICE)
    await bot.settle()
    assert await language_of(database, ALICE) is None
    await press(bot, ALICE, russian_button, message.message_id)
    assert await language_of(database, ALICE) == "ru"
    assert bot.messages(ALICE)[-1].text == "Готово: язык общения — русский."
    assert await bot.say(ALICE, "/help", language_code="en") == [russian("HELP")]


async def test_menus_and_descriptions_are_registered_per_language(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(admin_user_ids=[900])
    default = json.dumps({"type": "default"}, sort_keys=True)
    admin = json.dumps({"chat_id": 900, "type": "chat"}, sort_keys=True)
    registered = bot.tg.localized_commands
    assert {language for scope, language in registered if scope == default} == {"", "en", "ru"}
    russian_menu = {c["command"]: c["description"] for c in registered[default, "ru"]}
    assert russian_menu["reset"] == "Очистить этот диалог, сохранив его роль"
    assert russian_menu["new"].startswith("Начать новый диалог")
    assert russian_menu["language"].startswith("Выбрать язык")
    assert [c["command"] for c in registered[default, ""]] == [name for name, _ in menus.COMMANDS]
    assert "setlimit" in {c["command"] for c in registered[admin, "ru"]}
    assert bot.tg.descriptions[""] == bot.tg.descriptions["en"]
    assert bot.tg.descriptions["ru"].startswith("ИИ-ассистент, который помнит")
    assert bot.tg.short_descriptions["ru"] == "ИИ-ассистент, который помнит наш разговор."


async def test_refusals_speak_the_users_language(make_bot: HarnessFactory) -> None:
    bot = await make_bot(admin_user_ids=[900], allowed_user_ids=[ALICE, 900])
    assert await bot.say(BOB, "let me in", language_code="ru") == [
        f"⛔ Это закрытый бот. Попросите доступ у его владельца и сообщите свой Telegram ID: {BOB}."
    ]
    assert await bot.say(900, f"/block {ALICE}", language_code="en") == [
        f"User {ALICE} is blocked."
    ]
    assert await bot.say(ALICE, "hello", language_code="ru") == [russian("BLOCKED")]
    assert await bot.say(ALICE, "/setlimit 1 daily 5", language_code="ru") == [russian("BLOCKED")]


async def test_the_export_and_its_captions_speak_the_users_language(
    bot: BotHarness,
) -> None:
    for question in ("первый", "второй"):
        await bot.say(ALICE, question, language_code="ru")
    await bot.say(ALICE, "/export", language_code="ru")
    files = {d.filename: d for d in bot.tg.documents if d.chat_id == ALICE}
    markdown = next(d for name, d in files.items() if name and name.endswith(".md"))
    assert markdown.caption == "Ваша история в формате Markdown: 4 сообщения."
    shown = markdown.data.decode()
    assert shown.startswith("# Выгрузка диалога")
    assert "первый" in shown
    data = next(d for name, d in files.items() if name and name.endswith(".json"))
    assert b'"role": "user"' in data.data, "the JSON keeps its machine-readable keys"

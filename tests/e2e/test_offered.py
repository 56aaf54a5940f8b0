"""/help and the command menus list what this bot's settings turn on, in each language."""

from __future__ import annotations

from ai_tg_bot.bot import menus
from ai_tg_bot.i18n import use_language
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_payments import menu

ADMIN = 9150
ALICE = 9251
EXTRAS = {"image", "voice", "tools"}


async def test_without_the_settings_no_image_voice_or_tools_is_listed(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    for language in ("", "en", "ru"):
        assert menu(bot, {"type": "default"}, language) & EXTRAS == set(), language
        assert menu(bot, {"type": "chat", "chat_id": ADMIN}, language) & EXTRAS == set()
    (help_text,) = await bot.say(ALICE, "/help")
    assert not any(f"/{name} " in help_text for name in EXTRAS)
    assert "documents" in help_text  # documents need no setting: always read
    (ru_help,) = await bot.say(ALICE, "/help", language_code="ru")
    assert not any(f"/{name} " in ru_help for name in EXTRAS)


async def test_each_setting_lists_its_command_in_both_languages(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(
        admin_user_ids=[ADMIN],
        image_model="image-1",
        tts_model="tts-1",
        # A server that cannot start: listed all the same, and start-up does not wait.
        mcp_servers={"calc": "/nonexistent/mcp-server --stdio"},
    )
    for language in ("", "en", "ru"):
        assert menu(bot, {"type": "default"}, language) >= EXTRAS, language
        assert menu(bot, {"type": "chat", "chat_id": ADMIN}, language) >= EXTRAS, language
    (help_text,) = await bot.say(ALICE, "/help")
    with use_language("en"):
        expected = menus.help_text(menus.Offered(images=True, voice=True, tools=True))
    assert help_text == expected
    (ru_help,) = await bot.say(ALICE, "/help", language_code="ru")
    with use_language("ru"):
        expected_ru = menus.help_text(menus.Offered(images=True, voice=True, tools=True))
    assert ru_help == expected_ru
    assert ru_help != help_text
    assert all(f"/{name} — " in ru_help for name in EXTRAS)


async def test_only_what_is_set_is_listed(make_bot: HarnessFactory) -> None:
    bot = await make_bot(tts_model="tts-1")
    assert menu(bot, {"type": "default"}, "ru") & EXTRAS == {"voice"}
    (help_text,) = await bot.say(ALICE, "/help")
    assert "/voice " in help_text
    assert "/image " not in help_text
    assert "/tools " not in help_text

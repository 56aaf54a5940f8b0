"""Issue 32: WEBAPP_URL turns on the menu button and /app (the page itself: test_webapp_*)."""

from __future__ import annotations

from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_group_conversations import ALICE, GROUP, in_group
from tests.ports import free_port

URL = "https://bot.example.org/app"


async def test_webapp_url_sets_the_menu_button_and_app_opens_it(make_bot: HarnessFactory) -> None:
    bot = await make_bot(webapp_url=URL, health_port=free_port(), group_chats=True)
    assert bot.tg.menu_buttons[None] == {
        "type": "web_app",
        "text": "App",
        "web_app": {"url": URL},
    }
    (reply,) = await bot.say(ALICE, "/app")
    assert reply.startswith("Your conversations, settings, usage and payments at a glance")
    sent = bot.messages(ALICE)[-1]
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "App", "web_app": {"url": URL}}]]}
    (help_text,) = await bot.say(ALICE, "/help")
    assert "/app — Open the app" in help_text
    assert "app" in {c["command"] for c in bot.tg.commands}
    # In a group the button goes to the asker's private chat (Telegram allows it there only).
    before = len(bot.messages(ALICE))
    posted = await in_group(bot, ALICE, "/app")
    assert not any("at a glance" in text for text in posted)
    assert bot.messages(ALICE)[before].reply_markup == sent.reply_markup
    assert not any("web_app" in str(m.reply_markup) for m in bot.messages(GROUP))


async def test_without_webapp_url_the_menu_is_the_default_and_app_says_so(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot()
    assert bot.tg.menu_buttons[None] == {"type": "default"}
    (reply,) = await bot.say(ALICE, "/app")
    assert reply == "There is no app for this bot: its operator has not set one up."
    (help_text,) = await bot.say(ALICE, "/help")
    assert "/app" not in help_text

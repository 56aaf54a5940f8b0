"""Issue 32: inside Telegram, the page leans on Telegram's script: initData from it (none
in the URL here), ready() and expand(), the back button on inner pages, and Telegram's
own confirmation dialog before a delete. A stand-in script plays Telegram's part."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from ai_tg_bot.db.database import Database
from tests.browser.conftest import MiniApp, open_mini_app, webapp_user
from tests.browser.test_user_pages import ALICE, KIWIS, ROCKETS, conversation_ids
from tests.e2e.conftest import TOKEN, HarnessFactory
from tests.ports import free_port
from tests.webapp_auth import sign_init_data

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

STUB = (Path(__file__).parent / "telegram_stub.js").read_text()


async def test_inside_telegram_the_page_uses_its_script(
    make_bot: HarnessFactory, browser: Browser, mini_apps: list[MiniApp], database: Database
) -> None:
    bot = await make_bot(health_port=free_port())
    await bot.say(ALICE, KIWIS)
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, ROCKETS)
    init_data = sign_init_data(TOKEN, webapp_user(ALICE))
    script = STUB.replace("INIT_DATA", json.dumps(init_data))
    app = await open_mini_app(browser, bot, webapp_user(ALICE), init_data, telegram_script=script)
    mini_apps.append(app)
    page = app.page

    # Signed in with the script's initData alone; told Telegram it is ready.
    await app.open(in_hash=False)
    await expect(page.locator("main .list .row-title")).to_have_count(2)
    calls = "() => window.telegramCalls"
    assert await page.evaluate(calls) == ["ready", "expand"]

    # A conversation: Telegram's back button is shown; on the list it is hidden again.
    kiwis = (await conversation_ids(app))[KIWIS]
    back = "() => Telegram.WebApp.BackButton.isVisible"
    await app.go(f"#/conversations/{kiwis}")
    assert await page.evaluate(back) is True

    # Delete asks through Telegram's dialog: "no" keeps it, "yes" deletes it.
    question = "confirm: Delete this conversation? Its messages will be cleared."
    delete = page.get_by_role("button", name="Delete")
    await page.evaluate("() => window.telegramAnswers.push(false)")
    await delete.click()
    await page.wait_for_function("() => window.telegramCalls.length === 3")
    await expect(delete).to_be_enabled()
    assert KIWIS in await conversation_ids(app)
    await page.evaluate("() => window.telegramAnswers.push(true)")
    await delete.click()
    await app.shown("#/conversations")
    assert await page.evaluate(calls) == ["ready", "expand", question, question]
    assert KIWIS not in await conversation_ids(app)
    await expect(page.locator("main .list .row-title")).to_have_text([re.compile(ROCKETS)])
    assert await page.evaluate(back) is False
    await app.check("conversations-in-telegram")

"""Issue 32: the Mini App's pages in Chromium, against the real bot.

The data is made through the bot itself (questions, /new, /remember, a Stars payment),
then read on the page: each page shows it, the usage chart draws a bar a day, a delete
asks first, and a change made on the page reaches the database. The browser tests run
on SQLite: the API's storage is the same code on both backends, tested there.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import text

from ai_tg_bot.db.database import Database
from tests.browser.conftest import MiniApp, open_mini_app, webapp_user
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_payments import buy, tokens_used
from tests.ports import free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ALICE = 9601
KIWIS = "Growing kiwis in winter"
ROCKETS = "Rocket fuel"
FACT = "I live in Lisbon"
MONTHLY = 10_000_000
DAILY = 400  # above what the seeding spends: the chart shows both


async def seeded_bot(make_bot: HarnessFactory, *, pay: bool = False) -> BotHarness:
    """A bot serving /app, with Alice's two conversations and a fact (and a payment)."""
    bot = await make_bot(
        health_port=free_port(),
        llm_models=["fake-model", "other-model"],
        tts_model="fake-tts",
        stars_packs="50:1000,200:5000",
        monthly_token_limit=MONTHLY,
        daily_token_limit=DAILY,
    )
    await bot.say(ALICE, KIWIS)
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, ROCKETS)
    await bot.say(ALICE, "Is **liquid** fuel better?")
    await bot.say(ALICE, f"/remember {FACT}")
    if pay:
        await buy(bot, ALICE)
    return bot


async def alice_app(browser: Browser, bot: BotHarness, opened: list[MiniApp]) -> MiniApp:
    app = await open_mini_app(browser, bot, webapp_user(ALICE))
    opened.append(app)
    await app.open()
    return app


async def conversation_ids(app: MiniApp) -> dict[str, int]:
    """Title -> id of the conversations the API lists for the user."""
    listed = await app.api("GET", "/conversations")
    return {c["title"]: c["id"] for c in listed["conversations"]}


async def scalar(database: Database, sql: str, **params: Any) -> Any:
    async with database.session(read_only=True) as session:
        return (await session.execute(text(sql), params)).scalar()


async def test_each_page_shows_the_users_data(
    make_bot: HarnessFactory, browser: Browser, mini_apps: list[MiniApp], database: Database
) -> None:
    bot = await seeded_bot(make_bot, pay=True)
    app = await alice_app(browser, bot, mini_apps)
    page = app.page
    ids = await conversation_ids(app)

    # Conversations: both, newest first, the current one marked; no admin tab for Alice.
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    rows = page.locator("main .list .row-title")
    await expect(rows).to_have_text([re.compile(ROCKETS), re.compile(KIWIS)])
    await expect(rows.first.locator(".badge")).to_have_text("current")
    await expect(page.locator("#nav a")).to_have_text(
        ["Conversations", "Search", "Settings", "Usage", "Export"]
    )
    await app.check("conversations")

    # One conversation: its messages as the bot's HTML (Markdown rendered).
    await page.get_by_role("link", name=re.compile(ROCKETS)).click()
    await app.shown(f"#/conversations/{ids[ROCKETS]}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(ROCKETS)
    await expect(page.locator(".msg-assistant .msg-body b").last).to_have_text("liquid")
    await expect(page.locator(".msg-user").first).to_contain_text(ROCKETS)
    await app.check("conversation")

    # Search: the form, then the hits, each a link to its conversation.
    await page.get_by_role("link", name="Search").click()
    await app.shown("#/search")
    await page.get_by_label("Words to find").fill("kiwis")
    await page.get_by_role("button", name="Search").click()
    await app.shown("#/search?q=kiwis")
    hits = page.locator(".results a")
    await expect(hits.first).to_contain_text("kiwis")
    assert await hits.first.get_attribute("href") == f"#/conversations/{ids[KIWIS]}"
    await app.check("search")

    # Settings: the values stored, and the fact remembered.
    await app.go("#/settings")
    await expect(page.get_by_label("Model")).to_have_value("fake-model")
    await expect(page.get_by_label("Spoken answers")).to_have_value("off")
    await expect(page.get_by_label("Remember facts about me")).to_be_checked()
    await expect(page.locator(".facts li")).to_have_text([re.compile(FACT)])
    await app.check("settings")

    # Usage: a bar a day for 30 days, today's as counted; the budgets; the payment.
    await app.go("#/usage")
    bars = page.locator("svg.chart rect.bar")
    await expect(bars).to_have_count(30)
    used = await tokens_used(database, ALICE)
    assert used > 0
    assert await bars.last.get_attribute("data-tokens") == str(used)
    box = await bars.last.bounding_box()
    assert box is not None
    assert box["height"] > 0, "today's bar is drawn"
    await expect(page.locator("svg.chart line.budget")).to_have_count(1)
    await expect(page.locator("#month-line")).to_have_text(f"{used:,} of {MONTHLY:,} tokens used")
    await expect(page.locator(".credit")).to_have_text("Bought tokens left: 1,000")
    await expect(page.locator(".payments li")).to_have_text([re.compile("50 ⭐ for 1,000 tokens")])
    await app.check("usage")

    # Export: the file downloads, with the user's data in it.
    await app.go("#/export")
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download JSON").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".json")
    exported = await asyncio.to_thread(Path(await download.path()).read_text)
    assert KIWIS in exported
    assert FACT in exported
    await expect(page.locator("#notice")).to_contain_text(download.suggested_filename)
    await app.check("export")


async def test_a_delete_asks_first_and_changes_reach_the_database(
    make_bot: HarnessFactory, browser: Browser, mini_apps: list[MiniApp], database: Database
) -> None:
    bot = await seeded_bot(make_bot)
    app = await alice_app(browser, bot, mini_apps)
    page = app.page
    kiwis = (await conversation_ids(app))[KIWIS]
    await app.go(f"#/conversations/{kiwis}")
    delete = page.get_by_role("button", name="Delete")

    # Dismissed: nothing is deleted.
    asked = app.answer_next_dialog(accept=False)
    await delete.click()
    assert await asked == "Delete this conversation? Its messages will be cleared."
    await expect(delete).to_be_enabled()
    assert KIWIS in await conversation_ids(app)

    # Accepted: gone from the list, its messages cleared.
    asked = app.answer_next_dialog(accept=True)
    await delete.click()
    await asked
    await app.shown("#/conversations")
    await expect(page.locator("#notice")).to_have_text("Conversation deleted.")
    await expect(page.locator("main .list .row-title")).to_have_text([re.compile(ROCKETS)])
    assert KIWIS not in await conversation_ids(app)
    active = "SELECT COUNT(*) FROM messages WHERE conversation_id = :c AND deleted_at IS NULL"
    assert await scalar(database, active, c=kiwis) == 0

    # A fact deleted from Settings, once confirmed.
    await app.go("#/settings")
    asked = app.answer_next_dialog(accept=True)
    await page.get_by_role("button", name=f"Delete: {FACT}").click()
    assert await asked == "Forget this fact?"
    await expect(page.locator(".facts li")).to_have_count(0)
    assert (
        await scalar(database, "SELECT COUNT(*) FROM memory_facts WHERE user_id = :u", u=ALICE) == 0
    )

    # Settings changed on the page are stored.
    await page.get_by_label("Model").select_option("other-model")
    await page.get_by_label("Spoken answers").select_option("auto")
    await page.get_by_label("Role of the current conversation").fill("You are a pirate.")
    await page.get_by_label("Remember facts about me").uncheck()
    await page.get_by_label("Language").select_option("ru")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    await expect(page.locator("#notice")).not_to_be_empty()  # shown again, in Russian
    stored = "SELECT model, language, memory_enabled FROM user_settings WHERE user_id = :u"
    async with database.session(read_only=True) as session:
        row = (await session.execute(text(stored), {"u": ALICE})).one()
    assert (row[0], row[1], bool(row[2])) == ("other-model", "ru", False)
    role = (
        "SELECT c.system_prompt FROM conversations c"
        " JOIN users u ON u.current_conversation_id = c.id WHERE u.id = :u"
    )
    assert await scalar(database, role, u=ALICE) == "You are a pirate."
    assert (await app.api("GET", "/settings"))["voice"] == "auto"
    await app.check("settings-saved")


async def test_the_page_says_when_sign_in_fails_and_follows_the_theme(
    make_bot: HarnessFactory, browser: Browser, mini_apps: list[MiniApp], database: Database
) -> None:
    bot = await make_bot(health_port=free_port(), allowed_user_ids=[ALICE])

    # initData signed with another token: not signed in, and told so.
    forged = await open_mini_app(
        browser, bot, webapp_user(ALICE), init_data="user=%7B%22id%22%3A1%7D&auth_date=1&hash=00"
    )
    mini_apps.append(forged)
    await forged.open()
    await expect(forged.page.get_by_role("alert")).to_have_text(
        "Could not sign you in. Close this page and open it again from the bot."
    )
    await forged.check("signin-failed")

    # A user the bot does not serve.
    stranger = await open_mini_app(browser, bot, webapp_user(ALICE + 1))
    mini_apps.append(stranger)
    await stranger.open()
    await expect(stranger.page.get_by_role("alert")).to_have_text("You don't have access to this.")

    # Telegram's dark theme, passed in the URL as Telegram does: the page takes its colours.
    dark = {
        "bg_color": "#17212b",
        "text_color": "#f5f5f5",
        "hint_color": "#9aa5b1",
        "link_color": "#6ab3f3",
        "button_color": "#2f6ea5",
        "button_text_color": "#ffffff",
        "secondary_bg_color": "#232e3c",
    }
    # The bot out of reach at first: said so, and "Try again" signs in once it answers.
    app = await open_mini_app(browser, bot, webapp_user(ALICE))
    mini_apps.append(app)
    await app.context.route("**/app/api/**", lambda route: route.abort())
    await app.open(theme=dark)
    await expect(app.page.get_by_role("alert")).to_have_text(
        "Could not reach the bot. Check your connection and try again."
    )
    await app.context.unroute("**/app/api/**")
    await app.page.get_by_role("button", name="Try again").click()
    await app.shown("#/conversations")
    await expect(app.page.locator("body")).to_have_css("background-color", "rgb(23, 33, 43)")
    await expect(app.page.get_by_text("No conversations yet.", exact=False)).to_be_visible()
    await app.check("conversations-dark")

"""Issue 32: the Mini App's admin pages in Chromium, against the real bot: a user found by
id, blocked and unblocked, a limit set; usage and cost per model per day; the payments,
and a refund that asks first. Checked through the database."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from ai_tg_bot.db.database import Database
from tests.browser.conftest import MiniApp, open_mini_app, webapp_user
from tests.browser.test_user_pages import scalar
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_payments import buy, credit_of
from tests.ports import free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADMIN = 9700
ALICE = 9711


async def test_admin_pages_show_users_usage_and_payments(
    make_bot: HarnessFactory, browser: Browser, mini_apps: list[MiniApp], database: Database
) -> None:
    bot = await make_bot(
        health_port=free_port(),
        admin_user_ids=[ADMIN],
        stars_packs="50:1000,200:5000",
        monthly_token_limit=10_000_000,
        model_prices="fake-model:10000:20000",
    )
    await bot.say(ALICE, "Hello from Alice")
    charge = await buy(bot, ALICE)
    app = await open_mini_app(browser, bot, webapp_user(ADMIN, first_name="Ada"))
    mini_apps.append(app)
    await app.open()
    page = app.page

    # Users: found by id, with today's numbers and limits.
    await page.get_by_role("link", name="Admin").click()
    await app.shown("#/admin")
    await page.get_by_label("User id (empty: recently active)").fill(str(ALICE))
    await page.get_by_role("button", name="Find").click()
    await app.shown(f"#/admin?q={ALICE}")
    card = page.locator(f'article[data-user="{ALICE}"]')
    await expect(card.get_by_role("heading")).to_have_text(f"User {ALICE}")
    await expect(card).to_contain_text("Messages today: 1")
    await expect(card).to_contain_text("Bought tokens left: 1,000")
    await app.check("admin-users")

    # Block, then unblock: stored.
    blocked = "SELECT is_blocked FROM users WHERE id = :u"
    await card.get_by_role("button", name="Block", exact=True).click()
    await expect(card.locator(".badge")).to_have_text("blocked")
    assert await scalar(database, blocked, u=ALICE)
    await card.get_by_role("button", name="Unblock", exact=True).click()
    await expect(card.get_by_role("button", name="Block", exact=True)).to_be_visible()
    assert not await scalar(database, blocked, u=ALICE)

    # A limit set.
    await card.get_by_label("Limit", exact=True).select_option("daily")
    await card.get_by_label("New value: a number, or “default”").fill("7")
    await card.get_by_role("button", name="Set").click()
    await expect(page.locator("#notice")).to_have_text("Saved.")
    daily = "SELECT daily_message_limit FROM user_settings WHERE user_id = :u"
    assert await scalar(database, daily, u=ALICE) == 7

    # Usage and cost per model per day.
    await page.get_by_role("link", name="Usage and cost").click()
    await app.shown("#/admin/usage")
    row = page.locator("table tbody tr").first
    await expect(row.locator("td").nth(1)).to_have_text("fake-model")
    await expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^\$\d"))
    await app.check("admin-usage")

    # Payments: a refund asks first; dismissed, nothing happens; accepted, refunded.
    await page.get_by_role("link", name="All payments").click()
    await app.shown("#/admin/payments")
    payment = page.locator(f'li[data-charge="{charge}"]')
    await expect(payment).to_contain_text(f"User {ALICE}: 50 ⭐ for 1,000 tokens")
    await app.check("admin-payments")
    refund = payment.get_by_role("button", name="Refund")
    asked = app.answer_next_dialog(accept=False)
    await refund.click()
    assert await asked == f"Refund 50 ⭐ to user {ALICE}? The tokens bought are taken back."
    await expect(refund).to_be_enabled()
    refunded = "SELECT refunded_at IS NOT NULL FROM payments WHERE telegram_payment_charge_id = :c"
    assert not await scalar(database, refunded, c=charge)
    asked = app.answer_next_dialog(accept=True)
    await refund.click()
    await asked
    await expect(payment.locator(".badge")).to_have_text("refunded")
    await expect(page.locator("#notice")).to_have_text("Refunded; 1,000 tokens taken back.")
    assert await scalar(database, refunded, c=charge)
    assert await credit_of(database, ALICE) == 0

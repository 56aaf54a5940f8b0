"""Issue 33 end to end: monthly Telegram Stars subscriptions (SUBSCRIPTION_PLANS).

The real bot on both backends against the Telegram stand-in, which sells subscriptions
as Telegram does: an invoice link with subscription_period, a pre-checkout query for the
first period, then a successful_payment per period (is_recurring, is_first_recurring,
subscription_expiration_date), redelivered at will; editUserStarSubscription stops or
restores the renewal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ai_tg_bot.bot.money import MoneyUpdate
from ai_tg_bot.bot.purchases import plan_payload
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_money import bot_behind_a_proxy, cleaned, logged
from tests.e2e.test_payments import BUDGET, credit_of, menu, payments_of, refused_checkout
from tests.e2e.test_privacy import press
from tests.fakes.telegram import SentMessage
from tests.fakes.waiting import poll_until, poll_until_async

ADMIN = 33_100
ALICE = 33_211
BOB = 33_322
# The outage test shares the session's PostgreSQL database: a user of its own.
ERIN = 33_455
PLANS = "100:3000,250:10000"
PERIOD = 2_592_000
SELLING: dict[str, Any] = {
    "subscription_plans": PLANS,
    "monthly_token_limit": BUDGET,
    "admin_user_ids": [ADMIN],
}


# ---- the database, as the bot left it --------------------------------------------------
async def subscriptions_of(database: Database, user_id: int) -> list[dict[str, Any]]:
    """Each stored subscription of the user, oldest first."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT invoice_payload, first_charge_id, last_charge_id, stars, tokens,"
                " status, expires_at, cancelled_at FROM subscriptions WHERE user_id = :u"
                " ORDER BY id"
            ),
            {"u": user_id},
        )
        found = [dict(row._mapping) for row in rows]
    for row in found:
        for key in ("expires_at", "cancelled_at"):
            value = row[key]
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            row[key] = value
    return found


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


# ---- the bot's messages ----------------------------------------------------------------
def links_of(message: SentMessage) -> list[tuple[str, str]]:
    """(label, url) of each link button."""
    assert message.reply_markup is not None, f"no buttons on {message.text!r}"
    rows = message.reply_markup["inline_keyboard"]
    return [(b["text"], b["url"]) for row in rows for b in row if "url" in b]


def presses_of(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of each button that is pressed, not followed."""
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    return [(b["text"], b["callback_data"]) for row in rows for b in row if "callback_data" in b]


async def subscribe_view(bot: BotHarness, user_id: int) -> SentMessage:
    """/subscribe in the private chat: its one message."""
    (_text,) = await bot.say(user_id, "/subscribe")
    return bot.messages(user_id)[-1]


async def subscribe(bot: BotHarness, user_id: int, index: int = 0) -> str:
    """Subscribe to a plan all the way: the user is thanked; returns the first charge id."""
    url = links_of(await subscribe_view(bot, user_id))[index][1]
    before = len(bot.messages(user_id))
    charge = await bot.tg.subscribe(url, user_id)
    assert charge is not None, bot.tg.pre_checkout_answers
    await bot.settle()
    thanks = [m.text for m in bot.messages(user_id)[before:]]
    assert len(thanks) == 1, thanks
    assert thanks[0].startswith("✅ Thank you!"), thanks
    return charge


# ---- /subscribe and the links ----------------------------------------------------------
async def test_subscribe_shows_the_plans_as_subscription_invoice_links(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(**SELLING)
    offer = await subscribe_view(bot, ALICE)
    assert "Telegram Stars" in offer.text
    links = links_of(offer)
    assert [label for label, _url in links] == [
        "3,000 tokens a month for 100 ⭐",
        "10,000 tokens a month for 250 ⭐",
    ]
    for (_label, url), (stars, tokens) in zip(links, [(100, 3000), (250, 10000)], strict=True):
        assert url.startswith("https://t.me/$")
        link = bot.tg.invoice_links[url]
        assert link.subscription_period == PERIOD
        assert link.currency == "XTR"
        assert [p["amount"] for p in link.prices] == [stars]
        assert link.payload.startswith(f"plan:{stars}:{tokens}:{ALICE}:")
        assert f"{tokens:,} tokens" in link.title
    assert presses_of(offer) == [], "nothing to cancel yet"


async def test_subscribe_says_so_when_no_plan_is_offered(make_bot: HarnessFactory) -> None:
    bot = await make_bot(monthly_token_limit=BUDGET)
    assert await bot.say(ALICE, "/subscribe") == ["Subscriptions are not offered by this bot."]
    assert bot.tg.invoice_links == {}
    assert "subscribe" not in menu(bot, {"type": "default"})


async def test_with_plans_only_the_menu_lists_subscribe_paysupport_and_terms(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(**SELLING)
    for language in ("", "en", "ru"):
        shown = menu(bot, {"type": "default"}, language)
        assert {"subscribe", "paysupport", "terms"} <= shown, language
        assert "buy" not in shown, language
    (terms,) = await bot.say(ALICE, "/terms")
    assert "Subscriptions are paid in Telegram Stars every 30 days" in terms
    (support,) = await bot.say(ALICE, "/paysupport")
    assert "/subscribe" in support
    (limits,) = await bot.say(ALICE, "/limits")
    assert "Tokens every month: /subscribe" in limits


# ---- payments: the first period and the renewals ----------------------------------------
async def test_the_first_payment_is_credited_once_and_stores_the_subscription(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**SELLING)
    url = links_of(await subscribe_view(bot, ALICE))[0][1]
    before = len(bot.messages(ALICE))
    query_id = bot.tg.pay_link(url, ALICE)
    approved = await bot.tg.wait_pre_checkout_answer(query_id)
    assert approved.get("ok") in (True, "true", "True"), approved
    charge = await bot.tg.complete_link_payment(query_id)
    assert charge is not None
    await bot.settle()
    expires = bot.tg.star_subscriptions[charge].expires_at
    paid = bot.tg.payments[charge].message["successful_payment"]
    assert (paid["is_recurring"], paid["is_first_recurring"]) == (True, True)
    (thanks,) = [m.text for m in bot.messages(ALICE)[before:]]
    assert thanks.startswith("✅ Thank you! Your subscription runs until ")
    assert thanks.endswith(": 3,000 tokens added; you have 3,000 now.")
    assert await credit_of(database, ALICE) == 3000
    assert await payments_of(database, ALICE) == [(charge, 100, 3000, False, None)]
    (stored,) = await subscriptions_of(database, ALICE)
    assert stored["invoice_payload"] == bot.tg.invoice_links[url].payload
    assert (stored["first_charge_id"], stored["last_charge_id"]) == (charge, charge)
    assert (stored["stars"], stored["tokens"], stored["status"]) == (100, 3000, "active")
    assert stored["expires_at"] == at(expires)
    assert stored["cancelled_at"] is None

    # Telegram delivers the same payment again, three times: nothing more.
    for _ in range(3):
        bot.tg.push_payment_again(charge)
    await bot.settle()
    assert len(bot.messages(ALICE)) == before + 1, "thanked once"
    assert await credit_of(database, ALICE) == 3000
    assert await payments_of(database, ALICE) == [(charge, 100, 3000, False, None)]
    assert len(await subscriptions_of(database, ALICE)) == 1

    # /limits and /subscribe show it, renewing; no plan is offered beside it.
    (limits,) = await bot.say(ALICE, "/limits")
    assert "🔁 Subscription: 3,000 tokens a month for 100 ⭐, renews on " in limits
    view = await subscribe_view(bot, ALICE)
    assert "renews on" in view.text
    assert [label for label, _data in presses_of(view)] == ["Cancel subscription"]
    assert view.reply_markup is not None
    assert not links_of(view)


async def test_each_renewal_is_credited_once_and_moves_the_expiry(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**SELLING)
    first = await subscribe(bot, ALICE)
    before = len(bot.messages(ALICE))
    renewal = bot.tg.renew_subscription(first)
    await bot.settle()
    paid = bot.tg.payments[renewal].message["successful_payment"]
    assert paid["is_recurring"] is True
    assert "is_first_recurring" not in paid
    (told,) = [m.text for m in bot.messages(ALICE)[before:]]
    assert told.startswith("🔄 Your subscription was renewed until ")
    assert told.endswith(": 3,000 tokens added; you have 6,000 now.")
    bot.tg.push_payment_again(renewal)
    bot.tg.push_payment_again(first)
    await bot.settle()
    assert await credit_of(database, ALICE) == 6000, "each period credited once"
    assert [p[0] for p in await payments_of(database, ALICE)] == [first, renewal]
    (stored,) = await subscriptions_of(database, ALICE)
    assert (stored["first_charge_id"], stored["last_charge_id"]) == (first, renewal)
    assert stored["expires_at"] == at(bot.tg.star_subscriptions[first].expires_at)
    assert stored["expires_at"] == at(int(paid["subscription_expiration_date"]))

    third = bot.tg.renew_subscription(first)
    await bot.settle()
    assert await credit_of(database, ALICE) == 9000
    (stored,) = await subscriptions_of(database, ALICE)
    assert stored["last_charge_id"] == third
    assert stored["expires_at"] == at(bot.tg.star_subscriptions[first].expires_at)


async def test_a_link_is_refused_at_pre_checkout_to_anyone_else_or_once_withdrawn(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**SELLING)
    url = links_of(await subscribe_view(bot, ALICE))[0][1]
    reason = await refused_checkout(bot, bot.tg.pay_link(url, BOB))
    assert "/subscribe" in reason
    gone = bot.tg.push_pre_checkout(ALICE, plan_payload(ALICE, 7, 777), 7)
    assert "/subscribe" in await refused_checkout(bot, gone)
    cheaper = bot.tg.push_pre_checkout(ALICE, plan_payload(ALICE, 100, 3000), 1)
    assert "/subscribe" in await refused_checkout(bot, cheaper)
    assert await credit_of(database, ALICE) == await credit_of(database, BOB) == 0
    assert await subscriptions_of(database, ALICE) == []


# ---- cancelling ---------------------------------------------------------------------------
async def test_cancelling_stops_the_renewal_and_keeps_what_was_paid_for(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**SELLING)
    first = await subscribe(bot, ALICE)
    view = await subscribe_view(bot, ALICE)
    ((label, data),) = presses_of(view)
    assert label == "Cancel subscription"
    # The button is Alice's.
    refused = await press(bot, BOB, data, view, chat_id=ALICE)
    assert refused.get("show_alert")
    assert bot.tg.subscription_edits == []

    answer = await press(bot, ALICE, data, view)
    assert not answer.get("show_alert"), answer
    (edit,) = bot.tg.subscription_edits
    assert edit["telegram_payment_charge_id"] == first
    assert int(edit["user_id"]) == ALICE
    assert edit["is_canceled"] in (True, "true", "True")
    told = bot.messages(ALICE)[-1].text
    assert told.startswith("⏹ Your subscription was cancelled: it ends on ")
    assert await credit_of(database, ALICE) == 3000, "the tokens paid for stay"
    (stored,) = await subscriptions_of(database, ALICE)
    assert stored["status"] == "cancelled"
    assert stored["cancelled_at"] is not None
    assert stored["expires_at"] == at(bot.tg.star_subscriptions[first].expires_at)
    (limits,) = await bot.say(ALICE, "/limits")
    assert "⏹ Subscription: 3,000 tokens a month for 100 ⭐, cancelled: ends on " in limits
    with pytest.raises(AssertionError, match="no renewal"):
        bot.tg.renew_subscription(first)

    # Now /subscribe offers Resume, and the plans again.
    view = await subscribe_view(bot, ALICE)
    assert "ends on" in view.text
    ((label, data),) = presses_of(view)
    assert label == "Resume subscription"
    assert len(links_of(view)) == 2
    await press(bot, ALICE, data, view)
    assert bot.tg.subscription_edits[-1]["is_canceled"] in (False, "false", "False")
    assert bot.messages(ALICE)[-1].text.startswith("🔁 Your subscription renews again on ")
    (stored,) = await subscriptions_of(database, ALICE)
    assert (stored["status"], stored["cancelled_at"]) == ("active", None)
    bot.tg.renew_subscription(first)
    await bot.settle()
    assert await credit_of(database, ALICE) == 6000


async def test_subscribe_cancel_stops_every_renewal(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**SELLING)
    assert await bot.say(ALICE, "/subscribe cancel") == ["You have no subscription that renews."]
    first = await subscribe(bot, ALICE, 1)
    (reply,) = await bot.say(ALICE, "/subscribe cancel")
    assert reply.startswith("⏹ Your subscription was cancelled: it ends on ")
    assert [e["telegram_payment_charge_id"] for e in bot.tg.subscription_edits] == [first]
    assert [s["status"] for s in await subscriptions_of(database, ALICE)] == ["cancelled"]
    assert await credit_of(database, ALICE) == 10000


# ---- refunds ------------------------------------------------------------------------------
async def test_refunding_the_latest_period_takes_its_tokens_back_and_ends_it(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(**SELLING)
    first = await subscribe(bot, ALICE)
    renewal = bot.tg.renew_subscription(first)
    await bot.settle()
    assert await credit_of(database, ALICE) == 6000

    # The first period's payment: its tokens go, the subscription runs on.
    (reply,) = await bot.say(ADMIN, f"/refund {first}")
    assert reply.startswith(f"↩️ Refunded 100 ⭐ to user {ALICE}. Took back 3,000 of its")
    await bot.settle()  # Telegram's refunded_payment message takes nothing more
    assert await credit_of(database, ALICE) == 3000
    assert [s["status"] for s in await subscriptions_of(database, ALICE)] == ["active"]
    assert bot.tg.subscription_edits == []

    # The latest period's: its tokens go, and so does the subscription (Telegram is told
    # not to renew it).
    await bot.say(ADMIN, f"/refund {renewal}")
    await bot.settle()
    assert await credit_of(database, ALICE) == 0
    assert [p[3] for p in await payments_of(database, ALICE)] == [True, True]
    (stored,) = await subscriptions_of(database, ALICE)
    assert stored["status"] == "expired"
    (edit,) = bot.tg.subscription_edits
    assert edit["telegram_payment_charge_id"] == first
    assert edit["is_canceled"] in (True, "true", "True")
    (limits,) = await bot.say(ALICE, "/limits")
    assert "Subscription:" not in limits
    view = await subscribe_view(bot, ALICE)
    assert presses_of(view) == []
    assert len(links_of(view)) == 2


async def test_a_refund_telegram_reports_also_stops_the_renewal(
    make_bot: HarnessFactory, database: Database
) -> None:
    """Recorded from Telegram's refunded_payment (not by /refund): the subscription it
    ended is not renewed either."""
    bot = await make_bot(**SELLING)
    first = await subscribe(bot, ALICE)
    bot.tg.push_refund(first)
    await bot.settle()
    (stored,) = await subscriptions_of(database, ALICE)
    assert stored["status"] == "expired"
    (edit,) = bot.tg.subscription_edits
    assert edit["telegram_payment_charge_id"] == first
    assert edit["is_canceled"] in (True, "true", "True")


# ---- a payment is never lost --------------------------------------------------------------
async def test_a_subscription_payment_left_on_disk_is_recorded_at_the_next_start(
    make_bot: HarnessFactory, database: Database, tmp_path: Path
) -> None:
    """What a killed process leaves behind: a renewal spooled before the first period's
    payment (replayed in any order); both recorded once, the subscription whole."""
    spool = tmp_path / "left-spool"
    spool.mkdir()
    payload = plan_payload(ALICE, 100, 3000)
    expires = int(datetime.now(UTC).timestamp()) + PERIOD
    for charge, until, first in (
        ("left-first-charge", expires, True),
        ("left-renewal-charge", expires + PERIOD, False),
    ):
        left = MoneyUpdate(
            "payment", ALICE, charge, 100, payload=payload, chat_id=ALICE, expires=until,
            first_period=first,
        )  # fmt: skip
        (spool / left.file_name).write_text(json.dumps(asdict(left)))
    bot = await make_bot(payments_spool_dir=str(spool), **SELLING)

    async def credited() -> bool:
        return await credit_of(database, ALICE) == 6000

    await poll_until_async(credited, 30, lambda: "the spooled payments were never recorded")
    await poll_until(lambda: not list(spool.glob("*.json")), 15, lambda: "spool not emptied")
    (stored,) = await subscriptions_of(database, ALICE)
    assert stored["first_charge_id"] == "left-first-charge"
    assert stored["last_charge_id"] == "left-renewal-charge"
    assert stored["expires_at"] == at(expires + PERIOD)
    await bot.restart()
    await bot.settle()
    assert await credit_of(database, ALICE) == 6000


async def test_a_first_payment_during_a_postgresql_outage_is_credited_once_when_it_is_back(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pg = Database(pg_url)
    try:
        async with bot_behind_a_proxy(pg_url, tmp_path / "spool", **SELLING) as (bot, proxy):
            url = links_of(await subscribe_view(bot, ERIN))[0][1]
            query_id = bot.tg.pay_link(url, ERIN)
            await bot.tg.wait_pre_checkout_answer(query_id)  # approved while it is up
            proxy.cut()
            charge = await bot.tg.complete_link_payment(query_id)
            assert charge is not None
            await bot.settle()
            await poll_until(
                logged(caplog, logging.ERROR, charge, "plan:"), 15, lambda: "no ERROR line"
            )
            assert list((tmp_path / "spool").glob("payment-*.json")), "kept on disk"
            proxy.restore()

            async def credited() -> bool:
                return await credit_of(pg, ERIN) == 3000

            await poll_until_async(credited, 60, lambda: "the payment was never credited")
            bot.tg.push_payment_again(charge)
            await bot.settle()
            assert await credit_of(pg, ERIN) == 3000, "credited exactly once"
            (stored,) = await subscriptions_of(pg, ERIN)
            assert stored["expires_at"] == at(bot.tg.star_subscriptions[charge].expires_at)
    finally:
        await cleaned(pg)

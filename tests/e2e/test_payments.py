"""Issue 16 end to end: token budgets, Telegram Stars top-ups and refunds (ADR 0015).

Driven through the real bot on both backends. The LLM stand-in reports each answer's
usage in the stream's last chunk (a token per four characters of the prompt and of the
reply), so what a budget counts is known exactly: `reported` recomputes it from the
request the stand-in received. The Telegram stand-in takes Stars payments the way
Telegram does: an invoice, a pre-checkout query the bot must answer, then the
successful_payment message (redelivered at will), and refunds with the refunded_payment
message that follows them.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from babel.dates import format_date
from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.handlers.payments import payload_of
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.e2e.test_privacy import ask_to_forget, press
from tests.fakes.llm import count_tokens, echo_responder
from tests.fakes.telegram import SentInvoice, SentMessage
from tests.fakes.waiting import poll_until_async

ADMIN = 9100
ALICE = 9211
BOB = 9322
GROUP = -100_9433
# Tokens are sold only to users whose tokens are limited (bought ones are spent past it).
BUDGET = 10_000_000
PACKS = "50:1000,200:5000"
NO_TOPUPS = "Top-ups are not offered by this bot."
PAYMENT_COMMANDS = {"buy", "paysupport", "terms"}
# Prices per million tokens: a prompt token costs a cent, a completion token two.
PRICES = "fake-model:10000:20000"


# ---- the database, as the bot left it --------------------------------------------------
async def scalar(database: Database, sql: str, **params: Any) -> Any:
    async with database.session(read_only=True) as session:
        return (await session.execute(text(sql), params)).scalar()


async def credit_of(database: Database, user_id: int) -> int:
    """users.token_credit: the bought tokens left."""
    found = await scalar(database, "SELECT token_credit FROM users WHERE id = :u", u=user_id)
    return int(found or 0)


async def tokens_used(database: Database, user_id: int) -> int:
    """Prompt and completion tokens counted for the user (token_usage, every day)."""
    found = await scalar(
        database,
        "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM token_usage"
        " WHERE user_id = :u",
        u=user_id,
    )
    return int(found)


async def usage_by_kind(database: Database, user_id: int | None = None) -> tuple[int, int]:
    """(prompt, completion) tokens counted, of one user or of everyone."""
    where = "" if user_id is None else " WHERE user_id = :u"
    async with database.session(read_only=True) as session:
        row = (
            await session.execute(
                text(
                    "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0)"
                    " FROM token_usage" + where
                ),
                {"u": user_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def payments_of(database: Database, user_id: int) -> list[tuple[Any, ...]]:
    """(charge id, stars, tokens, refunded, refunded tokens) of each stored payment."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT telegram_payment_charge_id, stars, tokens, refunded_at IS NOT NULL,"
                " refunded_tokens FROM payments WHERE user_id = :u ORDER BY id"
            ),
            {"u": user_id},
        )
        return [(c, int(s), int(t), bool(r), rt) for c, s, t, r, rt in rows]


async def pending_questions(database: Database, user_id: int) -> int:
    found = await scalar(
        database,
        "SELECT count(*) FROM messages WHERE user_id = :u AND status = 'pending'",
        u=user_id,
    )
    return int(found)


async def questions_stored(database: Database, user_id: int) -> int:
    found = await scalar(
        database, "SELECT count(*) FROM messages WHERE user_id = :u AND role = 'user'", u=user_id
    )
    return int(found)


# ---- what the LLM stand-in reported ----------------------------------------------------
def reported(request: dict[str, Any]) -> int:
    """The tokens the stand-in reported for a request it answered by echoing (its usage
    chunk: a token per four characters of the whole prompt, and of the reply)."""
    prompt = "".join(str(m.get("content") or "") for m in request["messages"])
    return count_tokens(prompt) + count_tokens(echo_responder(request))


# ---- the bot's messages ----------------------------------------------------------------
def buttons_of(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of each inline button."""
    assert message.reply_markup is not None, f"no buttons on {message.text!r}"
    rows = message.reply_markup["inline_keyboard"]
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def packs_shown(bot: BotHarness, user_id: int) -> SentMessage:
    """/buy in the private chat: its one message, with the packs as buttons."""
    (offer,) = await bot.say(user_id, "/buy")
    assert "Telegram Stars" in offer
    message = bot.messages(user_id)[-1]
    assert message.text == offer
    return message


async def invoice_of_pack(bot: BotHarness, user_id: int, index: int = 0) -> SentInvoice:
    """/buy, then the `index`-th pack's button: the invoice the bot sends."""
    offer = await packs_shown(bot, user_id)
    before = len(bot.tg.invoices)
    answer = await press(bot, user_id, buttons_of(offer)[index][1], offer)
    assert not answer.get("show_alert"), answer
    assert len(bot.tg.invoices) == before + 1, "one invoice per press"
    return bot.tg.invoices[-1]


async def buy(bot: BotHarness, user_id: int, index: int = 0) -> str:
    """Buy a pack all the way: the user is thanked; returns the charge id."""
    invoice = await invoice_of_pack(bot, user_id, index)
    before = len(bot.messages(user_id))
    charge = await bot.tg.checkout(invoice)
    assert charge is not None, bot.tg.pre_checkout_answers
    await bot.settle()
    thanks = [m.text for m in bot.messages(user_id)[before:]]
    assert len(thanks) == 1, thanks
    assert thanks[0].startswith("✅ Thank you!"), thanks
    return charge


async def refused_checkout(bot: BotHarness, query_id: str) -> str:
    """The bot's answer to a pre-checkout query was no: its reason to the user."""
    answer = await bot.tg.wait_pre_checkout_answer(query_id)
    assert answer.get("ok") in (False, "false", "False"), answer
    reason = str(answer.get("error_message") or "")
    assert reason, "a refusal says why"
    assert await bot.tg.complete_payment(query_id) is None
    return reason


def menu(bot: BotHarness, scope: dict[str, Any], language: str = "") -> set[str]:
    """The commands Telegram shows in a scope's menu, for an app language ("": any)."""
    key = json.dumps(scope, sort_keys=True), language
    return {c["command"] for c in bot.tg.localized_commands[key]}


DAILY_REFUSAL = re.compile(
    r"🚫 You've used your daily budget of (?P<limit>[\d,]+) tokens?\. It resets at 00:00 UTC"
    r" \(in (?P<hours>\d+) h (?P<minutes>\d+) min\)\.(?P<buy> More tokens: /buy\.)?"
)


def assert_daily_refusal(line: str, limit: int, *, can_buy: bool) -> None:
    """The refusal names the limit, when it resets (and how long that is), and /buy."""
    found = DAILY_REFUSAL.fullmatch(line)
    assert found is not None, line
    assert found["limit"] == f"{limit:,}"
    assert bool(found["buy"]) == can_buy, line
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    left = int(found["hours"]) * 60 + int(found["minutes"])
    assert 0 <= left < 24 * 60
    assert abs(left - (midnight - now).total_seconds() / 60) <= 2, line


async def use_up_the_day(bot: BotHarness, database: Database, user_id: int, limit: int) -> int:
    """Ask until the daily budget is used; the tokens used (the last answer crosses it)."""
    for number in range(20):
        before = bot.llm.calls
        (answer,) = await bot.say(user_id, f"question {number}")
        assert answer == f"Echo: question {number}"
        assert bot.llm.calls == before + 1
        used = await tokens_used(database, user_id)
        if used >= limit:
            return used
    raise AssertionError("the budget was never used up")


# ---- /buy, the invoice, the payment ----------------------------------------------------
async def test_buy_shows_the_packs_and_a_payment_credits_the_tokens_once(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET)
    offer = await packs_shown(bot, ALICE)
    assert buttons_of(offer) == [
        ("1,000 tokens for 50 ⭐", f"buy:{ALICE}:50:1000"),
        ("5,000 tokens for 200 ⭐", f"buy:{ALICE}:200:5000"),
    ]
    # The buttons are Alice's: Bob's press sends him no invoice, and her none either.
    refused = await press(bot, BOB, f"buy:{ALICE}:200:5000", offer, chat_id=ALICE)
    assert refused.get("show_alert")
    assert refused.get("text") == texts.BUTTON_NOT_YOURS
    assert bot.tg.invoices == []

    answer = await press(bot, ALICE, f"buy:{ALICE}:200:5000", offer)
    assert not answer.get("show_alert")
    (invoice,) = bot.tg.invoices
    assert invoice.chat_id == ALICE
    assert invoice.currency == "XTR"
    assert invoice.amount == 200
    assert [p["amount"] for p in invoice.prices] == [200]
    assert "5,000 tokens" in invoice.title

    before = len(bot.messages(ALICE))
    query_id = bot.tg.pay(invoice)
    approved = await bot.tg.wait_pre_checkout_answer(query_id)
    assert approved.get("ok") in (True, "true", "True"), approved
    charge = await bot.tg.complete_payment(query_id)
    assert charge is not None
    await bot.settle()
    assert [m.text for m in bot.messages(ALICE)[before:]] == [
        "✅ Thank you! 5,000 tokens added; you have 5,000 now."
    ]
    assert await credit_of(database, ALICE) == 5000
    assert await payments_of(database, ALICE) == [(charge, 200, 5000, False, None)]

    # Telegram delivers the same payment again (a retried webhook, a refetched update):
    # nothing more is credited, and the user is not thanked twice.
    bot.tg.push_payment_again(charge)
    await bot.settle()
    # Two more copies at once.
    bot.tg.push_payment_again(charge)
    bot.tg.push_payment_again(charge)
    await bot.settle()
    assert len(bot.messages(ALICE)) == before + 1
    assert await credit_of(database, ALICE) == 5000
    assert await payments_of(database, ALICE) == [(charge, 200, 5000, False, None)]

    # A second purchase adds to the balance.
    second = await buy(bot, ALICE, 0)
    assert bot.messages(ALICE)[-1].text == "✅ Thank you! 1,000 tokens added; you have 6,000 now."
    assert await credit_of(database, ALICE) == 6000
    assert await payments_of(database, ALICE) == [
        (charge, 200, 5000, False, None),
        (second, 50, 1000, False, None),
    ]


async def test_a_payment_delivered_to_two_instances_at_once_is_credited_once(
    make_bot: HarnessFactory, database: Database
) -> None:
    """Two processes on one database both get the same successful_payment (a webhook
    retried to another instance): one payments row, the tokens once, one thank-you."""
    first = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET)
    second = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET)
    second.tg.start_private_chat(ALICE)  # each stand-in is its own Telegram: a chat there too
    invoice = await invoice_of_pack(first, ALICE, 1)
    query_id = first.tg.pay(invoice)
    charge = await first.tg.complete_payment(query_id)
    assert charge is not None
    paid = dict(first.tg.payments[charge].message)
    second.tg.push_update({"message": paid})  # at once, before either handled it
    second.tg.push_update({"message": paid})
    first.tg.push_payment_again(charge)
    await asyncio.gather(first.settle(), second.settle())
    thanks = [
        m.text
        for bot in (first, second)
        for m in bot.messages(ALICE)
        if m.text.startswith("✅ Thank you!")
    ]
    assert thanks == ["✅ Thank you! 5,000 tokens added; you have 5,000 now."]
    assert await credit_of(database, ALICE) == 5000
    assert await payments_of(database, ALICE) == [(charge, 200, 5000, False, None)]


async def test_buy_in_a_group_offers_the_packs_privately(make_bot: HarnessFactory) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, group_chats=True)
    bot.tg.start_private_chat(ALICE)
    message = bot.tg.make_message(ALICE, "/buy", chat_id=GROUP, chat_type="supergroup")
    bot.tg.push_update({"message": message})
    await bot.settle()
    assert all(m.reply_markup is None for m in bot.messages(GROUP)), "no packs in the group"
    assert [m.text for m in bot.messages(GROUP)] == [texts.SENT_PRIVATELY]
    (offer,) = bot.messages(ALICE)
    assert [data for _, data in buttons_of(offer)] == [
        f"buy:{ALICE}:50:1000",
        f"buy:{ALICE}:200:5000",
    ]


# ---- pre-checkout: refused, and nothing credited ----------------------------------------
REFUSALS = ["withdrawn", "stale_payload", "wrong_amount", "someone_else", "blocked", "not_ours"]


@pytest.mark.parametrize("case", REFUSALS)
async def test_pre_checkout_is_refused_with_a_reason_and_nothing_is_credited(
    make_bot: HarnessFactory, database: Database, case: str
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    await bot.say(BOB, "hello")
    invoice = await invoice_of_pack(bot, ALICE, 1)  # 200 stars for 5,000 tokens
    if case == "withdrawn":
        # The operator changed STARS_PACKS; Alice pays the invoice she got before.
        bot.settings = bot.settings.model_copy(update={"stars_packs": [(50, 1000), (200, 6000)]})
        await bot.restart()
        query_id = bot.tg.pay(invoice)
        expected = "offer has changed"
    elif case == "stale_payload":
        query_id = bot.tg.push_pre_checkout(ALICE, payload_of(ALICE, 7, 777), 7)
        expected = "offer has changed"
    elif case == "wrong_amount":
        query_id = bot.tg.push_pre_checkout(ALICE, invoice.payload, 1)
        expected = "offer has changed"
    elif case == "someone_else":
        # Alice forwarded her invoice to Bob, who pays it.
        query_id = bot.tg.pay(invoice, BOB)
        expected = "made for someone else"
    elif case == "blocked":
        assert await bot.say(ADMIN, f"/block {ALICE}") == [f"User {ALICE} is blocked."]
        query_id = bot.tg.pay(invoice)
        expected = "can't use this bot"
    else:
        assert case == "not_ours"
        query_id = bot.tg.push_pre_checkout(ALICE, "premium:forever", 200)
        expected = "not one of mine"
    reason = await refused_checkout(bot, query_id)
    assert expected in reason
    await bot.settle()
    assert bot.tg.payments == {}
    for user_id in (ALICE, BOB):
        assert await credit_of(database, user_id) == 0
        assert await payments_of(database, user_id) == []
    assert not [m for m in bot.tg.sent if m.text.startswith("✅")]


async def test_a_user_outside_the_allow_list_cannot_pay(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, allowed_user_ids=[ALICE])
    assert await bot.say(BOB, "/buy") == [texts.not_allowed(BOB)]
    query_id = bot.tg.push_pre_checkout(BOB, payload_of(BOB, 50, 1000), 50)
    assert "can't use this bot" in await refused_checkout(bot, query_id)
    assert await payments_of(database, BOB) == []


async def test_a_payment_taken_is_credited_even_if_the_user_was_blocked_meanwhile(
    make_bot: HarnessFactory, database: Database
) -> None:
    """The Stars moved once pre-checkout said yes: the payment is recorded whoever the
    user is by the time Telegram reports it (an operator refunds it if need be)."""
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    invoice = await invoice_of_pack(bot, ALICE, 0)
    query_id = bot.tg.pay(invoice)
    approved = await bot.tg.wait_pre_checkout_answer(query_id)
    assert approved.get("ok") in (True, "true", "True"), approved
    assert await bot.say(ADMIN, f"/block {ALICE}") == [f"User {ALICE} is blocked."]
    charge = await bot.tg.complete_payment(query_id)
    await bot.settle()
    assert await credit_of(database, ALICE) == 1000
    assert await payments_of(database, ALICE) == [(charge, 50, 1000, False, None)]
    (profile,) = await bot.say(ADMIN, f"/user {ALICE}")
    assert f"charge {charge}" in profile


# ---- the commands -----------------------------------------------------------------------
async def test_without_packs_buy_says_so_and_the_menu_has_no_payment_commands(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    assert await bot.say(ALICE, "/buy") == [NO_TOPUPS]
    assert bot.tg.invoices == []
    assert menu(bot, {"type": "default"}) & PAYMENT_COMMANDS == set()
    assert menu(bot, {"type": "chat", "chat_id": ADMIN}) & PAYMENT_COMMANDS == set()
    for language in ("en", "ru"):
        assert menu(bot, {"type": "default"}, language) & PAYMENT_COMMANDS == set()
    (help_text,) = await bot.say(ALICE, "/help")
    assert "/buy" not in help_text
    (limits,) = await bot.say(ALICE, "/limits")
    assert "/buy" not in limits
    assert await credit_of(database, ALICE) == 0


async def test_with_packs_the_menu_lists_buy_paysupport_and_terms_and_they_answer(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(
        stars_packs=PACKS,
        monthly_token_limit=BUDGET,
        admin_user_ids=[ADMIN],
        payment_support="@shopkeeper",
    )
    for language in ("", "en", "ru"):
        assert menu(bot, {"type": "default"}, language) >= PAYMENT_COMMANDS, language
        admin_menu = menu(bot, {"type": "chat", "chat_id": ADMIN}, language)
        assert PAYMENT_COMMANDS | {"refund"} <= admin_menu, language
    assert "refund" not in menu(bot, {"type": "default"})
    (support,) = await bot.say(ALICE, "/paysupport")
    assert "@shopkeeper" in support
    (terms,) = await bot.say(ALICE, "/terms")
    assert "Telegram Stars" in terms
    assert "refund" in terms.lower()
    (help_text,) = await bot.say(ALICE, "/help")
    assert "/buy" in help_text


async def test_paysupport_without_a_contact_still_answers(make_bot: HarnessFactory) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET)
    (support,) = await bot.say(ALICE, "/paysupport")
    assert "payment" in support.lower()
    assert "None" not in support


# ---- budgets ----------------------------------------------------------------------------
async def test_after_the_daily_budget_the_next_question_is_refused_and_costs_nothing(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(daily_token_limit=30, stars_packs=PACKS)
    used = await use_up_the_day(bot, database, ALICE, 30)
    # What is counted is exactly what the LLM reported, for every answer.
    assert used == sum(reported(request) for request in bot.llm.requests)
    calls, stored = bot.llm.calls, await questions_stored(database, ALICE)
    (refusal,) = await bot.say(ALICE, "one more?")
    assert_daily_refusal(refusal, 30, can_buy=True)
    assert bot.llm.calls == calls, "no LLM request over the budget"
    assert await questions_stored(database, ALICE) == stored, "nothing stored"
    assert await tokens_used(database, ALICE) == used
    # /retry is refused too.
    (refusal,) = await bot.say(ALICE, "/retry")
    assert_daily_refusal(refusal, 30, can_buy=True)
    assert bot.llm.calls == calls
    # Bob's day is his own.
    assert await bot.say(BOB, "hello") == ["Echo: hello"]

    (limits,) = await bot.say(ALICE, "/limits")
    assert f"Tokens today: {used:,} of 30 (resets at 00:00 UTC)" in limits
    assert f"Tokens this month: unlimited (used: {used:,})" in limits
    assert "Bought tokens left: 0 (more: /buy)" in limits


async def test_without_packs_the_budget_refusal_does_not_offer_buy(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(daily_token_limit=5)
    await use_up_the_day(bot, database, ALICE, 5)
    (refusal,) = await bot.say(ALICE, "more")
    assert_daily_refusal(refusal, 5, can_buy=False)
    (limits,) = await bot.say(ALICE, "/limits")
    assert "Bought tokens" not in limits
    assert "/buy" not in limits


async def test_a_budget_set_by_an_admin_for_one_user(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN], stars_packs=PACKS)
    assert await bot.say(BOB, f"/setlimit {ALICE} tokens 10") == [texts.ADMIN_ONLY]
    assert await bot.say(ADMIN, f"/setlimit {ALICE} tokens 10") == [
        f"The tokens limit of user {ALICE} is now 10."
    ]
    used = await use_up_the_day(bot, database, ALICE, 10)
    calls = bot.llm.calls
    (refusal,) = await bot.say(ALICE, "and now?")
    assert_daily_refusal(refusal, 10, can_buy=True)
    assert bot.llm.calls == calls
    for number in range(3):  # nobody else has a budget
        assert await bot.say(BOB, f"bob {number}") == [f"Echo: bob {number}"]
    (profile,) = await bot.say(ADMIN, f"/user {ALICE}")
    assert f"Tokens today: {used:,} of 10" in profile
    assert "tokens=10" in profile
    (limits,) = await bot.say(ALICE, "/limits")
    assert f"Tokens today: {used:,} of 10 (resets at 00:00 UTC)" in limits
    # Back to the default (no budget): answered again.
    await bot.say(ADMIN, f"/setlimit {ALICE} tokens default")
    assert await bot.say(ALICE, "free again") == ["Echo: free again"]


async def test_a_monthly_budget_names_the_first_of_next_month(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN], stars_packs=PACKS)
    assert await bot.say(ADMIN, f"/setlimit {ALICE} monthly_tokens 12") == [
        f"The monthly_tokens limit of user {ALICE} is now 12."
    ]
    used = await use_up_the_day(bot, database, ALICE, 12)
    calls = bot.llm.calls
    (refusal,) = await bot.say(ALICE, "next?")
    now = datetime.now(UTC)
    first = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    date = format_date(first, "medium", locale="en")
    assert refusal == (
        "🚫 You've used your monthly budget of 12 tokens. "
        f"It resets on {date} at 00:00 UTC. More tokens: /buy."
    )
    assert bot.llm.calls == calls
    (limits,) = await bot.say(ALICE, "/limits")
    assert f"Tokens this month: {used:,} of 12 (resets on {date})" in limits


async def test_of_two_budgets_used_up_the_later_reset_is_named(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(daily_token_limit=12, monthly_token_limit=12)
    await use_up_the_day(bot, database, ALICE, 12)
    (refusal,) = await bot.say(ALICE, "which one?")
    assert refusal.startswith("🚫 You've used your monthly budget of 12 tokens.")
    assert "/buy" not in refusal


async def test_setlimit_checks_token_budgets(make_bot: HarnessFactory) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    usage = (
        "Usage: /setlimit <user_id> <history|daily|context|tokens|monthly_tokens|images> "
        "<n|default>"
    )
    assert await bot.say(ADMIN, f"/setlimit {ALICE} tokens -5") == [usage]
    assert await bot.say(ADMIN, f"/setlimit {ALICE} tokens lots") == [usage]
    (too_big,) = await bot.say(ADMIN, f"/setlimit {ALICE} monthly_tokens {10**15 + 1}")
    assert too_big.startswith("The monthly_tokens limit must be 0 (unlimited) or a positive")
    assert await bot.say(ADMIN, f"/setlimit {ALICE} tokens 0") == [
        f"The tokens limit of user {ALICE} is now 0."
    ]
    assert await bot.say(ALICE, "unlimited") == ["Echo: unlimited"]


async def test_a_title_model_request_is_counted_too(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(title_model="gpt-4o-mini", daily_token_limit=10_000)
    assert await bot.say(ALICE, "name this conversation") == ["Echo: name this conversation"]
    await bot.llm.wait_for_requests(2)
    await bot.settle()
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT model, prompt_tokens + completion_tokens FROM token_usage"
                " WHERE user_id = :u ORDER BY model"
            ),
            {"u": ALICE},
        )
        by_model = {str(model): int(tokens) for model, tokens in rows}
    assert set(by_model) == {"fake-model", "gpt-4o-mini"}
    answer = next(r for r in bot.llm.requests if r["model"] == "fake-model")
    assert by_model["fake-model"] == reported(answer)
    assert by_model["gpt-4o-mini"] > 0
    (limits,) = await bot.say(ALICE, "/limits")
    assert f"Tokens today: {sum(by_model.values()):,} of 10,000" in limits


async def test_credit_is_spent_only_past_the_allowance_until_it_runs_out(
    make_bot: HarnessFactory, database: Database
) -> None:
    limit = 20
    bot = await make_bot(daily_token_limit=limit, stars_packs="1:300")
    # Bought before the day's allowance is used: the first answer spends only the part of
    # its tokens past what was left of the allowance.
    await buy(bot, ALICE)
    assert await credit_of(database, ALICE) == 300
    (answer,) = await bot.say(ALICE, "the first question of the day")
    assert answer == "Echo: the first question of the day"
    first = reported(bot.llm.last_request)
    assert await tokens_used(database, ALICE) == first
    assert first > limit, "the test needs the first answer to cross the allowance"
    credit = 300 - (first - limit)
    assert await credit_of(database, ALICE) == credit

    # Past the allowance every answer is paid from the credit, in full, until it is gone.
    answered = 0
    while True:
        calls = bot.llm.calls
        (reply,) = await bot.say(ALICE, f"paid question {answered}")
        if bot.llm.calls == calls:
            assert credit == 0, "refused while credit was left"
            assert_daily_refusal(reply, limit, can_buy=True)
            break
        assert reply == f"Echo: paid question {answered}"
        assert credit > 0, "answered with neither allowance nor credit"
        cost = reported(bot.llm.last_request)
        credit = max(0, credit - cost)
        assert await credit_of(database, ALICE) == credit
        answered += 1
        assert answered < 20
    assert answered >= 2, "the credit should pay for a few answers"
    (limits,) = await bot.say(ALICE, "/limits")
    assert "Bought tokens left: 0 (more: /buy)" in limits

    # More credit: answered again.
    await buy(bot, ALICE)
    assert await bot.say(ALICE, "bought more") == ["Echo: bought more"]
    spent = reported(bot.llm.last_request)
    assert await credit_of(database, ALICE) == 300 - spent
    (limits,) = await bot.say(ALICE, "/limits")
    assert f"Bought tokens left: {300 - spent:,} (more: /buy)" in limits


async def test_a_user_over_the_budget_who_buys_is_answered(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(daily_token_limit=10, stars_packs=PACKS)
    await use_up_the_day(bot, database, ALICE, 10)
    (refusal,) = await bot.say(ALICE, "please?")
    assert_daily_refusal(refusal, 10, can_buy=True)
    await buy(bot, ALICE)
    assert await bot.say(ALICE, "please?") == ["Echo: please?"]
    assert await credit_of(database, ALICE) == 1000 - reported(bot.llm.last_request)


@pytest.mark.parametrize("where", ["private", "group"])
async def test_questions_queued_past_the_budget_are_refused_without_an_llm_request(
    make_bot: HarnessFactory, database: Database, where: str
) -> None:
    """Three questions at once while the budget allows one: the first is answered, the
    others are refused when their turn comes, and cost nothing."""
    bot = await make_bot(daily_token_limit=1, stars_packs=PACKS, group_chats=True)
    bot.tg.start_private_chat(ALICE)
    chat_id = ALICE if where == "private" else GROUP
    prefix = "" if where == "private" else "@test_bot "
    bot.llm.hold()  # the first is answered only once all three are stored
    for number in range(3):
        message = bot.tg.make_message(
            ALICE,
            f"{prefix}queued {number}",
            chat_id=chat_id,
            chat_type="private" if where == "private" else "supergroup",
        )
        if prefix:
            message["entities"] = [{"type": "mention", "offset": 0, "length": len("@test_bot")}]
        bot.tg.push_update({"message": message})

    # A group's questions are its conversation's (ADR 0019), charged to Alice.
    owner = ALICE if where == "private" else GROUP
    said = "" if where == "private" else "User: "

    async def all_stored() -> bool:
        return await pending_questions(database, owner) == 3

    await poll_until_async(all_stored, 15, lambda: "three questions stored as pending")
    bot.llm.release()
    await bot.settle()
    assert bot.llm.calls == 1, "only the first question reached the LLM"
    assert "queued 0" in str(bot.llm.last_request["messages"])
    shown = [m.text for m in bot.messages(chat_id)]
    assert shown[0] == f"Echo: {said}{prefix}queued 0"
    if where == "private":
        assert len(shown) == 3, shown
        for line in shown[1:]:
            assert_daily_refusal(line, 1, can_buy=True)
    else:  # a user's budget is theirs: only Alice sees the refusals (issue 33)
        assert shown == [shown[0]], "nothing more posted to the group"
        notices = bot.tg.ephemeral_to(ALICE, GROUP)
        assert len(notices) == 2, notices
        for line in notices:
            assert_daily_refusal(line, 1, can_buy=True)
    assert await pending_questions(database, owner) == 0, "none left waiting"
    assert await tokens_used(database, ALICE) == reported(bot.llm.last_request)


async def test_forget_does_not_refund_the_budget(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(daily_token_limit=10)
    used = await use_up_the_day(bot, database, ALICE, 10)
    (refusal,) = await bot.say(ALICE, "before forgetting")
    assert_daily_refusal(refusal, 10, can_buy=False)
    question = await ask_to_forget(bot, ALICE)
    await press(bot, ALICE, f"forget:yes:{ALICE}", question)
    assert await questions_stored(database, ALICE) == 0, "the words are gone"
    calls = bot.llm.calls
    (still,) = await bot.say(ALICE, "a fresh start?")
    assert_daily_refusal(still, 10, can_buy=False)
    assert bot.llm.calls == calls, "a forget is not a new day"
    assert await tokens_used(database, ALICE) == used
    (limits,) = await bot.say(ALICE, "/limits")
    assert f"Tokens today: {used:,} of 10" in limits
    (status,) = await bot.say(ALICE, "/status")
    assert f"Tokens used: {used:,}" in status


# ---- refunds ----------------------------------------------------------------------------
async def spend_some_credit(bot: BotHarness, database: Database, user_id: int) -> int:
    """With credit bought: use up the day's allowance (the answer that crosses it pays
    the part past it from the credit), then answer once more, paid in full from the
    credit; the credit spent."""
    limit = bot.settings.daily_token_limit
    before = await credit_of(database, user_id)
    used = await use_up_the_day(bot, database, user_id, limit)
    crossing = used - limit
    assert await credit_of(database, user_id) == before - crossing
    assert await bot.say(user_id, "paid for") == ["Echo: paid for"]
    spent = crossing + reported(bot.llm.last_request)
    assert await credit_of(database, user_id) == before - spent
    return spent


async def refund_then_telegrams_message(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch, charge: str
) -> str:
    """An admin's /refund; the refunded_payment message Telegram sends for it is
    delivered only once the admin has the reply (the order the other way round:
    test_refund_reports_what_it_took_even_when_telegrams_message_came_first). Returns
    the reply; the message has been handled too when this returns."""
    held: list[dict[str, Any]] = []
    push = bot.tg.push_update

    def hold(payload: dict[str, Any]) -> int:
        if "refunded_payment" in (payload.get("message") or {}):
            held.append(payload)
            return 0
        return push(payload)

    with monkeypatch.context() as patch:
        patch.setattr(bot.tg, "push_update", hold)
        (reply,) = await bot.say(ADMIN, f"/refund {charge}")
    assert len(held) == 1, "Telegram follows the refund with a refunded_payment message"
    assert held[0]["message"]["refunded_payment"]["telegram_payment_charge_id"] == charge
    push(held[0])
    await bot.settle()
    return reply


async def test_refund_takes_back_the_unspent_tokens_once(
    make_bot: HarnessFactory, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot(daily_token_limit=10, stars_packs=PACKS, admin_user_ids=[ADMIN])
    charge = await buy(bot, ALICE, 0)  # 1,000 tokens for 50 stars
    spent = await spend_some_credit(bot, database, ALICE)
    assert 0 < spent < 1000

    reply = await refund_then_telegrams_message(bot, monkeypatch, charge)
    assert reply == (
        f"↩️ Refunded 50 ⭐ to user {ALICE}. Took back {1000 - spent:,} of its 1,000 tokens "
        f"({spent:,} had been spent); their balance is 0 now."
    )
    (refund,) = bot.tg.refunds
    assert (refund.user_id, refund.charge_id, refund.total_amount, refund.by_bot) == (
        ALICE,
        charge,
        50,
        True,
    )
    assert await credit_of(database, ALICE) == 0
    assert await payments_of(database, ALICE) == [(charge, 50, 1000, True, 1000 - spent)]

    (again,) = await bot.say(ADMIN, f"/refund {charge}")
    assert again.startswith("That payment was refunded already (")
    assert len(bot.tg.method_calls("refundStarPayment")) == 1, "Telegram is not asked twice"
    assert await payments_of(database, ALICE) == [(charge, 50, 1000, True, 1000 - spent)]
    (profile,) = await bot.say(ADMIN, f"/user {ALICE}")
    assert f"50 ⭐ for 1,000 tokens, charge {charge} (refunded " in profile


async def test_the_refunded_payment_message_does_not_take_the_tokens_twice(
    make_bot: HarnessFactory, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    small = await buy(bot, ALICE, 0)  # 1,000
    await buy(bot, ALICE, 1)  # 5,000
    assert await credit_of(database, ALICE) == 6000
    reply = await refund_then_telegrams_message(bot, monkeypatch, small)
    assert reply == (
        f"↩️ Refunded 50 ⭐ to user {ALICE}. Took back 1,000 of its 1,000 tokens "
        "(0 had been spent); their balance is 5,000 now."
    )
    assert await credit_of(database, ALICE) == 5000, "the message took nothing more"
    assert [p[3:] for p in await payments_of(database, ALICE)] == [(True, 1000), (False, None)]


async def test_refund_reports_what_it_took_even_when_telegrams_message_came_first(
    make_bot: HarnessFactory, database: Database
) -> None:
    """Telegram's refunded_payment message may be handled before the answer to
    refundStarPayment reaches the bot (it is another update, handled in parallel: the
    bot's sender, not the admin, is its user). The tokens are taken back once either
    way, and the admin who refunded is still told how many, not that the payment "was
    refunded already" (which would hide what the refund took)."""
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    small = await buy(bot, ALICE, 0)
    await buy(bot, ALICE, 1)
    methods = bot.tg._methods
    refund_star_payment = methods["refundstarpayment"]

    async def refunded_in_the_database() -> bool:
        return bool((await payments_of(database, ALICE))[0][3])

    async def answered_late(params: dict[str, Any]) -> Any:
        result = await refund_star_payment(params)  # queues the refunded_payment message
        await poll_until_async(
            refunded_in_the_database, 15, lambda: "the refunded_payment message handled"
        )
        return result

    methods["refundstarpayment"] = answered_late
    (reply,) = await bot.say(ADMIN, f"/refund {small}")
    assert await credit_of(database, ALICE) == 5000, "taken back once"
    assert [p[3:] for p in await payments_of(database, ALICE)] == [(True, 1000), (False, None)]
    assert reply == (
        f"↩️ Refunded 50 ⭐ to user {ALICE}. Took back 1,000 of its 1,000 tokens "
        "(0 had been spent); their balance is 5,000 now."
    )


async def test_refund_commands_that_do_nothing(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    charge = await buy(bot, ALICE, 0)
    assert await bot.say(ALICE, f"/refund {charge}") == [texts.ADMIN_ONLY]
    assert await bot.say(BOB, f"/refund {charge}") == [texts.ADMIN_ONLY]
    assert await bot.say(ADMIN, "/refund no-such-charge") == ["No payment has that charge id."]
    assert await bot.say(ADMIN, "/refund") == ["Usage: /refund <telegram_payment_charge_id>"]
    assert bot.tg.refunds == []
    assert bot.tg.method_calls("refundStarPayment") == []
    assert await credit_of(database, ALICE) == 1000
    assert await payments_of(database, ALICE) == [(charge, 50, 1000, False, None)]


async def test_a_refund_telegram_refuses_takes_nothing_back(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    charge = await buy(bot, ALICE, 0)
    del bot.tg.payments[charge]  # Telegram knows no such charge (any more)
    (reply,) = await bot.say(ADMIN, f"/refund {charge}")
    assert reply.startswith("Telegram refused the refund:")
    assert "CHARGE_NOT_FOUND" in reply
    assert await credit_of(database, ALICE) == 1000
    assert await payments_of(database, ALICE) == [(charge, 50, 1000, False, None)]


async def test_a_refund_made_outside_the_bot_takes_the_tokens_back(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    small = await buy(bot, ALICE, 0)
    await buy(bot, ALICE, 1)
    bot.tg.push_refund(small)  # a dispute settled through Telegram's support
    await bot.settle()
    assert await credit_of(database, ALICE) == 5000
    assert [p[3:] for p in await payments_of(database, ALICE)] == [(True, 1000), (False, None)]
    (again,) = await bot.say(ADMIN, f"/refund {small}")
    assert again.startswith("That payment was refunded already (")
    assert bot.tg.method_calls("refundStarPayment") == []
    assert await credit_of(database, ALICE) == 5000


async def test_a_refund_telegram_made_without_telling_is_recorded_by_refund(
    make_bot: HarnessFactory, database: Database
) -> None:
    """No refunded_payment message came (an older Bot API): /refund finds the charge
    refunded already at Telegram and still takes the tokens back, once."""
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN])
    charge = await buy(bot, ALICE, 0)
    bot.tg.refund_messages = False
    bot.tg.push_refund(charge)
    await bot.settle()
    assert await credit_of(database, ALICE) == 1000, "the bot was not told"
    (reply,) = await bot.say(ADMIN, f"/refund {charge}")
    assert "Took back 1,000 of its 1,000 tokens" in reply
    assert await credit_of(database, ALICE) == 0
    assert await payments_of(database, ALICE) == [(charge, 50, 1000, True, 1000)]


# ---- /user and /stats: balance, payments, costs -------------------------------------------
def money(value: float) -> str:
    """US dollars as the bot writes them in English: two to four decimals."""
    shown = f"{round(value, 4):,.4f}"
    while shown.endswith("0") and len(shown.partition(".")[2]) > 2:
        shown = shown[:-1]
    return "$" + shown


async def test_user_shows_the_balance_payments_and_cost(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(
        stars_packs=PACKS, monthly_token_limit=BUDGET, admin_user_ids=[ADMIN], model_prices=PRICES
    )
    first = await buy(bot, ALICE, 0)
    second = await buy(bot, ALICE, 1)
    await bot.say(ALICE, "what does this cost?")
    await bot.say(BOB, "and this?")
    (profile,) = await bot.say(ADMIN, f"/user {ALICE}")
    assert "Bought tokens left: 6,000" in profile
    assert "(more: /buy)" not in profile, "the admin is not offered to buy"
    lines = profile.splitlines()
    heading = lines.index("Payments (newest first):")
    assert len(lines) == heading + 3
    assert lines[heading + 1].startswith("• ")
    assert lines[heading + 1].endswith(f": 200 ⭐ for 5,000 tokens, charge {second}")
    assert lines[heading + 2].endswith(f": 50 ⭐ for 1,000 tokens, charge {first}")
    prompt, completion = await usage_by_kind(database, ALICE)
    cost = money((prompt * 10000 + completion * 20000) / 1_000_000)
    assert f"Cost: {cost} today, {cost} in total" in profile
    (stats,) = await bot.say(ADMIN, "/stats")
    prompt, completion = await usage_by_kind(database)
    everyone = money((prompt * 10000 + completion * 20000) / 1_000_000)
    assert f"Cost: {everyone} today, {everyone} in total" in stats
    assert everyone != cost, "/stats counts everyone"
    (bobs,) = await bot.say(ADMIN, f"/user {BOB}")
    assert "Payments" not in bobs


async def test_without_prices_no_cost_is_shown(make_bot: HarnessFactory) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    await bot.say(ALICE, "free of charge")
    (profile,) = await bot.say(ADMIN, f"/user {ALICE}")
    (stats,) = await bot.say(ADMIN, "/stats")
    for shown in (profile, stats):
        assert "Cost" not in shown
        assert "$" not in shown
    assert "Payments" not in profile
    assert "Tokens today:" in profile


async def test_a_model_without_a_price_is_named(make_bot: HarnessFactory) -> None:
    bot = await make_bot(
        admin_user_ids=[ADMIN],
        llm_models=["fake-model", "gpt-4o-mini"],
        model_prices=PRICES,
    )
    await bot.say(ALICE, "priced")
    await bot.say(ALICE, "/model gpt-4o-mini")
    await bot.say(ALICE, "not priced")
    (profile,) = await bot.say(ADMIN, f"/user {ALICE}")
    assert "(no price for: gpt-4o-mini)" in profile


async def test_an_invoice_asked_for_in_a_topic_arrives_in_that_topic(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(stars_packs=PACKS, monthly_token_limit=BUDGET)
    bot.tg.enable_topics()
    topic = bot.tg.open_topic(ALICE, "Shopping")
    bot.tg.push_text(ALICE, "/buy", thread_id=topic)
    await bot.settle()
    offer = bot.messages(ALICE)[-1]
    assert offer.thread_id == topic
    answer = await press(bot, ALICE, buttons_of(offer)[0][1], offer)
    assert not answer.get("show_alert"), answer
    assert bot.tg.invoices[-1].thread_id == topic
    assert "токен" not in bot.tg.invoices[-1].prices[0]["label"]

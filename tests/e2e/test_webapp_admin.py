"""Issue 32 end to end: the Mini App's admin endpoints (ADMIN_USER_IDS only), on the real
bot over real HTTP, on both backends: what they change reaches the database and the
bot's behaviour, and a refund goes through the fake Telegram's refundStarPayment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.webapp import add_webapp
from ai_tg_bot.bot.webhook import build_web_app
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_payments import PRICES, buy, usage_by_kind
from tests.e2e.test_webapp_api import WebApp, http, scalar, start

__all__ = ["http"]  # the fixture, shared

ADMIN = 9811
ALICE = 9822
BOB = 9833
ADMIN_PATHS = [
    ("GET", "/admin/users"),
    ("GET", f"/admin/users?q={ALICE}"),
    ("POST", f"/admin/users/{ALICE}/block"),
    ("POST", f"/admin/users/{ALICE}/unblock"),
    ("PATCH", f"/admin/users/{ALICE}/limits"),
    ("GET", "/admin/usage"),
    ("GET", "/admin/payments"),
    ("POST", "/admin/payments/some-charge/refund"),
]


async def test_admin_endpoints_refuse_everyone_but_an_admin(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http, admin_user_ids=str(ADMIN))
    await app.bot.say(ALICE, "hello")
    for method, path in ADMIN_PATHS:
        body = {"daily": 1} if method == "PATCH" else None
        answer = await app.call(method, path, ALICE, body=body)
        assert answer == (403, {"error": "forbidden"}), (method, path)
    blocked = "SELECT is_blocked FROM users WHERE id = :u"
    assert await scalar(database, blocked, u=ALICE) in (False, 0)
    limit = "SELECT daily_message_limit FROM user_settings WHERE user_id = :u"
    assert await scalar(database, limit, u=ALICE) is None
    assert (await app.ok("GET", "/me", ADMIN))["admin"] is True


async def test_block_and_unblock_reach_the_api_and_the_bot(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http, admin_user_ids=str(ADMIN))
    bot = app.bot
    await bot.say(ALICE, "hi")
    (alice,) = (await app.ok("GET", f"/admin/users?q={ALICE}", ADMIN))["users"]
    assert (alice["id"], alice["blocked"], alice["messages_today"]) == (ALICE, False, 1)
    assert alice["tokens_today"] > 0
    assert alice["last_active_at"].endswith("Z")

    answer = await app.ok("POST", f"/admin/users/{ALICE}/block", ADMIN)
    assert answer == {"id": ALICE, "blocked": True}
    assert await scalar(database, "SELECT is_blocked FROM users WHERE id = :u", u=ALICE)
    assert await app.call("GET", "/me", ALICE) == (403, {"error": "forbidden"})
    assert await app.call("GET", "/conversations", ALICE) == (403, {"error": "forbidden"})
    calls = bot.llm.calls
    assert await bot.say(ALICE, "let me in") == [texts.BLOCKED]
    assert bot.llm.calls == calls
    # A user who never wrote can be blocked too (their row made); an admin never is.
    answer = await app.ok("POST", f"/admin/users/{BOB}/block", ADMIN)
    assert answer == {"id": BOB, "blocked": True}
    await app.ok("POST", f"/admin/users/{ADMIN}/block", ADMIN)
    assert (await app.ok("GET", "/me", ADMIN))["admin"] is True

    answer = await app.ok("POST", f"/admin/users/{ALICE}/unblock", ADMIN)
    assert answer == {"id": ALICE, "blocked": False}
    assert (await app.ok("GET", "/me", ALICE))["user"]["id"] == ALICE
    assert await bot.say(ALICE, "back") == ["Echo: back"]

    # The list: the most recently active first; a user by id; nobody for an unknown id.
    listed = (await app.ok("GET", "/admin/users", ADMIN))["users"]
    assert [user["id"] for user in listed] == [ALICE]
    (bob,) = (await app.ok("GET", f"/admin/users?q={BOB}", ADMIN))["users"]
    assert (bob["blocked"], bob["messages_today"], bob["last_active_at"]) == (True, 0, None)
    assert (await app.ok("GET", "/admin/users?q=123456", ADMIN))["users"] == []
    status, answer = await app.call("GET", "/admin/users?q=alice", ADMIN)
    assert (status, answer["error"]) == (400, "bad_user_id")


async def test_limits_are_set_with_the_setlimit_names_and_bounds(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(make_bot, http, admin_user_ids=str(ADMIN))
    bot = app.bot
    await bot.say(ALICE, "one")
    path = f"/admin/users/{ALICE}/limits"
    column = "SELECT daily_message_limit FROM user_settings WHERE user_id = :u"
    # Bad input changes nothing, not even the valid part.
    bad: list[tuple[Any, str]] = [
        ({"daily": 2, "history": 0}, "out_of_bounds"),
        ({"daily": 2, "speed": 3}, "unknown_limit"),
        ({"daily": True}, "bad_limit"),
        ({"daily": "7"}, "bad_limit"),
        ({"daily": -1}, "out_of_bounds"),
        ("daily", "bad_json"),
    ]
    for body, code in bad:
        status, answer = await app.call("PATCH", path, ADMIN, body=body)
        assert (status, answer["error"]) == (400, code), (body, answer)
        assert answer["message"]
    assert await scalar(database, column, u=ALICE) is None

    user = await app.ok("PATCH", path, ADMIN, {"daily": 2, "history": 10})
    assert (user["limits"]["daily"], user["limits"]["history"]) == (2, 10)
    assert sorted(user["custom"]) == ["daily", "history"]
    assert await scalar(database, column, u=ALICE) == 2
    assert await bot.say(ALICE, "two") == ["Echo: two"]
    (refusal,) = await bot.say(ALICE, "three")
    assert refusal.startswith("🚫 You've reached your daily limit of 2 messages."), refusal

    user = await app.ok("PATCH", path, ADMIN, {"daily": "default"})
    assert user["limits"]["daily"] == 0
    assert user["custom"] == ["history"]
    assert await scalar(database, column, u=ALICE) is None
    assert await bot.say(ALICE, "three again") == ["Echo: three again"]


async def test_usage_per_model_and_day_is_priced(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(
        make_bot, http, admin_user_ids=str(ADMIN), model_prices=PRICES, llm_models="fake-model,b"
    )
    await app.bot.say(ALICE, "price me")
    await app.bot.say(BOB, "and me")
    prompt, completion = await usage_by_kind(database)
    today = datetime.now(UTC).date().isoformat()
    rows = (await app.ok("GET", "/admin/usage", ADMIN))["rows"]
    # A cent per prompt token, two per completion token (PRICES).
    assert rows == [
        {
            "date": today,
            "model": "fake-model",
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost": pytest.approx(prompt * 0.01 + completion * 0.02),
        }
    ]
    await app.ok("PATCH", "/settings", ALICE, {"model": "b"})
    await app.bot.say(ALICE, "unpriced")
    rows = (await app.ok("GET", "/admin/usage?days=1", ADMIN))["rows"]
    assert [(row["model"], row["cost"] is None) for row in rows] == [
        ("b", True),
        ("fake-model", False),
    ]
    for days in ("0", "367", "x"):
        status, answer = await app.call("GET", f"/admin/usage?days={days}", ADMIN)
        assert (status, answer["error"]) == (400, "bad_days"), days


async def test_payments_are_listed_and_refunded_through_telegram(
    make_bot: HarnessFactory, http: aiohttp.ClientSession, database: Database
) -> None:
    app = await start(
        make_bot,
        http,
        admin_user_ids=str(ADMIN),
        stars_packs="50:1000,200:5000",
        monthly_token_limit=10_000_000,
    )
    bot = app.bot
    charge = await buy(bot, ALICE)
    (payment,) = (await app.ok("GET", "/admin/payments", ADMIN))["payments"]
    assert (payment["charge_id"], payment["user_id"], payment["stars"]) == (charge, ALICE, 50)
    assert (payment["tokens"], payment["refunded"]) == (1000, False)
    assert (await app.ok("GET", "/usage", ALICE))["credit"] == 1000

    before = len(bot.messages(ALICE))
    done = await app.ok("POST", f"/admin/payments/{charge}/refund", ADMIN)
    assert done["refunded"] is True
    assert (done["taken_back"], done["credit"], done["user_id"]) == (1000, 0, ALICE)
    (refund,) = bot.tg.refunds
    assert (refund.user_id, refund.charge_id, refund.by_bot) == (ALICE, charge, True)
    await bot.settle()  # Telegram's refunded_payment message for it: nothing taken twice
    credit = "SELECT token_credit FROM users WHERE id = :u"
    assert await scalar(database, credit, u=ALICE) == 0
    told = [m.text for m in bot.messages(ALICE)[before:]]
    assert len(told) == 1, told
    assert told[0].startswith("↩️ Your payment of 50 ⭐ was refunded.")

    again = await app.ok("POST", f"/admin/payments/{charge}/refund", ADMIN)
    assert (again["refunded"], again["already"]) == (True, True)
    assert len(bot.tg.method_calls("refundStarPayment")) == 1, "Telegram is not asked twice"
    (mine,) = (await app.ok("GET", "/usage", ALICE))["payments"]
    assert (mine["charge_id"], mine["refunded"]) == (charge, True)
    assert mine["refunded_at"].endswith("Z")
    not_found = (404, {"error": "not_found"})
    assert await app.call("POST", "/admin/payments/no-such-charge/refund", ADMIN) == not_found


async def test_the_webhook_server_serves_the_mini_app_too(
    make_bot: HarnessFactory, http: aiohttp.ClientSession
) -> None:
    """Both modes build their server with bot.webhook.build_web_app: with the webhook's
    route, the Mini App's are there too."""
    app: WebApp = await start(make_bot, http)
    assert app.bot.app is not None
    served = build_web_app(app.bot.app, webhook=True)
    paths = {resource.canonical for resource in served.router.resources()}
    assert {"/app", "/app/static/{name}", "/app/api/me", "/telegram/webhook"} <= paths
    assert add_webapp.__module__ == "ai_tg_bot.bot.webapp"

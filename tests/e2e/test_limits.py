"""Issue 4 end to end: access, blocking, per-user limits, models and usage accounting."""

from __future__ import annotations

from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_bot import active_rows, history_of

ADMIN = 900
ALICE = 111
BOB = 222


async def count(database: Database, sql: str, user_id: int) -> int:
    async with database.session(read_only=True) as session:
        return int((await session.execute(text(sql), {"u": user_id})).scalar_one())


async def rows_of(database: Database, user_id: int) -> int:
    return await count(database, "SELECT count(*) FROM messages WHERE user_id = :u", user_id) + (
        await count(database, "SELECT count(*) FROM users WHERE id = :u", user_id)
    )


async def test_users_outside_the_allow_list_cost_nothing(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(allowed_user_ids=[ALICE], admin_user_ids=[ADMIN])
    assert await bot.say(BOB, "let me in") == [texts.not_allowed(BOB)]
    assert await bot.say(BOB, "/start") == [texts.not_allowed(BOB)]
    assert bot.llm.calls == 0
    assert await rows_of(database, BOB) == 0
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert await bot.say(ADMIN, "admins always") == ["Echo: admins always"]


async def test_blocked_users_cost_nothing_until_unblocked(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    await bot.say(BOB, "before")
    assert await bot.say(ADMIN, f"/block {BOB}") == [f"User {BOB} is blocked."]
    calls = bot.llm.calls
    assert await bot.say(BOB, "after") == [texts.BLOCKED]
    assert await bot.say(BOB, "/role hacker") == [texts.BLOCKED]
    assert bot.llm.calls == calls
    assert await active_rows(database, BOB) == [("user", "before"), ("assistant", "Echo: before")]
    assert await bot.say(ADMIN, f"/unblock {BOB}") == [f"User {BOB} is unblocked."]
    assert await bot.say(BOB, "again") == ["Echo: again"]


async def test_setlimit_by_an_admin_applies_on_the_next_message(make_bot: HarnessFactory) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    await bot.say(ALICE, "one")
    (refusal,) = await bot.say(BOB, f"/setlimit {ALICE} daily 1")
    assert refusal == texts.ADMIN_ONLY
    assert await bot.say(ALICE, "two") == ["Echo: two"]
    assert await bot.say(ADMIN, f"/setlimit {ALICE} daily 2") == [
        f"The daily limit of user {ALICE} is now 2."
    ]
    calls = bot.llm.calls
    (limited,) = await bot.say(ALICE, "three")
    assert "daily limit of 2 messages" in limited
    assert "00:00 UTC" in limited
    assert bot.llm.calls == calls
    await bot.say(ADMIN, f"/setlimit {ALICE} daily default")
    assert await bot.say(ALICE, "four") == ["Echo: four"]


async def test_admin_commands_reject_malformed_arguments(make_bot: HarnessFactory) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    usage = (
        "Usage: /setlimit <user_id> <history|daily|context|tokens|monthly_tokens|images> "
        "<n|default>"
    )
    for bad in ["/setlimit", "/setlimit x daily 3", f"/setlimit {ALICE} speed 3",
                f"/setlimit {ALICE} daily -1", f"/setlimit {ALICE} daily 3 4"]:  # fmt: skip
        assert await bot.say(ADMIN, bad) == [usage], bad
    (history_bad,) = await bot.say(ADMIN, f"/setlimit {ALICE} history 0")
    assert "between 1 and 1000" in history_bad
    assert await bot.say(ADMIN, "/user") == ["Usage: /user <user_id>"]
    assert await bot.say(ADMIN, "/block me") == ["Usage: /block <user_id>"]
    assert await bot.say(ADMIN, f"/user {BOB}") == [f"User {BOB} has never written to the bot."]
    for command in [
        "/stats",
        f"/user {ALICE}",
        f"/block {ALICE}",
        f"/unblock {ALICE}",
        "/refund x",
    ]:
        assert await bot.say(BOB, command) == [texts.ADMIN_ONLY]


async def test_user_and_stats_show_settings_and_usage(make_bot: HarnessFactory) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN])
    await bot.say(ALICE, "hello")
    await bot.say(ADMIN, f"/setlimit {ALICE} history 10")
    (profile,) = await bot.say(ADMIN, f"/user {ALICE}")
    assert f"User {ALICE}" in profile
    assert "History kept: 10 messages" in profile
    assert "Own settings: history=10" in profile
    assert "Messages: 1 in total" in profile
    (stats,) = await bot.say(ADMIN, "/stats")
    assert "Active today: 1" in stats
    assert "Messages today: 1" in stats
    assert "Tokens today: 0" not in stats


async def test_daily_limit_survives_reset_and_restart(make_bot: HarnessFactory) -> None:
    bot = await make_bot(daily_message_limit=2)
    await bot.say(ALICE, "one")
    await bot.say(ALICE, "two")
    await bot.say(ALICE, "/reset")
    (limited,) = await bot.say(ALICE, "three")
    assert "daily limit of 2 messages" in limited
    await bot.restart()
    (still,) = await bot.say(ALICE, "four")
    assert "daily limit of 2 messages" in still
    assert bot.llm.calls == 2
    (limits,) = await bot.say(ALICE, "/limits")
    assert "Messages per day: 2 messages (today: 2 of 2)" in limits


async def test_the_burst_guard_says_slow_down(make_bot: HarnessFactory) -> None:
    bot = await make_bot(rate_limit_per_minute=2)
    await bot.say(ALICE, "a")
    await bot.say(ALICE, "b")
    (slow,) = await bot.say(ALICE, "c")
    assert "Slow down" in slow
    assert bot.llm.calls == 2


async def test_the_context_budget_keeps_the_prompt_and_the_newest_message(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await make_bot(max_context_chars=40)
    await bot.say(ALICE, "/role Be brief.")
    await bot.say(ALICE, "x" * 20)  # 20 + "Echo: " 26 = 46 characters
    await bot.say(ALICE, "y" * 10)
    # Budget 40: the new question (10) and the last answer (26) fit; the older question
    # (20 more) would overflow, so it is left out of the request.
    assert history_of(bot.llm.last_request) == [
        ("system", "Be brief."),
        ("assistant", "Echo: " + "x" * 20),
        ("user", "y" * 10),
    ]
    big = "z" * 500
    await bot.say(ALICE, big)
    assert history_of(bot.llm.last_request) == [("system", "Be brief."), ("user", big)]
    assert len(await active_rows(database, ALICE)) == 6, "left out, not deleted"


async def test_model_switch_changes_the_request(make_bot: HarnessFactory) -> None:
    bot = await make_bot(llm_models=["fake-model", "other-model"])
    (listing,) = await bot.say(ALICE, "/model")
    assert "✅ fake-model" in listing
    assert "other-model" in listing
    (refused,) = await bot.say(ALICE, "/model gpt-9000")
    assert "Unknown model" in refused
    assert "other-model" in refused
    assert await bot.say(ALICE, "/model other-model") == ["Model switched to other-model."]
    await bot.say(ALICE, "which model?")
    assert bot.llm.last_request["model"] == "other-model"
    (status,) = await bot.say(ALICE, "/status")
    assert "Model: other-model" in status


async def test_usage_is_recorded_and_shown(make_bot: HarnessFactory, database: Database) -> None:
    bot = await make_bot()
    await bot.say(ALICE, "count my tokens please")
    async with database.session(read_only=True) as session:
        row = (
            await session.execute(
                text(
                    "SELECT model, prompt_tokens, completion_tokens FROM messages"
                    " WHERE user_id = :u AND role = 'assistant'"
                ),
                {"u": ALICE},
            )
        ).one()
    model, prompt_tokens, completion_tokens = row
    assert model == "fake-model"
    assert prompt_tokens > 0
    assert completion_tokens > 0
    (status,) = await bot.say(ALICE, "/status")
    assert f"Tokens used: {prompt_tokens + completion_tokens:,}" in status
    assert "Messages today: 1" in status


async def test_a_too_long_role_is_refused_and_the_old_one_kept(make_bot: HarnessFactory) -> None:
    bot = await make_bot(system_prompt_max_chars=20)
    await bot.say(ALICE, "/role Short role.")
    (refused,) = await bot.say(ALICE, "/role " + "r" * 21)
    assert "too long" in refused
    assert "unchanged" in refused
    await bot.say(ALICE, "hi")
    assert history_of(bot.llm.last_request)[0] == ("system", "Short role.")

"""A member's own notices in a group (issue 33): a limit, a token budget, "not allowed"
or "blocked" is shown to that member alone, as an ephemeral message (Bot API 10.2), or,
where the server has none, in their private chat; never posted to the group."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.waiting import poll_until_async

ALICE, BOB = 9301, 9402
GROUP = -100_9393
LINK = "https://t.me/test_bot?start=private"


def message_in_group(bot: BotHarness, user_id: int, body: str) -> dict[str, Any]:
    """A message addressed to the bot in the group (a mention, as Telegram marks it)."""
    name = {ALICE: "Alice", BOB: "Bob"}.get(user_id, "Carol")
    message = bot.tg.make_message(
        user_id, body, chat_id=GROUP, chat_type="supergroup", first_name=name
    )
    if body.startswith("@test_bot "):
        message["entities"] = [{"type": "mention", "offset": 0, "length": len("@test_bot")}]
    return message


async def in_group(bot: BotHarness, user_id: int, body: str) -> list[str]:
    """Post in the group as the user; return what the bot posted in the group meanwhile."""
    before = len(bot.messages(GROUP))
    bot.tg.push_update({"message": message_in_group(bot, user_id, body)})
    await bot.settle()
    return [m.text for m in bot.messages(GROUP)[before:]]


def everything_in_group(bot: BotHarness) -> list[str]:
    """Every text the bot ever put in the group (edits too, deleted messages too)."""
    return [t for m in bot.tg.sent if m.chat_id == GROUP for t in (m.text, *m.edits)]


async def test_a_member_over_the_daily_limit_is_told_alone(make_bot: HarnessFactory) -> None:
    bot = await make_bot(group_chats=True, daily_message_limit=1)
    bot.tg.add_member(GROUP, BOB)
    assert await in_group(bot, ALICE, "@test_bot hello") == ["Echo: Alice: @test_bot hello"]
    calls = bot.llm.calls
    assert await in_group(bot, ALICE, "@test_bot once more") == [], "nothing in the group"
    [notice] = bot.tg.ephemeral_to(ALICE, GROUP)
    assert "daily limit of 1" in notice
    assert bot.tg.ephemeral[0].thread_id is None
    assert bot.tg.ephemeral_to(BOB) == []
    assert bot.messages(ALICE) == [], "nor in her private chat"
    assert bot.llm.calls == calls, "nothing asked"
    assert not any("limit" in t for t in everything_in_group(bot))


async def test_without_ephemeral_messages_the_notice_goes_privately(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(group_chats=True, daily_message_limit=1)
    bot.tg.become_older_server()  # would post an "ephemeral" message for everyone
    bot.tg.start_private_chat(ALICE)
    assert await in_group(bot, ALICE, "@test_bot hello") == ["Echo: Alice: @test_bot hello"]
    for _ in range(2):  # learned once: the second notice goes straight to her chat
        assert await in_group(bot, ALICE, "@test_bot once more") == [], "nothing in the group"
        assert "daily limit of 1" in bot.messages(ALICE)[-1].text
    assert len(bot.messages(ALICE)) == 2
    assert len(bot.tg.method_calls("deleteEphemeralMessage")) == 1, "asked once, posting nothing"
    assert bot.tg.ephemeral == []
    assert not any("limit" in t for t in everything_in_group(bot))


async def test_unreachable_in_private_the_group_gets_only_the_link(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(group_chats=True, daily_message_limit=1)
    bot.tg.become_older_server()
    await in_group(bot, ALICE, "@test_bot hello")
    shown = await in_group(bot, ALICE, "@test_bot once more")  # she never pressed Start
    assert shown == [texts.open_private_chat(LINK)]
    assert not any("limit" in t for t in everything_in_group(bot))


async def test_an_ephemeral_refusal_falls_back_to_the_private_chat(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(group_chats=True, daily_message_limit=1)
    bot.tg.start_private_chat(ALICE)
    await in_group(bot, ALICE, "@test_bot hello")
    bot.tg.fail_next("sendMessage", status=400, description="Bad Request: USER_NOT_PARTICIPANT")
    assert await in_group(bot, ALICE, "@test_bot once more") == []
    assert "daily limit of 1" in bot.messages(ALICE)[-1].text
    # A refusal of one notice is not the server's: the next is ephemeral again.
    assert await in_group(bot, ALICE, "@test_bot and again") == []
    assert "daily limit of 1" in bot.tg.ephemeral_to(ALICE, GROUP)[0]


async def test_not_allowed_and_blocked_members_are_told_alone(make_bot: HarnessFactory) -> None:
    bot = await make_bot(group_chats=True, allowed_user_ids=[ALICE, BOB])
    carol = 9503
    assert await in_group(bot, carol, "@test_bot hi") == []
    [notice] = bot.tg.ephemeral_to(carol, GROUP)
    assert notice == texts.not_allowed(carol)
    assert bot.app is not None
    await bot.app.deps.accounts.set_blocked(BOB, True)
    assert await in_group(bot, BOB, "@test_bot hi") == []
    assert bot.tg.ephemeral_to(BOB, GROUP) == [texts.BLOCKED]
    assert bot.llm.calls == 0
    assert everything_in_group(bot) == []


async def test_a_budget_spent_before_its_turn_is_told_to_the_asker_alone(
    make_bot: HarnessFactory, database: Database
) -> None:
    """Two questions queued in the group's conversation; answering the first spends her
    day's tokens, so the second is refused when its turn comes: told to her alone."""
    bot = await make_bot(group_chats=True, daily_token_limit=5)
    bot.llm.hold()
    bot.tg.push_update({"message": message_in_group(bot, ALICE, "@test_bot first")})
    await bot.llm.wait_for_requests(1)
    bot.tg.push_update({"message": message_in_group(bot, ALICE, "@test_bot second")})

    async def both_stored() -> bool:
        async with database.session() as session:
            found = await session.execute(
                text("SELECT count(*) FROM messages WHERE user_id = :g AND role = 'user'"),
                {"g": GROUP},
            )
            return int(found.scalar_one()) == 2

    await poll_until_async(both_stored, 10, lambda: "the second question stored")
    bot.llm.release()
    await bot.settle()
    assert [m.text for m in bot.messages(GROUP)] == ["Echo: Alice: @test_bot first"]
    assert bot.llm.calls == 1, "the second question was not sent"
    [notice] = bot.tg.ephemeral_to(ALICE, GROUP)
    assert "token" in notice.lower()
    assert texts.OVER_LIMIT_IN_GROUP not in everything_in_group(bot)


async def test_a_server_ignoring_the_parameter_is_caught_and_remembered(
    make_bot: HarnessFactory,
) -> None:
    """Were the probe's answer wrong (a server that knows the method but ignores the
    parameter), the notice posted for everyone is taken back at once, and from then on
    notices go privately."""
    bot = await make_bot(group_chats=True, daily_message_limit=1)
    assert bot.app is not None
    bot.app.deps.capabilities.ephemeral = True  # (as if the probe had said yes)
    bot.tg.ephemeral_ignored = True
    bot.tg.start_private_chat(ALICE)
    await in_group(bot, ALICE, "@test_bot hello")
    for _ in range(2):
        await in_group(bot, ALICE, "@test_bot once more")
        assert "daily limit of 1" in bot.messages(ALICE)[-1].text
    posted = [m for m in bot.tg.sent if m.chat_id == GROUP and "limit" in m.text]
    assert len(posted) == 1, "posted once, never again"
    assert posted[0].deleted, "and taken back at once"
    assert bot.app.deps.capabilities.ephemeral is False

"""`/start role_<name>`: a role preset shared as t.me/<bot>?start=role_<name> starts a
conversation with that role; the one before is kept (both backends)."""

from __future__ import annotations

from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_bot import history_of

ALICE = 3131
PIRATE = "You are a pirate. Answer in pirate speak."


async def test_a_role_link_starts_a_conversation_with_that_role(make_bot: HarnessFactory) -> None:
    bot = await make_bot(role_presets={"pirate": PIRATE})
    await bot.say(ALICE, "before the link")
    (reply,) = await bot.say(ALICE, "/start role_pirate")
    assert "pirate" in reply
    assert PIRATE in reply
    await bot.say(ALICE, "ahoy")
    assert history_of(bot.llm.last_request) == [("system", PIRATE), ("user", "ahoy")]
    (listing,) = await bot.say(ALICE, "/chats")
    assert "before the link" in listing, "the conversation before the link is kept"
    await bot.say(ALICE, "/new")
    await bot.say(ALICE, "plain again")
    assert history_of(bot.llm.last_request)[0] == ("system", bot.settings.default_system_prompt)


async def test_an_unknown_or_plain_start_payload_greets(make_bot: HarnessFactory) -> None:
    bot = await make_bot(role_presets={"pirate": PIRATE})
    (reply,) = await bot.say(ALICE, "/start role_ninja")
    assert "“ninja” is not offered here" in reply
    assert "/help" in reply, "and the greeting with the commands"
    (plain,) = await bot.say(ALICE, "/start something-else")
    assert plain.startswith("Hello!")
    await bot.say(ALICE, "hi")
    assert history_of(bot.llm.last_request)[0] == ("system", bot.settings.default_system_prompt)

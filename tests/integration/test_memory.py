"""MemoryStore on both backends: what /remember and the model's tool keep, and when."""

from __future__ import annotations

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.storage import AccountsStore, MemoryStore

USER = 31_909


async def test_the_tool_keeps_nothing_while_memory_is_off(
    database: Database, settings: Settings
) -> None:
    memory = MemoryStore(database, settings)
    await AccountsStore(database, settings).set_memory(USER, False)
    by_tool = await memory.remember(USER, "The user likes tea", "tool")
    assert (by_tool.fact, by_tool.enabled) == (None, False), "turned off mid-answer: not kept"
    by_command = await memory.remember(USER, "I like tea", "command")
    assert by_command.fact is not None, "/remember keeps it, and says memory is off"
    facts, enabled = await memory.facts(USER)
    assert ([f.text for f in facts], enabled) == (["I like tea"], False)

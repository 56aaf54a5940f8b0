"""The built-in `remember` tool (MEMORY_TOOL=on): the model keeps a short fact about the
user in their memory (storage.MemoryStore, as /remember does).

Offered only in a user's own conversations with their memory on (the context says so),
beside the MCP tools they may use, in the same rounds: counted like any tool round, and
shown to the user as a 🧠 line (calls.tool_line).
"""

from __future__ import annotations

import logging
from typing import Any

from ai_tg_bot.storage import STORAGE_ERRORS, MemoryStore
from ai_tg_bot.tools.calls import REMEMBER
from ai_tg_bot.tools.rounds import ToolRounds, ToolRunner

log = logging.getLogger(__name__)

SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": REMEMBER,
        "description": (
            "Save one short, lasting fact about the user (their name, preferences, "
            "circumstances, what they work on) to use in later conversations. Only facts "
            "the user would want remembered; never secrets such as passwords. The user "
            "sees and can delete these with /memory."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "fact": {
                    "type": "string",
                    "description": "The fact, in one short sentence about the user.",
                }
            },
            "required": ["fact"],
        },
    },
}


class MemoryTool:
    """Adds `remember` to an answer's tool rounds (MCP_MAX_ROUNDS, MCP_DEADLINE_SECONDS
    when no MCP tools are offered)."""

    def __init__(self, store: MemoryStore, *, max_rounds: int, deadline_seconds: float) -> None:
        self.store = store
        self.max_rounds = max(max_rounds, 2)  # a call, then the answer
        self.deadline_seconds = deadline_seconds

    def rounds(self, user_id: int, mcp: ToolRounds | None) -> ToolRounds:
        """The answer's rounds with `remember` offered first (and the MCP tools, if any)."""
        inner = mcp.runner if mcp is not None else None
        schemas = [SCHEMA, *(mcp.schemas if mcp is not None else ())]
        if mcp is None:
            return ToolRounds(schemas, _Runner(self.store, user_id, None), self.max_rounds,
                              self.deadline_seconds)  # fmt: skip
        return ToolRounds(schemas, _Runner(self.store, user_id, inner), mcp.max_rounds,
                          mcp.deadline_seconds)  # fmt: skip


class _Runner:
    """Runs `remember` here and every other tool through the MCP toolbox."""

    def __init__(self, store: MemoryStore, user_id: int, inner: ToolRunner | None) -> None:
        self.store = store
        self.user_id = user_id
        self.inner = inner

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> str:  # noqa: ASYNC109
        if name != REMEMBER:
            if self.inner is None:
                return f"error: there is no tool named {name[:64]} here"
            return await self.inner.call(name, arguments, timeout)
        fact = arguments.get("fact")
        if not isinstance(fact, str) or not fact.strip():
            return "error: give the fact as a non-empty string"
        try:
            kept = await self.store.remember(self.user_id, fact, "tool")
        except STORAGE_ERRORS as exc:
            log.warning("remember for user_id=%s failed: %s", self.user_id, type(exc).__name__)
            return "error: the memory is unavailable right now; nothing was saved"
        if not kept.enabled:
            return "not saved: the user turned their memory off"
        if kept.known:
            return "already remembered"
        return "saved"

"""MCP tool servers (MCP_SERVERS): connected in the background, offered to the model.

Each server has one long-lived task that holds its connection (a command run over stdio,
or streamable HTTP for an http(s) URL) and its `ClientSession`: the SDK's context
managers are entered and left in that task. It lists the server's tools, pings it while
idle, and after any failure connects again with a back-off. Turns call tools through the
session from their own tasks, each call bounded; a server that is down, still starting or
slow is simply not offered. Start-up never waits for a server.

Who may use which tools: `user_settings.allowed_tools` ("server__tool", "server" or
"*"; [] none), and where a user has none set, MCP_TOOLS_FOR (admins: all for admins,
none for the others; everyone: all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Literal

from mcp import MCPError
from mcp.types import CONNECTION_CLOSED

from ai_tg_bot.config import Settings
from ai_tg_bot.observability import TOOL_CALLS
from ai_tg_bot.tools.calls import SEPARATOR
from ai_tg_bot.tools.link import (
    ServerLink,
    ServerState,
    ToolSpec,
    exposed_name,
    permitted,
    result_text,
    what_failed,
)
from ai_tg_bot.tools.rounds import TIMED_OUT, ToolRounds

__all__ = ["ServerState", "ToolSpec", "Toolbox", "exposed_name", "permitted"]
log = logging.getLogger(__name__)


class Toolbox:
    """The MCP servers' tools: what each user is offered, and calling them."""

    def __init__(
        self,
        servers: dict[str, str],
        *,
        admin_ids: Sequence[int] = (),
        tools_for: Literal["admins", "everyone"] = "admins",
        max_rounds: int = 5,
        deadline_seconds: float = 60.0,
    ) -> None:
        self.links = {name: ServerLink(name, target) for name, target in servers.items()}
        self.admin_ids = frozenset(admin_ids)
        self.tools_for = tools_for
        self.max_rounds = max_rounds
        self.deadline_seconds = deadline_seconds
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_settings(cls, settings: Settings) -> Toolbox:
        """MCP_SERVERS, ADMIN_USER_IDS, MCP_TOOLS_FOR, MCP_MAX_ROUNDS, MCP_DEADLINE_SECONDS."""
        return cls(
            settings.mcp_servers,
            admin_ids=settings.admin_user_ids,
            tools_for=settings.mcp_tools_for,
            max_rounds=settings.mcp_max_rounds,
            deadline_seconds=settings.mcp_deadline_seconds,
        )

    def start(self) -> None:
        """Connect to every server in the background (returns at once)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(link.run()) for link in self.links.values()]

    async def close(self) -> None:
        """Disconnect (stopping the servers run over stdio)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for link in self.links.values():
            link.close()

    def default_for(self, user_id: int) -> list[str]:
        """The allow list of a user who has none of their own (MCP_TOOLS_FOR)."""
        everyone = self.tools_for == "everyone" or user_id in self.admin_ids
        return ["*"] if everyone else []

    def offered(self, user_id: int, allowed: Sequence[str] | None) -> list[ToolSpec]:
        """The connected tools the user may use (`allowed`: their own list; None: the
        default)."""
        entries = self.default_for(user_id) if allowed is None else allowed
        if not entries:
            return []
        return [
            spec
            for link in self.links.values()
            if link.session is not None and not link.suspect
            for spec in link.tools.values()
            if permitted(entries, spec.name)
        ]

    def rounds_for(self, user_id: int, allowed: Sequence[str] | None) -> ToolRounds | None:
        """The tool rounds of an answer for this user, or None: no tools offered."""
        specs = self.offered(user_id, allowed) if self.max_rounds > 1 else []
        if not specs:
            return None
        schemas = [spec.schema() for spec in specs]
        return ToolRounds(schemas, self, self.max_rounds, self.deadline_seconds)

    def states(self) -> list[ServerState]:
        """Every server's connection state and tool count."""
        return [ServerState(n, link.state, len(link.tools)) for n, link in self.links.items()]

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> str:  # noqa: ASYNC109
        """Run a tool by its exposed name within `timeout` seconds; any failure (also a
        time-out) is an "error: ..." text for the model, never an exception."""
        link = self.links.get(name.partition(SEPARATOR)[0])
        spec = link.tools.get(name) if link is not None else None
        session = link.session if link is not None else None
        if link is None or spec is None or session is None or link.suspect:
            TOOL_CALLS.labels(link.name if link else "-", "unavailable").inc()
            return "error: this tool is not available now"
        try:
            async with asyncio.timeout(timeout):
                result = await session.call_tool(spec.tool, arguments)
        except TimeoutError:
            TOOL_CALLS.labels(link.name, "timeout").inc()
            log.warning(
                "MCP tool %s timed out after %.1fs; server %s suspect until it answers a ping",
                name, timeout, link.name,
            )  # fmt: skip
            link.suspect = True
            link.check_now.set()
            return TIMED_OUT
        except Exception as exc:
            TOOL_CALLS.labels(link.name, "error").inc()
            log.warning("MCP tool %s failed: %s", name, what_failed(exc))
            if not isinstance(exc, MCPError) or exc.error.code == CONNECTION_CLOSED:
                link.broken.set()  # the connection failed: connect again
            return f"error: the tool failed ({what_failed(exc)})"
        TOOL_CALLS.labels(link.name, "error" if result.is_error else "ok").inc()
        return result_text(result)

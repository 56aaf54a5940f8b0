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
import os
import re
import shlex
import threading
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp import types as mcp_types
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CONNECTION_CLOSED

from ai_tg_bot.config import Settings
from ai_tg_bot.metrics import TOOL_CALLS
from ai_tg_bot.tooluse import SEPARATOR, TIMED_OUT, ToolRounds

log = logging.getLogger(__name__)
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CONNECT_SECONDS = 30.0  # to start, initialize and list the tools
PING_SECONDS = 30.0  # an idle connection is checked this often
BACKOFF_SECONDS = (1.0, 60.0)  # the first wait after a failure, and the longest
DESCRIPTION_MAX_CHARS = 1_024
State = Literal["connecting", "connected", "down"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it (`name`: "<server>__<tool>") and where it lives."""

    name: str
    server: str
    tool: str
    description: str
    parameters: dict[str, Any]

    def schema(self) -> dict[str, Any]:
        """The OpenAI function tool."""
        parameters = dict(self.parameters) or {"type": "object", "properties": {}}
        parameters.setdefault("type", "object")
        function = {"name": self.name, "description": self.description, "parameters": parameters}
        return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class ServerState:
    """What /tools shows an admin of one server."""

    name: str
    state: State
    tools: int


def exposed_name(server: str, tool: str) -> str | None:
    """`server__tool`, with characters OpenAI refuses replaced; None if nothing is left."""
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", f"{server}{SEPARATOR}{tool}")[:64]
    return name if TOOL_NAME.fullmatch(name) and tool.strip() else None


def permitted(entries: Sequence[str], name: str) -> bool:
    """Whether an allow list ("*", "server", "server__tool") covers the tool `name`."""
    server = name.partition(SEPARATOR)[0]
    return any(entry in ("*", server, name) for entry in entries)


class ServerLink:
    """One server's connection, held by its own task."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target
        self.state: State = "connecting"
        self.session: ClientSession | None = None
        self.tools: dict[str, ToolSpec] = {}  # by exposed name
        self.broken = asyncio.Event()  # a call saw the connection fail
        # A call timed out: its tools are not offered (nor run) until a ping answers,
        # which is sent at once (`check_now`), so later calls do not each wait the deadline.
        self.suspect = False
        self.check_now = asyncio.Event()
        self.connections = 0  # how many times it connected
        self._stderr: TextIO | None = None  # a stdio server's stderr (see _errlog)

    def _transport(self) -> AbstractAsyncContextManager[Any]:
        if self.target.startswith(("http://", "https://")):
            return streamable_http_client(self.target)
        command, *args = shlex.split(self.target)
        parameters = StdioServerParameters(command=command, args=args)
        return stdio_client(parameters, errlog=self._errlog())

    def _errlog(self) -> TextIO:
        """Where a stdio server's stderr goes: this log at DEBUG, line by line (redacted
        like every record; it may echo tool arguments, a user's words), never the bot's
        own stderr. One pipe and reader thread for the link's life."""
        if self._stderr is None:
            read_fd, write_fd = os.pipe()
            self._stderr = os.fdopen(write_fd, "w", buffering=1)
            reader = threading.Thread(
                target=_log_lines, args=(self.name, read_fd), daemon=True,
                name=f"mcp-{self.name}-stderr",
            )  # fmt: skip
            reader.start()
        return self._stderr

    def close(self) -> None:
        """Close the stderr pipe (its reader thread ends at end of file)."""
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def run(self) -> None:
        """Connect, serve, and connect again after a failure, until cancelled."""
        delay = BACKOFF_SECONDS[0]
        while True:
            self.state, connections = "connecting", self.connections
            try:
                await self._serve()
            except Exception as exc:  # any failure of the server or its transport
                log.warning(
                    "MCP server %s: %s; connecting again in %.0fs",
                    self.name,
                    _what(exc),
                    delay,
                )
            if self.connections > connections:
                delay = BACKOFF_SECONDS[0]  # it was up: the next failure starts afresh
            self.session, self.tools, self.state = None, {}, "down"
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_SECONDS[1])

    async def _serve(self) -> None:
        async with AsyncExitStack() as stack:
            async with asyncio.timeout(CONNECT_SECONDS):
                read, write = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.tools = self._specs(await _all_tools(session))
            self.session, self.state, self.suspect = session, "connected", False
            self.connections += 1
            log.info("MCP server %s: connected, %d tools", self.name, len(self.tools))
            while True:
                self.broken.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PING_SECONDS):
                        await _either(self.broken, self.check_now)
                if self.broken.is_set():
                    raise ConnectionError("a call found the connection closed")
                self.check_now.clear()
                async with asyncio.timeout(CONNECT_SECONDS):
                    await session.send_ping()
                if self.suspect:
                    log.info("MCP server %s: answers again; its tools are offered", self.name)
                    self.suspect = False

    def _specs(self, tools: Sequence[mcp_types.Tool]) -> dict[str, ToolSpec]:
        specs: dict[str, ToolSpec] = {}
        for tool in tools:
            name = exposed_name(self.name, tool.name)
            if name is None or name in specs:
                log.warning("MCP server %s: tool %r skipped (its name)", self.name, tool.name)
                continue
            description = (tool.description or tool.title or tool.name)[:DESCRIPTION_MAX_CHARS]
            specs[name] = ToolSpec(name, self.name, tool.name, description, tool.input_schema)
        return specs


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Until one of two events is set."""
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _log_lines(server: str, read_fd: int) -> None:
    """Log what a stdio server writes to stderr, at DEBUG, until the pipe closes."""
    with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.strip():
                log.debug("MCP server %s stderr: %s", server, line.rstrip()[:2000])


async def _all_tools(session: ClientSession) -> list[mcp_types.Tool]:
    """Every page of the server's tool list."""
    listed = await session.list_tools()
    tools = list(listed.tools)
    for _ in range(20):
        if not listed.next_cursor:
            break
        page = mcp_types.PaginatedRequestParams(cursor=listed.next_cursor)
        listed = await session.list_tools(params=page)
        tools += listed.tools
    return tools


def _what(exc: BaseException) -> str:
    """An error's kind (an exception group's first one), never its text: a target's URL
    may carry credentials."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return type(exc).__name__


def result_text(result: mcp_types.CallToolResult) -> str:
    """A tool result as text for the model (other content named by its kind)."""
    parts = []
    for block in result.content:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{block.type}]")
    if not parts and result.structured_content is not None:
        parts.append(str(result.structured_content))
    text = "\n".join(parts)
    return f"error: {text}" if result.is_error else text


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
            log.warning("MCP tool %s failed: %s", name, _what(exc))
            if not isinstance(exc, MCPError) or exc.error.code == CONNECTION_CLOSED:
                link.broken.set()  # the connection failed: connect again
            return f"error: the tool failed ({_what(exc)})"
        TOOL_CALLS.labels(link.name, "error" if result.is_error else "ok").inc()
        return result_text(result)

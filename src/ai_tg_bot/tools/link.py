"""One MCP server's connection (config.mcp parses MCP_SERVERS; tools.servers offers and
calls the tools): a long-lived task that connects (a command over stdio, or streamable
HTTP for an http(s) URL), holds the `ClientSession` (the SDK's context managers are
entered and left in that task), lists the tools, pings while idle or at once when a call
timed out, and connects again with a back-off after any failure.
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

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp import types as mcp_types
from mcp.client.streamable_http import streamable_http_client

from ai_tg_bot.tools.calls import SEPARATOR

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
                    what_failed(exc),
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


def what_failed(exc: BaseException) -> str:
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

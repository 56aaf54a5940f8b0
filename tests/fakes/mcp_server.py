"""A small MCP server for tests, built with the official SDK (mcp 2.x's MCPServer).

Over stdio: ``python -m tests.fakes.mcp_server`` (or by path). Over streamable HTTP on a
loopback port: ``python -m tests.fakes.mcp_server --http PORT`` (endpoint ``/mcp``).
Tools: ``add(a, b)``, ``echo(text)``, ``hang()`` (sleeps forever), ``fail()`` (raises).
"""

from __future__ import annotations

import argparse
import asyncio

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("test-tools", log_level="WARNING")


@server.tool()
def add(a: float, b: float) -> str:
    """Add two numbers."""
    total = a + b
    return str(int(total)) if total == int(total) else str(total)


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@server.tool()
async def hang() -> str:
    """Never answer (a tool server that hangs)."""
    await asyncio.sleep(3600)
    return "too late"


@server.tool()
def fail() -> str:
    """Always fail."""
    raise ToolError("the tool broke")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", type=int, metavar="PORT", help="streamable HTTP on this port")
    args = parser.parse_args()
    if args.http is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()

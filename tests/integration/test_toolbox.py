"""The MCP toolbox against the real test server process (tests/fakes/mcp_server.py)."""

from __future__ import annotations

import sys

from ai_tg_bot.tools.rounds import TIMED_OUT
from ai_tg_bot.tools.servers import Toolbox
from tests.fakes.waiting import poll_until

SERVER = f"{sys.executable} -m tests.fakes.mcp_server"
ADMIN = 1


def offered(toolbox: Toolbox) -> set[str]:
    return {spec.name for spec in toolbox.offered(ADMIN, None)}


async def test_a_timed_out_call_makes_its_server_suspect_until_it_answers_a_ping() -> None:
    """After a call times out, the server's tools are neither offered nor run until a
    ping (sent at once, not after the idle interval) shows the server answers."""
    toolbox = Toolbox({"calc": SERVER}, admin_ids=[ADMIN])
    toolbox.start()
    try:
        await poll_until(lambda: "calc__add" in offered(toolbox), 60, lambda: str(toolbox.states()))
        link = toolbox.links["calc"]
        assert await toolbox.call("calc__hang", {}, 0.2) == TIMED_OUT
        assert link.suspect
        assert offered(toolbox) == set(), "not offered while suspect"
        assert await toolbox.call("calc__add", {"a": 1, "b": 2}, 5) == (
            "error: this tool is not available now"
        )
        # The server still answers pings (its hung call runs in a task of its own).
        await poll_until(lambda: not link.suspect, 60, lambda: "no ping was answered")
        assert "calc__add" in offered(toolbox)
        assert await toolbox.call("calc__add", {"a": 1, "b": 2}, 30) == "3"
    finally:
        await toolbox.close()

"""Tools through MCP, end to end: the real bot, the fake LLM calling tools, and a real MCP
server process (tests/fakes/mcp_server.py) over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from ai_tg_bot.bot import texts
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.llm import FakeLLM, count_tokens
from tests.fakes.waiting import poll_until
from tests.ports import free_port

ADMIN = 111
BOB = 222
SERVER = f"{sys.executable} -m tests.fakes.mcp_server"
CALC_TOOLS = {"calc__add", "calc__echo", "calc__hang", "calc__fail"}


async def tools_bot(make_bot: HarnessFactory, **overrides: Any) -> BotHarness:
    """A bot with the test MCP server as "calc", ADMIN its admin, once it is connected."""
    values: dict[str, Any] = {"admin_user_ids": [ADMIN], "mcp_servers": {"calc": SERVER}}
    bot = await make_bot(**(values | overrides))
    await connected(bot, "calc")
    return bot


async def connected(bot: BotHarness, server: str) -> None:
    assert bot.app is not None
    assert bot.app.deps.toolbox is not None
    toolbox = bot.app.deps.toolbox
    await poll_until(
        lambda: toolbox.links[server].state == "connected",
        30,
        lambda: f"MCP server {server} to connect: {toolbox.states()}",
    )


def tool_calls(outcome: str) -> float:
    """The calc server's calls with this outcome so far (the process's metrics)."""
    labels = {"server": "calc", "outcome": outcome}
    return REGISTRY.get_sample_value("ai_tg_bot_tool_calls_total", labels) or 0.0


def offered(request: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in request.get("tools") or ()}


async def stored_tool_calls(database: Database, user_id: int) -> list[Any]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT attachments FROM messages WHERE user_id = :u AND role = 'assistant'"
                " AND deleted_at IS NULL ORDER BY seq"
            ),
            {"u": user_id},
        )
        values = [row[0] for row in rows]
    return [json.loads(v) if isinstance(v, str) else v for v in values]


async def test_a_tool_call_round_trip_is_shown_stored_and_replayed(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await tools_bot(make_bot)
    bot.llm.queue_tool_call("calc__add", {"a": 2, "b": 3})
    (reply,) = await bot.say(ADMIN, "what is 2 + 3?")
    assert reply == "🔧 calc: add\n\nTool said: 5"
    asking, answering = bot.llm.requests[-2:]
    assert offered(asking) == CALC_TOOLS
    assert "tool_choice" not in asking
    call = answering["messages"][-2]["tool_calls"][0]
    assert call["function"] == {"name": "calc__add", "arguments": '{"a": 2, "b": 3}'}
    assert answering["messages"][-1] == {"role": "tool", "tool_call_id": call["id"], "content": "5"}
    (stored,) = await stored_tool_calls(database, ADMIN)
    assert stored == [
        {
            "type": "tool_call",
            "id": call["id"],
            "name": "calc__add",
            "arguments": '{"a": 2, "b": 3}',
            "result": "5",
        }
    ]
    # The next turn (after a restart too) sees the same sequence before the answer.
    await bot.restart()
    await connected(bot, "calc")
    assert await bot.say(ADMIN, "thanks") == ["Echo: thanks"]
    roles = [(m["role"], m.get("content")) for m in bot.llm.last_request["messages"][1:]]
    assert roles == [
        ("user", "what is 2 + 3?"),
        ("assistant", None),
        ("tool", "5"),
        ("assistant", "Tool said: 5"),
        ("user", "thanks"),
    ]
    assert bot.llm.last_request["messages"][2]["tool_calls"][0]["id"] == call["id"]


async def test_tokens_of_every_round_count(make_bot: HarnessFactory, database: Database) -> None:
    bot = await tools_bot(make_bot)
    bot.llm.queue_tool_call("calc__echo", {"text": "hi"})
    await bot.say(ADMIN, "say hi through the tool")
    async with database.session(read_only=True) as session:
        prompt, completion = (
            await session.execute(
                text(
                    "SELECT prompt_tokens, completion_tokens FROM messages"
                    " WHERE user_id = :u AND role = 'assistant'"
                ),
                {"u": ADMIN},
            )
        ).one()
    first, second = bot.llm.requests[-2:]
    prompts = ["".join(str(m.get("content") or "") for m in r["messages"]) for r in (first, second)]
    # The fake counts a token per four characters: both rounds are in the answer's usage.
    assert prompt == sum(count_tokens(p) for p in prompts)
    assert completion == count_tokens('calc__echo{"text": "hi"}') + count_tokens("Tool said: hi")


async def test_others_get_no_tools_until_an_admin_grants_them(make_bot: HarnessFactory) -> None:
    bot = await tools_bot(make_bot)
    assert await bot.say(BOB, "hi") == ["Echo: hi"]
    assert "tools" not in bot.llm.last_request
    (shown,) = await bot.say(BOB, "/tools")
    assert "no tools" in shown
    assert await bot.say(BOB, "/tools 111 none") == [texts.ADMIN_ONLY]
    assert await bot.say(ADMIN, f"/tools {BOB} all") == [f"Tools of user {BOB}: all tools."]
    await bot.say(BOB, "hi again")
    assert offered(bot.llm.last_request) == CALC_TOOLS
    assert await bot.say(ADMIN, f"/tools {BOB} calc__add") == [f"Tools of user {BOB}: calc: add."]
    await bot.say(BOB, "only adding")
    assert offered(bot.llm.last_request) == {"calc__add"}
    (listing,) = await bot.say(BOB, "/tools")
    assert "calc: add" in listing
    assert "calc: echo" not in listing
    assert "Tool servers" not in listing, "server states are for admins"
    assert await bot.say(ADMIN, f"/tools {BOB} nosuch__tool") == [
        "There is no tool server named nosuch."
    ]
    assert await bot.say(ADMIN, f"/tools {BOB} default") == [f"Tools of user {BOB}: the default."]
    await bot.say(BOB, "back to none")
    assert "tools" not in bot.llm.last_request
    # An admin's own list restricts them too.
    await bot.say(ADMIN, f"/tools {ADMIN} none")
    await bot.say(ADMIN, "no tools for me")
    assert "tools" not in bot.llm.last_request
    (admin_view,) = await bot.say(ADMIN, "/tools")
    assert "• calc: connected, 4 tools" in admin_view


async def test_a_hanging_tool_cannot_hold_the_turn(make_bot: HarnessFactory) -> None:
    bot = await tools_bot(make_bot, mcp_deadline_seconds=2)
    timeouts, errors = tool_calls("timeout"), tool_calls("error")
    bot.llm.queue_tool_call("calc__hang", {})
    started = time.monotonic()
    bot.tg.push_text(ADMIN, "wait for it")
    # While the tool works, the draft names it.
    await bot.tg.wait_for(
        lambda: any("🔧 calc: hang" in d.text for d in bot.tg.drafts), what="the tool's line"
    )
    await bot.settle()
    assert time.monotonic() - started < 10
    assert [m.text for m in bot.messages(ADMIN)] == [
        "🔧 calc: hang\n\nTool said: error: the tool did not answer in time"
    ]
    # The server is still there for the next call; a failing tool is an error result.
    bot.llm.queue_tool_call("calc__fail", {})
    (failed,) = await bot.say(ADMIN, "now fail")
    assert failed.startswith("🔧 calc: fail\n\nTool said: error:")
    assert (tool_calls("timeout"), tool_calls("error")) == (timeouts + 1, errors + 1)
    bot.llm.queue_tool_call("calc__add", "{not json")
    (bad,) = await bot.say(ADMIN, "bad arguments")
    assert bad.endswith("Tool said: error: the arguments are not a JSON object")


async def test_stop_ends_a_tool_loop(make_bot: HarnessFactory, database: Database) -> None:
    bot = await tools_bot(make_bot, mcp_deadline_seconds=120)
    bot.llm.queue_tool_call("calc__hang", {})
    bot.tg.push_text(ADMIN, "this takes forever")
    await bot.tg.wait_for(
        lambda: any("🔧 calc: hang" in d.text for d in bot.tg.drafts), what="the tool's line"
    )
    assert await bot.say(ADMIN, "/stop") == [texts.STOPPED_EARLY]
    assert bot.llm.calls == 1, "no second round after Stop"
    # No answer came, but the round that asked for the tool was paid for: counted.
    assert await spent_tokens(database, ADMIN) > 0


async def test_rounds_paid_before_a_failed_round_are_counted(
    make_bot: HarnessFactory, database: Database
) -> None:
    bot = await tools_bot(make_bot)
    bot.llm.queue_tool_call("calc__echo", {"text": "hi"})
    bot.llm.fail_after(1, 400)  # the round after the tool call is refused
    (reply,) = await bot.say(ADMIN, "say hi through the tool")
    assert "/retry" in reply
    first = bot.llm.requests[-2]
    prompt = "".join(str(m.get("content") or "") for m in first["messages"])
    expected = count_tokens(prompt) + count_tokens('calc__echo{"text": "hi"}')
    assert await spent_tokens(database, ADMIN) == expected


async def spent_tokens(database: Database, user_id: int) -> int:
    """Prompt + completion tokens counted for the user (token_usage: what budgets read)."""
    async with database.session(read_only=True) as session:
        total = await session.execute(
            text(
                "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM token_usage"
                " WHERE user_id = :u"
            ),
            {"u": user_id},
        )
        return int(total.scalar_one())


async def test_a_server_that_cannot_start_blocks_nothing(make_bot: HarnessFactory) -> None:
    bot = await make_bot(
        admin_user_ids=[ADMIN], mcp_servers={"broken": "/nonexistent/mcp-server --stdio"}
    )
    assert await bot.say(ADMIN, "hello") == ["Echo: hello"]
    assert "tools" not in bot.llm.last_request
    (listing,) = await bot.say(ADMIN, "/tools")
    assert "• broken: " in listing
    assert "connected" not in listing


async def test_rounds_are_bounded(make_bot: HarnessFactory) -> None:
    bot = await tools_bot(make_bot, mcp_max_rounds=3)
    bot.llm.queue_tool_call("calc__echo", {"text": "again"}, times=10)
    (reply,) = await bot.say(ADMIN, "loop forever")
    requests = bot.llm.requests[-3:]
    assert [r.get("tool_choice") for r in requests] == [None, None, "none"]
    assert reply == "🔧 calc: echo\n🔧 calc: echo\n\nTool said: again"
    assert sum(m["role"] == "tool" for m in requests[-1]["messages"]) == 2


@pytest.fixture
async def http_server() -> AsyncIterator[str]:
    """The test MCP server over streamable HTTP on a loopback port: its endpoint URL."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.mcp_server", "--http", str(port)
    )
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        await process.wait()


async def test_a_streamable_http_server(make_bot: HarnessFactory, http_server: str) -> None:
    bot = await make_bot(admin_user_ids=[ADMIN], mcp_servers={"web": http_server})
    await connected(bot, "web")  # (it connects again with a back-off until it listens)
    bot.llm.queue_tool_call("web__add", {"a": 40, "b": 2})
    assert await bot.say(ADMIN, "add over HTTP") == ["🔧 web: add\n\nTool said: 42"]


async def test_the_fake_llm_refuses_what_openai_refuses() -> None:
    async with FakeLLM() as llm:
        client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="test", max_retries=0)
        stray = [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "x", "content": "5"},
        ]
        with pytest.raises(openai.BadRequestError, match="must be a response to a preceeding"):
            await client.chat.completions.create(model="fake-model", messages=stray)  # type: ignore[arg-type]
        bad_name: Any = [{"type": "function", "function": {"name": "no spaces", "parameters": {}}}]
        with pytest.raises(openai.BadRequestError, match="does not match pattern"):
            await client.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": "hi"}],
                tools=bad_name,
            )
        await client.close()


async def test_a_model_that_refuses_tools_still_answers_without_them(
    make_bot: HarnessFactory,
) -> None:
    bot = await tools_bot(make_bot)
    bot.llm.refuse_tools()
    (reply,) = await bot.say(ADMIN, "hello there")
    assert reply == "Echo: hello there"
    refused, answered = bot.llm.requests[-2:]
    assert offered(refused) == CALC_TOOLS
    assert "tools" not in answered


async def test_without_tools_offered_the_stored_calls_are_sent_as_text(
    make_bot: HarnessFactory,
) -> None:
    bot = await tools_bot(make_bot)
    bot.llm.queue_tool_call("calc__add", {"a": 2, "b": 3})
    assert await bot.say(ADMIN, "what is 2 + 3?") == ["🔧 calc: add\n\nTool said: 5"]
    assert await bot.say(ADMIN, f"/tools {ADMIN} none") == [f"Tools of user {ADMIN}: no tools."]
    await bot.say(ADMIN, "and now?")
    request = bot.llm.last_request
    assert "tools" not in request
    assert [m["role"] for m in request["messages"]] == ["system", "user", "assistant", "user"]
    assert request["messages"][2]["content"] == (
        '[tool calc__add({"a": 2, "b": 3}) -> 5]\n\nTool said: 5'
    )


async def test_a_bare_tool_name_is_resolved_and_an_unoffered_one_runs_nothing(
    make_bot: HarnessFactory,
) -> None:
    bot = await tools_bot(make_bot, admin_user_ids=[ADMIN])
    bot.llm.queue_tool_call("add", {"a": 1, "b": 2}, unoffered=True)
    assert await bot.say(ADMIN, "1 + 2?") == ["🔧 add\n\nTool said: 3"]  # as the model named it
    # BOB may use only echo; a model naming add for him gets an error, and add never runs.
    await bot.say(ADMIN, f"/tools {BOB} calc__echo")
    bot.llm.queue_tool_call("calc__add", {"a": 1, "b": 2}, unoffered=True)
    (reply,) = await bot.say(BOB, "1 + 2?")
    assert reply.endswith("Tool said: error: there is no tool named calc__add here")
    assert offered(bot.llm.requests[-2]) == {"calc__echo"}

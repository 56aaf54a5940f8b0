"""Tool calls: streamed deltas put together, what is stored, and how it is replayed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

from ai_tg_bot.bot.formatting import with_tools
from ai_tg_bot.bot.handlers.tools import brief, parse_entries
from ai_tg_bot.llm.client import LLMClient, StreamReport
from ai_tg_bot.media.inputs import MediaPolicy, llm_messages
from ai_tg_bot.storage.records import Context, sent_chars
from ai_tg_bot.tools.calls import (
    CUT_NOTE,
    TOOL_RESULT_MAX_CHARS,
    CallCollector,
    ToolCall,
    expand,
    parse_arguments,
    records,
    shown_name,
)
from ai_tg_bot.tools.rounds import ToolRounds
from ai_tg_bot.tools.servers import exposed_name, permitted


def delta(index: int, **fields: Any) -> SimpleNamespace:
    function = SimpleNamespace(name=fields.get("name"), arguments=fields.get("arguments"))
    return SimpleNamespace(index=index, id=fields.get("id"), type=None, function=function)


def test_streamed_deltas_become_whole_calls() -> None:
    collector = CallCollector()
    collector.add([delta(0, id="call_a", name="calc__add", arguments="")])
    collector.add([delta(1, id="call_b", name="calc__echo", arguments='{"te')])
    collector.add([delta(0, arguments='{"a": 2,'), delta(1, arguments='xt": "hi"}')])
    collector.add([delta(0, arguments=' "b": 3}')])
    calls = collector.calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "calc__add", '{"a": 2, "b": 3}'),
        ("call_b", "calc__echo", '{"text": "hi"}'),
    ]
    assert [parse_arguments(c.arguments) for c in calls] == [{"a": 2, "b": 3}, {"text": "hi"}]


def test_dict_deltas_a_repeated_name_and_a_missing_id() -> None:
    collector = CallCollector()
    first = {"index": 0, "function": {"name": "web__search", "arguments": "{}"}}
    collector.add([first])
    collector.add([{"index": 0, "function": {"name": "web__search"}}])  # sent again whole
    (call,) = collector.calls
    assert call.name == "web__search"
    assert call.arguments == "{}"
    assert call.id.startswith("call_")
    assert collector.calls[0].id == call.id


def test_arguments_that_are_not_an_object() -> None:
    assert parse_arguments("") == {}
    assert parse_arguments("{not json") is None
    assert parse_arguments("[1, 2]") is None


def test_stored_calls_expand_to_the_messages_the_model_saw() -> None:
    calls = [ToolCall("call_1", "calc__add", '{"a": 1}', "2\x00" + "x" * 9000)]
    stored = records(calls)
    result = stored[0]["result"]
    assert len(result) == TOOL_RESULT_MAX_CHARS
    assert result.startswith("2xxx")
    assert result.endswith(CUT_NOTE)
    assert expand(stored) == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "calc__add", "arguments": '{"a": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": stored[0]["result"]},
    ]
    assert expand([{"type": "image", "file_id": "f"}]) == []


async def test_the_context_replays_an_answers_tool_calls_before_its_text() -> None:
    stored = records([ToolCall("call_1", "calc__add", "{}", "5")])
    context = Context(
        system_prompt="sys",
        history=[
            {"role": "user", "content": "2+3?"},
            {"role": "assistant", "content": "It is 5."},
            {"role": "user", "content": "thanks"},
        ],
        model="m",
        attachments={1: stored},
    )
    messages = await llm_messages(context, MediaPolicy(), None)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "sys"),
        ("user", "2+3?"),
        ("assistant", None),
        ("tool", "5"),
        ("assistant", "It is 5."),
        ("user", "thanks"),
    ]


class ScriptedLLM:
    """Answers each round with a tool call until told otherwise; counts tokens."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def stream(
        self, messages: Any, *, usage: StreamReport, calls: Any, tool_choice: Any, **_: Any
    ) -> AsyncIterator[str]:
        self.requests.append({"messages": list(messages), "tool_choice": tool_choice})
        usage.prompt_tokens, usage.completion_tokens = 10, 1
        if calls is not None:
            calls.add([delta(0, id=f"c{len(self.requests)}", name="s__t", arguments="{}")])
            return
        yield "done"


class Runner:
    def __init__(self) -> None:
        self.called: list[str] = []

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> str:  # noqa: ASYNC109
        self.called.append(name)
        return "ok"


async def test_rounds_are_bounded_and_their_tokens_summed() -> None:
    llm, runner = ScriptedLLM(), Runner()
    schema = {"type": "function", "function": {"name": "s__t", "parameters": {}}}
    rounds = ToolRounds([schema], runner, max_rounds=3, deadline_seconds=5)
    usage, calls, used = StreamReport(), list[ToolCall](), list[str]()

    async def using(name: str) -> None:
        used.append(name)

    pieces = [
        piece
        async for piece in rounds.stream(
            cast(LLMClient, llm), [], model="m", usage=usage, calls=calls, using=using
        )
    ]
    assert pieces == ["done"]
    assert [r["tool_choice"] for r in llm.requests] == [None, None, "none"]
    assert runner.called == used == ["s__t", "s__t"]
    assert [c.result for c in calls] == ["ok", "ok"]
    assert (usage.prompt_tokens, usage.completion_tokens) == (30, 3)
    last = llm.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["assistant", "tool", "assistant", "tool"]


def test_names_access_and_allow_lists() -> None:
    assert exposed_name("calc", "add") == "calc__add"
    assert exposed_name("calc", "get.weather now") == "calc__get_weather_now"
    assert exposed_name("calc", "x" * 100) == ("calc__" + "x" * 100)[:64]
    assert shown_name("calc__add") == "calc: add"
    assert permitted(["*"], "calc__add")
    assert permitted(["calc"], "calc__add")
    assert not permitted(["web"], "calc__add")
    assert permitted(["calc__add"], "calc__add")
    assert not permitted(["calc__echo"], "calc__add")
    servers = {"calc": "cmd"}
    assert parse_entries("all", servers) == ["*"]
    assert parse_entries("none", servers) == []
    assert parse_entries("default", servers) is None
    assert parse_entries("calc__add, calc calc__add", servers) == ["calc__add", "calc"]
    assert parse_entries("web__x", servers) == "There is no tool server named web."
    assert with_tools("Hi", ["a__b", "c__d"]) == "🔧 a: b\n🔧 c: d\n\nHi"
    assert with_tools("Hi", []) == "Hi"


def test_the_context_budget_counts_the_stored_calls_an_answer_sends_again() -> None:
    stored = records([ToolCall("call_1", "calc__add", '{"a": 1}', "2" * 100)])
    assert sent_chars("The sum is 2.") == 13
    assert sent_chars("The sum is 2.", stored) == 13 + len('{"a": 1}') + 100
    assert sent_chars("text", [{"type": "image", "file_id": "x"}]) == 4


def test_tools_lists_each_description_briefly() -> None:
    assert brief("Adds two numbers.\nArgs: a, b") == "Adds two numbers."
    long = brief("x" * 500)
    assert len(long) == 120
    assert long.endswith("…")

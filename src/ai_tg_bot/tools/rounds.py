"""Tool calls, transport-free: the calls a streamed answer asks for, the rounds of one
answer, what is stored of them, and how a later turn's context shows them again.

The model is offered the tools (OpenAI tool calling); when it answers with `tool_calls`
they are run (toolbox.py), the assistant message with its calls and one `tool` message
per call are appended, and it is asked again: at most MCP_MAX_ROUNDS requests, the last
with `tool_choice: "none"`, so it must answer in text. The calls and their (bounded)
results are stored on the answer (its `attachments`, type "tool_call"); `expand` turns
them back into the same messages before that answer's text in later turns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ai_tg_bot.llm import (
    ChatMessages,
    LLMClient,
    LLMError,
    LLMErrorKind,
    StreamReport,
)
from ai_tg_bot.storage import Attachment, without_nul

# A tool result is cut to this many characters before the model sees it, so what is
# stored (and sent again in later turns) is what the model saw.
TOOL_RESULT_MAX_CHARS = 8_000
CUT_NOTE = "\n[cut: the tool's result was longer]"
# One tool call never takes longer than this, whatever is left of the answer's deadline.
TOOL_CALL_MAX_SECONDS = 30.0
TIMED_OUT = "error: the tool did not answer in time"
log = logging.getLogger(__name__)
SEPARATOR = "__"  # exposed names are "<server>__<tool>"


@dataclass(slots=True)
class ToolCall:
    """One call the model asked for, and (once run) its result as text."""

    id: str
    name: str
    arguments: str
    result: str = ""


class ToolRunner(Protocol):
    """Runs tools by their exposed name (toolbox.Toolbox)."""

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> str:  # noqa: ASYNC109
        """The tool's result as text; failures and time-outs as an "error: ..." text."""


class CallCollector:
    """Accumulates streamed `tool_calls` deltas by their index: the first delta of a call
    carries its id and name, the following ones pieces of its JSON arguments."""

    def __init__(self) -> None:
        self._calls: dict[int, ToolCall] = {}

    def add(self, deltas: Sequence[Any]) -> None:
        """Take one chunk's `delta.tool_calls` (objects or dicts)."""
        for delta in deltas:
            index = int(_field(delta, "index") or 0)
            call = self._calls.setdefault(index, ToolCall("", "", ""))
            call_id = _field(delta, "id")
            if call_id:
                call.id = str(call_id)
            function = _field(delta, "function")
            name = _field(function, "name") if function is not None else None
            if name and name != call.name:  # a server repeating the name sends it whole
                call.name = str(name) if not call.name else call.name + str(name)
            arguments = _field(function, "arguments") if function is not None else None
            if arguments:
                call.arguments += str(arguments)

    @property
    def calls(self) -> list[ToolCall]:
        """The calls in index order (ids made up where the server sent none)."""
        calls = [self._calls[index] for index in sorted(self._calls)]
        for call in calls:
            call.id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        return [call for call in calls if call.name]


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def parse_arguments(raw: str) -> dict[str, Any] | None:
    """A call's arguments as a JSON object (empty text: none); None if they are not one."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def assistant_message(calls: Sequence[ToolCall], content: str | None = None) -> dict[str, Any]:
    """The assistant message that asked for `calls` (as the model sent it)."""
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ],
    }


def tool_message(call: ToolCall) -> dict[str, Any]:
    """The `tool` message that answers one call."""
    return {"role": "tool", "tool_call_id": call.id, "content": call.result}


def records(calls: Sequence[ToolCall]) -> list[Attachment]:
    """What is stored of the calls on the answer (results cut to a bound)."""
    return [
        {
            "type": "tool_call",
            "id": call.id,
            "name": call.name,
            "arguments": without_nul(call.arguments),
            "result": bounded(call.result),
        }
        for call in calls
    ]


def stored_calls(attachments: Sequence[Attachment]) -> list[ToolCall]:
    """The tool calls stored on an answer (none: []), in their order."""
    return [
        ToolCall(str(a.get("id", "")), str(a.get("name", "")), str(a.get("arguments") or ""),
                 str(a.get("result") or ""))
        for a in attachments
        if a.get("type") == "tool_call"
    ]  # fmt: skip


def expand(attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    """The messages an answer's stored tool calls stand for, to go before its text: the
    assistant message with the calls, then each call's `tool` message."""
    calls = stored_calls(attachments)
    if not calls:
        return []
    return [assistant_message(calls), *(tool_message(call) for call in calls)]


def without_tools(messages: ChatMessages) -> list[dict[str, Any]]:
    """The messages for a request that offers no tools (none allowed or connected now, or
    a model that refuses them): stored tool calls and their results as a line each
    (`[tool name(arguments) -> result]`) at the start of the answer they led to, since
    servers may refuse `tool` messages in a request without `tools`."""
    if not any(m.get("role") == "tool" or m.get("tool_calls") for m in messages):
        return list(messages)
    flat: list[dict[str, Any]] = []
    pending: list[str] = []  # lines of calls not yet put before an answer
    names: dict[str, str] = {}
    for message in messages:
        if message.get("tool_calls"):
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                names[str(call.get("id"))] = f"{function.get('name')}({function.get('arguments')})"
            if message.get("content"):
                pending.append(str(message["content"]))
        elif message.get("role") == "tool":
            called = names.get(str(message.get("tool_call_id")), "a tool")
            pending.append(f"[tool {called} -> {message.get('content')}]")
        elif pending and message.get("role") == "assistant":
            text = message.get("content") or ""
            flat.append({**message, "content": "\n".join(pending) + "\n\n" + str(text)})
            pending = []
        else:
            flat.append(dict(message))
    if pending:
        flat.append({"role": "assistant", "content": "\n".join(pending)})
    return flat


def shown_name(name: str) -> str:
    """How a call is shown to the user: "server: tool"."""
    server, sep, tool = name.partition(SEPARATOR)
    return f"{server}: {tool}" if sep and tool else name


def refuses_tools(exc: LLMError) -> bool:
    """Whether a failed request was refused for its tools (a 400 naming them: Ollama's
    "... does not support tools", vLLM's tool-choice errors), not for anything else."""
    detail = exc.detail.lower()
    return exc.kind is LLMErrorKind.REJECTED and exc.status == 400 and "tool" in detail


def answer_text(
    llm: LLMClient,
    messages: ChatMessages,
    rounds: ToolRounds | None,
    *,
    model: str,
    usage: StreamReport,
    calls: list[ToolCall],
    thinking: Callable[[str], Awaitable[None]] | None = None,
    using: Callable[[str], Awaitable[None]] | None = None,
) -> AsyncIterator[str]:
    """An answer's text: in tool rounds when tools are offered, else one plain stream."""
    if rounds is None:
        plain = without_tools(messages)
        return llm.stream(plain, model=model, usage=usage, thinking=thinking)
    return rounds.stream(
        llm, messages, model=model, usage=usage, calls=calls, thinking=thinking, using=using
    )


@dataclass(slots=True)
class ToolRounds:
    """One answer's rounds: the tools offered (OpenAI `tools`), who runs them, and bounds."""

    schemas: list[dict[str, Any]]
    runner: ToolRunner
    max_rounds: int
    deadline_seconds: float
    tools_taken: bool = True  # False once the model refused them (this answer only)

    async def stream(
        self,
        llm: LLMClient,
        messages: ChatMessages,
        *,
        model: str,
        usage: StreamReport,
        calls: list[ToolCall],
        thinking: Callable[[str], Awaitable[None]] | None = None,
        using: Callable[[str], Awaitable[None]] | None = None,
    ) -> AsyncIterator[str]:
        """Yield the answer's text across rounds; run the calls between them.

        Every round's tokens are added to `usage`; the calls made (with their results)
        are appended to `calls`; `using` is told each call's name as it starts. Closing
        the generator (Stop) closes the stream or cancels the running calls.
        """
        sent = list(messages)
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # set when the first call starts
        said = False  # text was streamed in an earlier round
        for round_number in range(1, self.max_rounds + 1):
            final = round_number == self.max_rounds or (
                deadline is not None and loop.time() >= deadline
            )
            report, asked, pieces = StreamReport(), CallCollector(), list[str]()
            offered = self.schemas if self.tools_taken else None
            try:
                try:
                    async for piece in llm.stream(
                        sent,
                        model=model,
                        usage=report,
                        thinking=thinking,
                        tools=offered,
                        tool_choice="none" if final and offered else None,
                        calls=None if final or not offered else asked,
                    ):
                        if said and not pieces:
                            yield "\n\n"  # text before the calls, then the answer after
                        pieces.append(piece)
                        yield piece
                except LLMError as exc:
                    if pieces or not offered or not refuses_tools(exc):
                        raise
                    # The model (an Ollama model without tool support, say) refuses
                    # tools: this answer is written without them.
                    log.warning("model %s refuses tools; answering without them", model)
                    self.tools_taken = False
                    async for piece in llm.stream(
                        without_tools(sent), model=model, usage=report, thinking=thinking
                    ):
                        pieces.append(piece)
                        yield piece
                    return
            finally:
                # Each round is metered by the client (llm.stream), whatever its ending.
                usage.sent = usage.sent or report.sent
                usage.prompt_tokens += report.prompt_tokens
                usage.completion_tokens += report.completion_tokens
                usage.cut_at_limit = usage.cut_at_limit or report.cut_at_limit
            wanted = asked.calls
            said = said or bool(pieces)
            if final or not wanted:
                return
            if deadline is None:
                deadline = loop.time() + self.deadline_seconds
            sent.append(assistant_message(wanted, "".join(pieces)))
            for call in wanted:
                if using is not None:
                    await using(call.name)
            await asyncio.gather(*(self._run(call, deadline) for call in wanted))
            calls.extend(wanted)
            sent.extend(tool_message(call) for call in wanted)

    def _offered(self, name: str) -> str | None:
        """The offered tool a call names: its exposed name, or a bare tool name that only
        one offered tool has (models drop the prefix); None: not offered to this user
        (a model naming another tool runs nothing)."""
        offered = [str(schema["function"]["name"]) for schema in self.schemas]
        if name in offered:
            return name
        bare = [exposed for exposed in offered if exposed.partition(SEPARATOR)[2] == name]
        return bare[0] if len(bare) == 1 else None

    async def _run(self, call: ToolCall, deadline: float) -> None:
        arguments = parse_arguments(call.arguments)
        left = min(deadline - asyncio.get_running_loop().time(), TOOL_CALL_MAX_SECONDS)
        name = self._offered(call.name)
        if name is None:
            call.result = f"error: there is no tool named {call.name[:64]} here"
        elif arguments is None:
            call.result = "error: the arguments are not a JSON object"
        elif left <= 0:
            call.result = TIMED_OUT
        else:
            call.result = bounded(await self.runner.call(name, arguments, left))


def bounded(result: str) -> str:
    """A tool's result as the model is given it: at most TOOL_RESULT_MAX_CHARS, NUL-free."""
    result = without_nul(result)
    if len(result) <= TOOL_RESULT_MAX_CHARS:
        return result
    return result[: TOOL_RESULT_MAX_CHARS - len(CUT_NOTE)] + CUT_NOTE

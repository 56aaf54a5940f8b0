"""Tool calls as data: the calls a streamed answer asks for, what is stored of them (an
answer's `attachments`, type "tool_call"), and how a later turn's context shows them
again (`expand`), or as text when no tools are offered (`without_tools`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ai_tg_bot.i18n import _
from ai_tg_bot.llm import ChatMessages
from ai_tg_bot.storage import Attachment, without_nul

# A tool result is cut to this many characters before the model sees it, so what is
# stored (and sent again in later turns) is what the model saw.
TOOL_RESULT_MAX_CHARS = 8_000
CUT_NOTE = "\n[cut: the tool's result was longer]"
SEPARATOR = "__"  # exposed names are "<server>__<tool>"
# The built-in tool that keeps a fact about the user (MEMORY_TOOL; tools.memory). MCP
# tools always carry their server's prefix, so no server's tool has this name.
REMEMBER = "remember"


@dataclass(slots=True)
class ToolCall:
    """One call the model asked for, and (once run) its result as text."""

    id: str
    name: str
    arguments: str
    result: str = ""


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


def tool_line(name: str) -> str:
    """The line a call is shown as above an answer: "🔧 server: tool", or for the
    built-in memory tool "🧠 memory: remember" (whether it kept anything, /memory shows)."""
    if name == REMEMBER:
        return "🧠 " + _("memory: remember")
    return f"🔧 {shown_name(name)}"


def shown_name(name: str) -> str:
    """How a call is shown to the user: "server: tool"."""
    server, sep, tool = name.partition(SEPARATOR)
    return f"{server}: {tool}" if sep and tool else name


def bounded(result: str) -> str:
    """A tool's result as the model is given it: at most TOOL_RESULT_MAX_CHARS, NUL-free."""
    result = without_nul(result)
    if len(result) <= TOOL_RESULT_MAX_CHARS:
        return result
    return result[: TOOL_RESULT_MAX_CHARS - len(CUT_NOTE)] + CUT_NOTE

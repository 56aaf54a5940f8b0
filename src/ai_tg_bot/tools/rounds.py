"""The rounds of a tool-using answer, transport-free (the calls themselves, as data, are
in `calls`).

The model is offered the tools (OpenAI tool calling); when it answers with `tool_calls`
they are run (`servers.Toolbox`), the assistant message with its calls and one `tool` message
per call are appended, and it is asked again: at most MCP_MAX_ROUNDS requests, the last
with `tool_choice: "none"`, so it must answer in text. The calls and their (bounded)
results are stored on the answer (its `attachments`, type "tool_call"); `expand` turns
them back into the same messages before that answer's text in later turns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ai_tg_bot.llm import (
    ChatMessages,
    LLMClient,
    LLMError,
    LLMErrorKind,
    StreamReport,
)
from ai_tg_bot.tools.calls import (
    SEPARATOR,
    CallCollector,
    ToolCall,
    assistant_message,
    bounded,
    parse_arguments,
    tool_message,
    without_tools,
)

# One tool call never takes longer than this, whatever is left of the answer's deadline.
TOOL_CALL_MAX_SECONDS = 30.0
TIMED_OUT = "error: the tool did not answer in time"
log = logging.getLogger(__name__)


class ToolRunner(Protocol):
    """Runs tools by their exposed name (toolbox.Toolbox)."""

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> str:  # noqa: ASYNC109
        """The tool's result as text; failures and time-outs as an "error: ..." text."""


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

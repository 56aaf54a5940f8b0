"""The LLM: a streaming OpenAI-compatible client with an overall deadline and plain errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ai_tg_bot.config import Settings
from ai_tg_bot.llm.endpoints import MediaCalls
from ai_tg_bot.llm.errors import LLMError as LLMError
from ai_tg_bot.llm.errors import LLMErrorKind as LLMErrorKind
from ai_tg_bot.llm.meter import ChatMessages as ChatMessages
from ai_tg_bot.llm.meter import StreamReport as StreamReport
from ai_tg_bot.llm.meter import estimate as estimate
from ai_tg_bot.llm.meter import text_chars as text_chars
from ai_tg_bot.llm.wire import (
    OPENAI_API_HOST,
    LimitParam,
    bounded_stream,
    call_text,
    map_error,
    openai,
    reasoning_of,
    split_query,
)
from ai_tg_bot.llm.wire import GeneratedImage as GeneratedImage
from ai_tg_bot.llm.wire import limit_param_for as limit_param_for
from ai_tg_bot.llm.wire import refuses as refuses

if TYPE_CHECKING:
    from openai import AsyncOpenAI

log = logging.getLogger(__name__)
# Servers such as Ollama or vLLM ignore the key, but the client insists on one.
_PLACEHOLDER_API_KEY = "not-needed"


class ToolCallSink(Protocol):
    """Collects the `tool_calls` deltas of a streamed answer (tooluse.CallCollector)."""

    def add(self, deltas: Sequence[Any]) -> None:
        """Take one chunk's `delta.tool_calls`."""


# Answers streaming at once, each its own HTTP connection: the client's default of 1,000
# made the 1,001st user wait for a connection (measured under load, issue 18). Idle
# connections kept for the next requests, fewer than open ones: each costs a socket.
LLM_MAX_CONNECTIONS = 10_000
LLM_KEEPALIVE_CONNECTIONS = 200


def _http_client() -> openai.DefaultAsyncHttpxClient:
    from openai._constants import DEFAULT_CONNECTION_LIMITS

    limits = type(DEFAULT_CONNECTION_LIMITS)(
        max_connections=LLM_MAX_CONNECTIONS,
        max_keepalive_connections=LLM_KEEPALIVE_CONNECTIONS,
        keepalive_expiry=DEFAULT_CONNECTION_LIMITS.keepalive_expiry,
    )
    return openai.DefaultAsyncHttpxClient(limits=limits)


class LLMClient(MediaCalls):
    """Streams chat completions from any OpenAI-compatible server (and, through
    `MediaCalls`, transcribes, draws and speaks)."""

    def __init__(self, settings: Settings, client: AsyncOpenAI | None = None) -> None:
        self.model = settings.llm_model
        self.timeout_seconds = settings.llm_timeout_seconds
        self.transcription_model = settings.transcription_model
        self.max_tokens = settings.llm_max_tokens
        self.max_tokens_param = limit_param_for(settings)
        # The models the server listed at start (None: not known, it did not answer
        # /models): /model refuses one it does not serve (bot.startup fills it).
        self.served_models: frozenset[str] | None = None
        # Only a guessed field name is switched when refused; a configured one is kept.
        self._adapt_max_tokens_param = settings.llm_max_tokens_param == "auto"
        self._settings = settings
        self._made: AsyncOpenAI | None = client  # made on first use (see `_client`)

    @property
    def _client(self) -> AsyncOpenAI:
        """The OpenAI client, made (and openai imported) on first use."""
        if self._made is None:
            settings = self._settings
            api_key = settings.openai_api_key.get_secret_value() or _PLACEHOLDER_API_KEY
            base_url, query = split_query(settings.openai_base_url)
            self._made = openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                default_query=query,
                # The per-read timeout; the whole answer is bounded by `timeout_seconds`.
                timeout=min(settings.llm_timeout_seconds, 60.0),
                max_retries=settings.llm_max_retries,
                http_client=_http_client(),
            )
        return self._made

    async def stream(
        self,
        messages: ChatMessages,
        *,
        model: str | None = None,
        usage: StreamReport | None = None,
        thinking: Callable[[str], Awaitable[None]] | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
        calls: ToolCallSink | None = None,
    ) -> AsyncIterator[str]:
        """Yield the answer's text as it arrives; raise LLMError on any failure.

        `tools` (OpenAI function tools) are offered with `tool_choice`; the `tool_calls`
        the model streams go to `calls` (tools.rounds runs them).

        The whole answer, retries included, must finish within LLM_TIMEOUT_SECONDS.
        Reasoning a server streams beside the answer (`reasoning_content`: vLLM, DeepSeek;
        `reasoning`: OpenRouter) goes to `thinking`, never into the answer. Closing the
        generator (or cancelling its consumer) closes the HTTP stream, so the server
        stops generating.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        report = usage if usage is not None else StreamReport()
        received = 0  # characters the server streamed (answer, reasoning, tool calls)
        try:
            # From here the request is on its way: a timeout or a Stop before the first
            # byte still leaves the server reading the prompt, which is paid for. Only a
            # refusal (an error status) or no connection at all costs nothing.
            report.sent = True
            try:
                async with asyncio.timeout_at(deadline):
                    offer: dict[str, Any] = {"tools": list(tools)} if tools else {}
                    if tools and tool_choice:
                        offer["tool_choice"] = tool_choice
                    stream = await self._open_stream(messages, model or self.model, offer)
            except openai.APIStatusError:
                report.sent = False
                raise
            except openai.APIConnectionError as exc:
                report.sent = isinstance(exc, openai.APITimeoutError)
                raise
            try:
                async for chunk in bounded_stream(stream, deadline):
                    if chunk.usage is not None:
                        report.prompt_tokens = chunk.usage.prompt_tokens
                        report.completion_tokens = chunk.usage.completion_tokens
                    for choice in chunk.choices:
                        if choice.finish_reason == "length":
                            report.cut_at_limit = True
                        delta = choice.delta
                        if delta is None:
                            continue
                        if delta.tool_calls:
                            received += sum(len(call_text(call)) for call in delta.tool_calls)
                            if calls is not None:
                                calls.add(delta.tool_calls)
                        thought = reasoning_of(delta)
                        received += len(thought)
                        if thinking is not None and thought:
                            await thinking(thought)
                        if delta.content:
                            received += len(delta.content)
                            yield delta.content
            finally:
                await stream.close()
        except TimeoutError as exc:
            detail = f"no answer within {self.timeout_seconds}s"
            raise LLMError(LLMErrorKind.TIMEOUT, detail) from exc
        except openai.APIError as exc:
            raise map_error(exc) from exc
        finally:
            # The one meter: whatever the ending (complete, stopped, cut, timed out), a
            # request that left is counted; estimated when no usage chunk came.
            if report.sent:
                estimate(report, text_chars(messages), received)

    async def _open_stream(
        self, messages: ChatMessages, model: str, offer: dict[str, Any] | None = None
    ) -> Any:
        """Start a streamed completion; retry once with the other limit field if refused."""
        param = self.max_tokens_param
        try:
            return await self._create(messages, model, param, offer)
        except openai.BadRequestError as exc:
            if not (self._adapt_max_tokens_param and self.max_tokens and refuses(exc, param)):
                raise
            other: LimitParam = (
                "max_tokens" if param == "max_completion_tokens" else "max_completion_tokens"
            )
            # Remembered for the process: every later request sends the accepted field.
            self.max_tokens_param = other
            log.warning("the LLM server does not take %s; sending %s instead", param, other)
            return await self._create(messages, model, other, offer)

    async def _create(
        self,
        messages: ChatMessages,
        model: str,
        param: LimitParam,
        offer: dict[str, Any] | None = None,
    ) -> Any:
        # The client walks every message through its typed transform, about 15 ms of CPU
        # for a 50-message history (measured); the messages are built here as plain JSON
        # already, so they go in the body as they are, beside the answer's token limit.
        body: dict[str, Any] = {"messages": list(messages), **(offer or {})}
        if self.max_tokens:
            body[param] = self.max_tokens
        return await self._client.chat.completions.create(
            model=model,
            messages=[],
            extra_body=body,
            stream=True,
            stream_options={"include_usage": True},
        )

    async def model_names(self) -> list[str]:
        """The models the server lists (one try, no retries): the start-up probe's call;
        openai's errors are raised as they are."""
        page = await self._client.with_options(max_retries=0).models.list()
        return [model.id for model in page.data]

    @property
    def host(self) -> str:
        """The LLM server's host (and port), for log lines: never a path or a key."""
        if self._made is not None:
            return urlsplit(str(self._made.base_url)).netloc or "the LLM server"
        base_url = split_query(self._settings.openai_base_url)[0] or f"https://{OPENAI_API_HOST}"
        return urlsplit(base_url).netloc or "the LLM server"

    async def close(self) -> None:
        """Close the HTTP client (if one was made)."""
        if self._made is not None:
            await self._made.close()

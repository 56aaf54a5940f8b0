"""The LLM: a streaming OpenAI-compatible client with an overall deadline and plain errors."""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ai_tg_bot.config import Settings
from ai_tg_bot.llm_errors import LLMError as LLMError
from ai_tg_bot.llm_errors import LLMErrorKind as LLMErrorKind

if TYPE_CHECKING:
    import openai
    from openai import AsyncOpenAI
else:

    class _Later(ModuleType):
        """The openai package, imported when first used (about a second of CPU): the bot
        starts polling without it, and a turn or the start-up probe loads it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(importlib.import_module("openai"), name)

    openai = _Later("openai")

log = logging.getLogger(__name__)
# Content is text, or a list of content parts (text and images) for a photo.
ChatMessages = Sequence[dict[str, Any]]
# Servers such as Ollama or vLLM ignore the key, but the client insists on one.
_PLACEHOLDER_API_KEY = "not-needed"
OPENAI_API_HOST = "api.openai.com"
LimitParam = Literal["max_tokens", "max_completion_tokens"]


@dataclass(slots=True)
class StreamReport:
    """Token counts the server reported for one answer (zeros when it reported none),
    and whether the answer was cut at LLM_MAX_TOKENS (finish_reason "length")."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cut_at_limit: bool = False
    # The request reached the server (its stream opened, or it timed out waiting): it
    # is paid for whatever its ending, estimated when the server reported nothing.
    sent: bool = False


class ToolCallSink(Protocol):
    """Collects the `tool_calls` deltas of a streamed answer (tooluse.CallCollector)."""

    def add(self, deltas: Sequence[Any]) -> None:
        """Take one chunk's `delta.tool_calls`."""


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """An image the server made: its bytes (`data`), or a `url` when it sent only that;
    `revised_prompt` is what the model says it drew (None: not said)."""

    data: bytes | None
    url: str | None = None
    revised_prompt: str | None = None


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


class LLMClient:
    """Streams chat completions from any OpenAI-compatible server."""

    def __init__(self, settings: Settings, client: AsyncOpenAI | None = None) -> None:
        self.model = settings.llm_model
        self.timeout_seconds = settings.llm_timeout_seconds
        self.transcription_model = settings.transcription_model
        self.max_tokens = settings.llm_max_tokens
        self.max_tokens_param = limit_param_for(settings)
        # The models the server listed at start (None: not known, it did not answer
        # /models): /model refuses one it does not serve (bot/startup.py fills it).
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
            base_url, query = _split_query(settings.openai_base_url)
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
        the model streams go to `calls` (tooluse.py runs them).

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
                async for chunk in _bounded(stream, deadline):
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
                            received += sum(len(_call_text(call)) for call in delta.tool_calls)
                            if calls is not None:
                                calls.add(delta.tool_calls)
                        thought = _reasoning(delta)
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
            raise _map_error(exc) from exc
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

    async def transcribe(
        self,
        audio: bytes,
        *,
        filename: str,
        mime: str | None = None,
        usage: StreamReport | None = None,
    ) -> str:
        """The words spoken in `audio` (TRANSCRIPTION_MODEL); raise LLMError on any failure.

        Bounded by LLM_TIMEOUT_SECONDS like an answer. The server picks the decoder by the
        file name's extension, so `filename` must end in one it knows (e.g. `.ogg`). What
        it cost goes into `usage`: the server's token usage when it reports one (the
        gpt-4o transcription models do), else the transcript estimated like any text.
        """
        report = usage if usage is not None else StreamReport()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                result = await self._client.audio.transcriptions.create(
                    model=self.transcription_model, file=(filename, audio, mime)
                )
        except TimeoutError as exc:
            detail = f"no transcript within {self.timeout_seconds}s"
            raise LLMError(LLMErrorKind.TIMEOUT, detail) from exc
        except openai.APIError as exc:
            raise _map_error(exc) from exc
        reported = getattr(result, "usage", None)
        report.sent = True
        report.prompt_tokens = int(getattr(reported, "input_tokens", 0) or 0)
        report.completion_tokens = int(getattr(reported, "output_tokens", 0) or 0)
        estimate(report, 0, len(result.text or ""))
        return result.text

    async def generate_image(self, prompt: str, *, model: str, size: str) -> GeneratedImage:
        """One image for `prompt` (/images/generations); raise LLMError on any failure.

        Asks for base64 (`response_format="b64_json"`); a server that refuses the field
        (gpt-image models always answer base64) is asked again without it. A server that
        answers a URL anyway gives a `url` instead of `data`. Bounded by
        LLM_TIMEOUT_SECONDS, both tries together.
        """
        try:
            async with asyncio.timeout(self.timeout_seconds):
                try:
                    result = await self._client.images.generate(
                        model=model, prompt=prompt, size=size, n=1, response_format="b64_json"
                    )
                except openai.BadRequestError as exc:
                    # gpt-image: "Unknown parameter: 'response_format'." (param named).
                    if exc.param != "response_format" and not refuses(exc, "response_format"):
                        raise
                    result = await self._client.images.generate(
                        model=model, prompt=prompt, size=size, n=1
                    )
        except TimeoutError as exc:
            detail = f"no image within {self.timeout_seconds}s"
            raise LLMError(LLMErrorKind.TIMEOUT, detail) from exc
        except openai.APIError as exc:
            raise _map_error(exc) from exc
        first = result.data[0] if result.data else None
        data = _base64(first.b64_json) if first is not None and first.b64_json else None
        url = first.url if first is not None and data is None else None
        if data is None and not url:
            raise LLMError(LLMErrorKind.EMPTY, "no image in the answer")
        revised = (first.revised_prompt if first is not None else None) or None
        return GeneratedImage(data=data, url=url, revised_prompt=revised)

    async def speak(self, text: str, *, model: str, voice: str) -> bytes:
        """`text` spoken (/audio/speech) as OGG/Opus, what Telegram plays as a voice
        message; raise LLMError on any failure. Bounded by LLM_TIMEOUT_SECONDS."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                response = await self._client.audio.speech.create(
                    model=model, voice=voice, input=text, response_format="opus"
                )
                audio = response.content
        except TimeoutError as exc:
            detail = f"no speech within {self.timeout_seconds}s"
            raise LLMError(LLMErrorKind.TIMEOUT, detail) from exc
        except openai.APIError as exc:
            raise _map_error(exc) from exc
        if not audio:
            raise LLMError(LLMErrorKind.EMPTY, "no audio in the answer")
        return audio

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
        base_url = _split_query(self._settings.openai_base_url)[0] or f"https://{OPENAI_API_HOST}"
        return urlsplit(base_url).netloc or "the LLM server"

    async def close(self) -> None:
        """Close the HTTP client (if one was made)."""
        if self._made is not None:
            await self._made.close()


def text_chars(messages: ChatMessages) -> int:
    """Characters of text in chat messages (images not counted): the turn's log line, and
    an estimate of a prompt's tokens when the server reported none."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(str(part.get("text", ""))) for part in content)
    return total


# Characters per token when a server reported no usage (the usual English-text ratio).
CHARS_PER_TOKEN = 4


def estimate(report: StreamReport, prompt_chars: int, reply_chars: int) -> None:
    """Fill in token counts the server did not report (a stopped stream ends before its
    usage chunk), so what the user was billed for is still accounted."""
    if not report.prompt_tokens:
        report.prompt_tokens = -(-prompt_chars // CHARS_PER_TOKEN)
    if not report.completion_tokens:
        report.completion_tokens = -(-reply_chars // CHARS_PER_TOKEN)


def _split_query(url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """A base URL without its query, and the query (a gateway's `?api_key=`) apart.

    openai appends each endpoint's path after the whole base URL, query included
    (`/v1?k=v` + `chat/completions` would become `/v1/?k=vchat/completions`).
    """
    if url is None or "?" not in url:
        return url, None
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(parts._replace(query="", fragment="")), query or None


def limit_param_for(settings: Settings) -> LimitParam:
    """The request field for the answer's token limit (LLM_MAX_TOKENS_PARAM).

    auto: OpenAI's own API takes max_completion_tokens (its reasoning models refuse
    max_tokens); other OpenAI-compatible servers (Ollama, vLLM, ...) know max_tokens.
    """
    if settings.llm_max_tokens_param != "auto":
        return settings.llm_max_tokens_param
    base_url = settings.openai_base_url
    host = urlsplit(base_url).hostname if base_url else OPENAI_API_HOST
    return "max_completion_tokens" if host == OPENAI_API_HOST else "max_tokens"


def refuses(exc: openai.BadRequestError, param: str) -> bool:
    """Whether a 400 says the server does not know the request field `param`.

    OpenAI: "Unsupported parameter: 'max_tokens' is not supported with this model. ..."
    (code unsupported_parameter, param max_tokens); servers validating with pydantic:
    "Extra inputs are not permitted" naming the field.
    """
    message = str(exc.message)
    if exc.code == "unsupported_parameter" and exc.param == param:
        return True
    if f"Unsupported parameter: '{param}'" in message:
        return True
    return "Extra inputs are not permitted" in message and f"'{param}'" in message


def _reasoning(delta: Any) -> str:
    """The reasoning text of a streamed delta, under the names servers give it."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


async def _bounded(stream: Any, deadline: float) -> AsyncIterator[Any]:
    """Iterate a stream, but never past the deadline (a stalled server cannot hold us)."""
    iterator = stream.__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return
        yield chunk


def _base64(text: str) -> bytes | None:
    """Decoded base64, or None when it is not valid base64 (or decodes to nothing)."""
    try:
        return base64.b64decode(text, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def _call_text(call: Any) -> str:
    """The streamed text of one tool call delta (its name and argument pieces)."""
    function = getattr(call, "function", None)
    if function is None:
        return ""
    return (getattr(function, "name", None) or "") + (getattr(function, "arguments", None) or "")


def _event_status(exc: openai.APIError) -> int | None:
    """The status of an error sent as an SSE event mid-stream (a gateway such as LiteLLM
    sends `data: {"error": {"code": "500", ...}}` when its upstream dies): the client
    raises a bare APIError with the code in its body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code", getattr(exc, "code", None))
    try:
        return int(str(code))
    except (TypeError, ValueError):
        return None


def _map_error(exc: openai.APIError) -> LLMError:
    status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
    if status is None and type(exc) is openai.APIError:
        status = _event_status(exc)
        if status is None:
            # A stream broken without a status is the server's failure, not a refusal.
            status = 500
    if isinstance(exc, openai.RateLimitError):
        kind = LLMErrorKind.RATE_LIMITED
    elif isinstance(exc, openai.APITimeoutError):
        kind = LLMErrorKind.TIMEOUT
    elif isinstance(exc, openai.APIConnectionError):
        kind = LLMErrorKind.UNAVAILABLE
    elif status is not None and status >= 500:
        kind = LLMErrorKind.SERVER_ERROR
    else:
        kind = LLMErrorKind.REJECTED
    detail = f"{type(exc).__name__}: {exc.message}"
    return LLMError(kind, detail, status=status, error_type=type(exc).__name__)

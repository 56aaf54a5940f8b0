"""The OpenAI-compatible wire: the request fields a server takes, a base URL's query,
what a streamed chunk carries, and what an openai error means (llm.client uses them).

openai itself is imported on first use (about a second of CPU): the bot starts polling
without it, and a turn or the start-up probe loads it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ai_tg_bot.config import Settings
from ai_tg_bot.llm.errors import LLMError, LLMErrorKind

if TYPE_CHECKING:
    import openai as openai
else:

    class _Later(ModuleType):
        """The openai package, imported when first used."""

        def __getattr__(self, name: str) -> Any:
            return getattr(importlib.import_module("openai"), name)

    openai = _Later("openai")


OPENAI_API_HOST = "api.openai.com"
LimitParam = Literal["max_tokens", "max_completion_tokens"]


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """An image the server made: its bytes (`data`), or a `url` when it sent only that;
    `revised_prompt` is what the model says it drew (None: not said)."""

    data: bytes | None
    url: str | None = None
    revised_prompt: str | None = None


def split_query(url: str | None) -> tuple[str | None, dict[str, str] | None]:
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


def reasoning_of(delta: Any) -> str:
    """The reasoning text of a streamed delta, under the names servers give it."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


async def bounded_stream(stream: Any, deadline: float) -> AsyncIterator[Any]:
    """Iterate a stream, but never past the deadline (a stalled server cannot hold us)."""
    iterator = stream.__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return
        yield chunk


def decode_base64(text: str) -> bytes | None:
    """Decoded base64, or None when it is not valid base64 (or decodes to nothing)."""
    try:
        return base64.b64decode(text, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def call_text(call: Any) -> str:
    """The streamed text of one tool call delta (its name and argument pieces)."""
    function = getattr(call, "function", None)
    if function is None:
        return ""
    return (getattr(function, "name", None) or "") + (getattr(function, "arguments", None) or "")


def event_status(exc: openai.APIError) -> int | None:
    """The status of an error sent as an SSE event mid-stream (a gateway such as LiteLLM
    sends `data: {"error": {"code": "500", ...}}` when its upstream dies): the client
    raises a bare APIError with the code in its body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code", getattr(exc, "code", None))
    try:
        return int(str(code))
    except (TypeError, ValueError):
        return None


def map_error(exc: openai.APIError) -> LLMError:
    status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
    if status is None and type(exc) is openai.APIError:
        status = event_status(exc)
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

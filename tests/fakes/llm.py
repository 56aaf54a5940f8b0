"""A loopback OpenAI-compatible chat completions server for end-to-end tests.

Point ``openai.AsyncOpenAI(base_url=llm.base_url, api_key="test")`` at it. Replies are
scripted (``queue_reply``) or computed (``responder``); failures and stalls can be injected.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.waiting import poll_until

Json = dict[str, Any]

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def openai_error(
    status: int,
    message: str | None = None,
    retry_after: float | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
) -> web.Response:
    """An error response shaped like OpenAI's: ``{"error": {message, type, param, code}}``."""
    kind, default_code, default = _ERRORS.get(status, ("api_error", None, f"Error {status}."))
    error = {"message": message or default, "type": kind, "param": param}
    body = {"error": error | {"code": code or default_code}}
    headers = {}
    if retry_after is not None:
        headers = {
            "retry-after": f"{retry_after:g}",
            "retry-after-ms": str(int(retry_after * 1000)),
        }
    return web.json_response(body, status=status, headers=headers)


# The two names of the answer's token limit: OpenAI's reasoning models refuse the first.
LIMIT_PARAMS = ("max_tokens", "max_completion_tokens")


def unsupported_param(name: str) -> web.Response:
    """OpenAI's answer to a limit field the model does not take (its real text and codes)."""
    other = next(p for p in LIMIT_PARAMS if p != name)
    message = (
        f"Unsupported parameter: '{name}' is not supported with this model. Use '{other}' instead."
    )
    return openai_error(400, message, param=name, code="unsupported_parameter")


def limit_problem(body: Json) -> web.Response | None:
    """OpenAI's refusal of a malformed token limit, if the body has one."""
    given = [name for name in LIMIT_PARAMS if body.get(name) is not None]
    if len(given) == 2:
        message = (
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported."
        )
        return openai_error(400, message, param="max_tokens", code="invalid_parameter_combination")
    for name in given:
        value = body[name]
        if not isinstance(value, int) or isinstance(value, bool):
            return openai_error(400, f"Invalid type for '{name}': expected an integer.", param=name)
        if value < 1:
            message = (
                f"Invalid '{name}': integer below minimum value. "
                f"Expected a value >= 1, but got {value} instead."
            )
            return openai_error(400, message, param=name, code="integer_below_min_value")
    return None


# What /audio/transcriptions decodes, judged by the uploaded file name's extension.
AUDIO_FORMATS = frozenset({"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "ogg", "wav", "webm"})


# What /images/generations takes and gives: sizes (DALL-E 2 and 3, gpt-image), the
# prompt's limit (DALL-E 3's), and a real 1x1 PNG.
IMAGE_SIZES = frozenset({
    "auto", "256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792",
})  # fmt: skip
IMAGE_PROMPT_LIMIT = 4000


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1x1, 8-bit RGBA
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


PNG = _png()
# /audio/speech: OpenAI's input limit, its formats' content types, and an OGG page start.
SPEECH_INPUT_LIMIT = 4096
SPEECH_FORMATS = {
    "mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
    "wav": "audio/wav", "pcm": "audio/pcm",
}  # fmt: skip
OGG_SPEECH = b"OggS\x00\x02" + bytes(22) + b"OpusHead"


def count_tokens(text: str) -> int:
    """A rough token count: a token per four characters, at least one."""
    return max(1, math.ceil(len(text) / 4))


def _text_of(content: Any) -> str:
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def echo_responder(request: Json) -> str:
    """The default reply: ``"Echo: "`` plus the last user message; after tool results
    (the last messages are ``tool`` messages), ``"Tool said: "`` and their contents."""
    messages = request.get("messages", [])
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, _text_of(message.get("content")))
    if results:
        return "Tool said: " + "; ".join(results)
    users = [m for m in messages if m.get("role") == "user"]
    return "Echo: " + (_text_of(users[-1].get("content")) if users else "")


TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
TOOL_CHOICES = ("none", "auto", "required")


def tool_problem(body: Json) -> str | None:
    """What OpenAI would refuse in ``tools``, ``tool_choice`` and the tool messages."""
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            return "Invalid 'tools': empty array. Expected an array with minimum length 1."
        for index, tool in enumerate(tools):
            where = f"tools[{index}]"
            if not isinstance(tool, dict) or tool.get("type") != "function":
                return f"Invalid value for '{where}.type': expected 'function'."
            function = tool.get("function")
            if not isinstance(function, dict):
                return f"Missing required parameter: '{where}.function'."
            name = function.get("name")
            if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
                return (
                    f"Invalid '{where}.function.name': string does not match pattern. "
                    "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
                )
            if not isinstance(function.get("description", ""), str):
                return f"Invalid type for '{where}.function.description': expected a string."
            parameters = function.get("parameters", {"type": "object"})
            if not isinstance(parameters, dict) or parameters.get("type") != "object":
                return (
                    f"Invalid schema for function '{name}': schema must be a JSON Schema of "
                    "'type: \"object\"'."
                )
    choice = body.get("tool_choice")
    if choice is not None:
        if tools is None:
            return (
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified."
            )
        if not (choice in TOOL_CHOICES or isinstance(choice, dict)):
            return (
                "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or an object."
            )
    return _tool_message_problem(body["messages"])


def _tool_message_problem(messages: list[Any]) -> str | None:
    """Every ``tool`` message answers a call of the assistant message before it, and
    every call is answered before the next other message (OpenAI's rules and texts)."""
    waiting: set[str] = set()
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in waiting:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            waiting.discard(call_id)
            continue
        if waiting:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(waiting))}"
            )
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                function = call.get("function") if isinstance(call, dict) else None
                if not (isinstance(function, dict) and isinstance(call.get("id"), str)):
                    return "Invalid 'tool_calls': each needs an 'id' and a 'function'."
                if not isinstance(function.get("arguments"), str):
                    return "Invalid type for 'function.arguments': expected a string."
                waiting.add(call["id"])
    if waiting:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(sorted(waiting))}"
        )
    return None


@dataclass
class _ToolCall:
    name: str
    arguments: str
    any_offer: bool = False  # called whenever tools are offered, named as it is


@dataclass
class _Fault:
    status: int
    retry_after: float | None
    message: str | None


@dataclass
class _Stall:
    seconds: float
    after_chunks: int


class FakeLLM:
    """``async with FakeLLM() as llm: ...``; ``llm.base_url`` ends with ``/v1``."""

    def __init__(
        self,
        *,
        chunk_size: int = 20,
        chunk_delay: float = 0.0,
        models: tuple[str, ...] = ("fake-model", "gpt-4o-mini"),
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        required_query: dict[str, str] | None = None,
    ) -> None:
        self.chunk_size = chunk_size
        self.chunk_delay = chunk_delay
        self.models = models
        self.api_key = api_key  # when set, other keys get 401 like the real service
        # Behind a reverse proxy with Basic auth: the client sends a base URL's user:pass
        # as `Authorization: Basic ...` instead of the Bearer key; only these pass.
        self.basic_auth = basic_auth
        # A gateway's credentials in the query (`/v1?api_key=...`): required on every call.
        self.required_query = required_query
        self.base_url = ""
        self.requests: list[Json] = []
        self.responder: Callable[[Json], str] = echo_responder
        self.disconnects = 0  # responses abandoned by the client midway
        self._replies: deque[str] = deque()
        # Tool calls the next completions make, when offered the tool (``queue_tool_call``).
        self._tool_calls: deque[_ToolCall] = deque()
        self.refuses_tools = False  # refuse_tools()
        self._faults: deque[_Fault] = deque()
        self._delayed_faults: deque[list[int]] = deque()  # [requests to pass, status]
        self._stalls: deque[_Stall] = deque()
        # Streams broken after so many chunks by an SSE error event (``break_next``).
        self._breaks: deque[int] = deque()
        # Speech to text: what /audio/transcriptions hears, and what it was sent.
        self.transcript = "hello from a voice message"
        self.transcriptions: list[Json] = []
        self._transcription_faults: deque[_Fault] = deque()
        # Images (/images/generations) and speech (/audio/speech): the request bodies
        # received, and errors to answer with (``fail_next_image``, ``fail_next_speech``).
        self.image_requests: list[Json] = []
        # As gpt-image models: `response_format` refused, base64 always. As some servers:
        # a URL whatever was asked.
        self.image_refuses_response_format = False
        self.image_urls_only = False
        self._image_faults: deque[_Fault] = deque()
        self.speech_requests: list[Json] = []
        self._speech_faults: deque[_Fault] = deque()
        # Models that accept image parts; None: every model does.
        self.vision_models: set[str] | None = None
        # Token limit fields refused as unsupported, as OpenAI's reasoning models refuse
        # max_tokens (see ``reject_param``).
        self.unsupported_params: set[str] = set()
        # Reasoning streamed before the next answers (`reasoning_content`, as vLLM and
        # DeepSeek send it; `think_next`), never part of the answer's content.
        self._reasoning: deque[tuple[str, str]] = deque()
        self._resumed = 0  # bumped by `resume()`: stalls in progress end, the stream goes on
        self._closing = asyncio.Event()
        # While set and not released, chat completions wait before answering (`hold`).
        self._gate: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._ids = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Start serving on a free loopback port (``async with`` does this for you)."""
        app = web.Application(client_max_size=26 * 1024 * 1024)  # uploads up to 25 MB
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            handler_cancellation=True,  # a client hanging up cancels its handler
            shutdown_timeout=1.0,
            access_log=None,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def close(self) -> None:
        """Stop serving; safe to call twice."""
        self._closing.set()  # stalled handlers wake up and finish
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- test controls ------------------------------------------------------------------
    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def last_request(self) -> Json:
        if not self.requests:
            raise AssertionError("the LLM has received no request")
        return self.requests[-1]

    def queue_reply(self, text: str) -> None:
        """Script the next reply; scripted replies are used first, in order."""
        self._replies.append(text)

    def refuse_tools(self) -> None:
        """From now on, refuse every request that offers tools (as Ollama does for a
        model without tool support)."""
        self.refuses_tools = True

    def queue_tool_call(
        self, name: str, arguments: Json | str, *, times: int = 1, unoffered: bool = False
    ) -> None:
        """The next ``times`` completions that offer tool ``name`` (and do not say
        ``tool_choice: "none"``) call it with ``arguments`` (an object, or raw text sent as
        it is), streamed in deltas like OpenAI's, finish_reason "tool_calls".
        ``unoffered``: called by that name whenever any tools are offered (a model that
        drops a prefix, or names a tool it was not given)."""
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        self._tool_calls.extend(_ToolCall(name, raw, unoffered) for _ in range(times))

    def _tool_call_for(self, body: Json) -> _ToolCall | None:
        """The scripted call this request makes, if it offers the tool."""
        if not self._tool_calls or body.get("tool_choice") == "none":
            return None
        offered = {t["function"]["name"] for t in body.get("tools") or ()}
        scripted = self._tool_calls[0]
        if scripted.name not in offered and not (scripted.any_offer and offered):
            return None
        return self._tool_calls.popleft()

    def reject_param(self, name: str) -> None:
        """Refuse every request carrying ``name`` (a token limit field) like OpenAI does."""
        if name not in LIMIT_PARAMS:
            raise ValueError(f"not a token limit field: {name}")
        self.unsupported_params.add(name)

    def fail_next_transcription(self, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` transcription requests with an error of ``status``."""
        self._transcription_faults.extend(_Fault(status, None, None) for _ in range(times))

    def fail_next_image(self, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` image generations with an error of ``status``."""
        self._image_faults.extend(_Fault(status, None, None) for _ in range(times))

    def fail_next_speech(self, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` speech requests with an error of ``status``."""
        self._speech_faults.extend(_Fault(status, None, None) for _ in range(times))

    def fail_after(self, passing: int, status: int) -> None:
        """Let the next ``passing`` completions through, then answer one with ``status``
        (a round after a tool call failing, say)."""
        self._delayed_faults.append([passing, status])

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with an OpenAI-style error of ``status``."""
        self._faults.extend(_Fault(status, retry_after, None) for _ in range(times))

    def hold(self) -> None:
        """Make chat completions and transcriptions wait, once received, until `release()`."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        """Let held (and later) chat completions answer."""
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def _wait_while_held(self) -> None:
        """While `hold()` is on: until released, or the server shuts down."""
        gate = self._gate
        if gate is None:
            return
        waiters = {asyncio.ensure_future(e.wait()) for e in (gate, self._closing)}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def think_next(self, reasoning: str, *, field: str = "reasoning_content") -> None:
        """Stream `reasoning` (in deltas of `field`; OpenRouter says "reasoning") before
        the next answer's content."""
        self._reasoning.append((reasoning, field))

    def break_next(self, *, after_chunks: int) -> None:
        """Break the next stream after ``after_chunks`` chunks the way LiteLLM does when its
        upstream dies mid-answer: an SSE event ``{"error": {"message", "type": null,
        "code": "500"}}``, then the end of the stream (no usage chunk, no [DONE])."""
        self._breaks.append(after_chunks)

    def stall_next(self, seconds: float, *, after_chunks: int = 0, times: int = 1) -> None:
        """Pause the next ``times`` replies for ``seconds``.

        Streams pause after ``after_chunks`` SSE events (the first event carries the
        assistant role; 0 pauses before the response headers). Non-stream replies pause
        before answering. A pause ends early when the server shuts down.
        """
        self._stalls.extend(_Stall(seconds, max(after_chunks, 0)) for _ in range(times))

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10,  # noqa: ASYNC109
        what: str = "condition",
    ) -> None:
        """Poll ``predicate`` until true; on timeout fail, listing the requests received."""
        await poll_until(
            predicate,
            timeout,
            lambda: f"{what}; {len(self.requests)} LLM requests: {self.requests!r:.2000}",
        )

    async def wait_for_requests(self, n: int, timeout: float = 10) -> list[Json]:  # noqa: ASYNC109
        await self.wait_for(lambda: len(self.requests) >= n, timeout, f"{n} requests")
        return self.requests

    # ---- HTTP handlers ------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        """The credentials check of the service (or of the proxy in front of it)."""
        for name, value in (self.required_query or {}).items():
            if request.query.get(name) != value:
                return False
        auth = request.headers.get("Authorization", "")
        if self.basic_auth is not None:
            pair = ":".join(self.basic_auth).encode()
            return auth == f"Basic {base64.b64encode(pair).decode()}"
        return auth.startswith("Bearer ") and (
            self.api_key is None or auth == f"Bearer {self.api_key}"
        )

    def _content_problem(self, body: Json) -> str | None:
        """What the real API would refuse in the messages' content parts, if anything."""
        for message in body["messages"]:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    continue
                if kind != "image_url":
                    return f"Invalid content part type: {kind!r}."
                if self.vision_models is not None and body["model"] not in self.vision_models:
                    return "Invalid content type. image_url is only supported by certain models."
                url = str((part.get("image_url") or {}).get("url") or "")
                if url.startswith(("http://", "https://")):
                    continue
                head, _, data = url.partition(";base64,")
                try:
                    base64.b64decode(data, validate=True)
                except (binascii.Error, ValueError):
                    data = ""
                if not head.startswith("data:image/") or not data:
                    return "Invalid image URL: expected a URL or a base64 data URL."
        return None

    async def _transcriptions(self, request: web.Request) -> web.Response:
        """Speech to text, multipart like OpenAI's: a ``file`` and a ``model`` field."""
        if not self._authorized(request):
            return openai_error(401)
        if request.content_type != "multipart/form-data":
            return openai_error(400, "Expected a multipart/form-data request.")
        form = await request.post()
        upload, model = form.get("file"), form.get("model")
        record: Json = {"model": model, "fields": {k: v for k, v in form.items() if k != "file"}}
        if isinstance(upload, web.FileField):
            data = upload.file.read()
            record |= {"filename": upload.filename, "content_type": upload.content_type}
            record["data"] = data
        self.transcriptions.append(record)
        await self._wait_while_held()
        if self._transcription_faults:
            fault = self._transcription_faults.popleft()
            return openai_error(fault.status, fault.message, fault.retry_after)
        if not isinstance(upload, web.FileField):
            return openai_error(400, "you must provide a file")
        if not model:
            return openai_error(400, "you must provide a model parameter")
        extension = (upload.filename or "").rsplit(".", 1)[-1].lower()
        if extension not in AUDIO_FORMATS:
            formats = ", ".join(f"'{f}'" for f in sorted(AUDIO_FORMATS))
            return openai_error(400, f"Invalid file format. Supported formats: [{formats}]")
        if not record["data"]:
            return openai_error(400, "Audio file is too short.")
        return web.json_response({"text": self.transcript})

    async def _json_body(self, request: web.Request) -> Json | web.Response:
        if not self._authorized(request):
            return openai_error(401)
        try:
            body = await request.json()
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return openai_error(400, "The request body must be a JSON object.")
        return body

    async def _admit(
        self,
        request: web.Request,
        received: list[Json],
        faults: deque[_Fault],
        delayed: deque[list[int]] | None = None,
    ) -> Json | web.Response:
        """What every endpoint does first, as OpenAI's: the key, a JSON object, recorded
        (in `received`), held while the test holds requests, a scripted fault (`delayed`:
        after so many requests pass), and a model named; the body, or the error."""
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        received.append(body)
        await self._wait_while_held()
        if delayed:
            if delayed[0][0] == 0:
                return openai_error(delayed.popleft()[1])
            delayed[0][0] -= 1
        if faults:
            fault = faults.popleft()
            return openai_error(fault.status, fault.message, fault.retry_after)
        if not body.get("model"):
            return openai_error(400, "you must provide a model parameter")
        return body

    async def _images(self, request: web.Request) -> web.Response:
        """Image generation like OpenAI's: model and prompt required, a known size, n 1."""
        body = await self._admit(request, self.image_requests, self._image_faults)
        if isinstance(body, web.Response):
            return body
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return openai_error(400, "Missing required parameter: 'prompt'.", param="prompt")
        if len(prompt) > IMAGE_PROMPT_LIMIT:
            message = f"Invalid 'prompt': string too long. Expected at most {IMAGE_PROMPT_LIMIT}."
            return openai_error(400, message, param="prompt")
        size = body.get("size", "auto")
        if size not in IMAGE_SIZES:
            message = f"Invalid value: '{size}'. Supported values are: {sorted(IMAGE_SIZES)}."
            return openai_error(400, message, param="size")
        if body.get("n", 1) != 1:
            return openai_error(400, "Invalid 'n': only 1 is supported.", param="n")
        if "response_format" in body and self.image_refuses_response_format:
            message = "Unknown parameter: 'response_format'."
            return openai_error(400, message, param="response_format", code="unknown_parameter")
        if body.get("response_format", "b64_json") not in ("url", "b64_json"):
            return openai_error(400, "Invalid 'response_format'.", param="response_format")
        image: Json = {"revised_prompt": f"A picture of {prompt}"}
        if body.get("response_format") == "url" or self.image_urls_only:
            image["url"] = f"http://127.0.0.1:1/images/{len(self.image_requests)}.png"
        else:
            image["b64_json"] = base64.b64encode(PNG).decode()
        return web.json_response({"created": int(time.time()), "data": [image]})

    async def _speech(self, request: web.Request) -> web.Response:
        """Text to speech like OpenAI's: model, input (at most 4,096 characters) and voice
        required; the audio in the asked format (OGG/Opus for "opus")."""
        body = await self._admit(request, self.speech_requests, self._speech_faults)
        if isinstance(body, web.Response):
            return body
        text = body.get("input")
        if not isinstance(text, str) or not text:
            return openai_error(400, "Missing required parameter: 'input'.", param="input")
        if len(text) > SPEECH_INPUT_LIMIT:
            message = (
                f"Invalid 'input': string too long. Expected a string with maximum length "
                f"{SPEECH_INPUT_LIMIT}, but got a string with length {len(text)} instead."
            )
            return openai_error(400, message, param="input", code="string_above_max_length")
        if not body.get("voice"):
            return openai_error(400, "Missing required parameter: 'voice'.", param="voice")
        kind = body.get("response_format", "mp3")
        if kind not in SPEECH_FORMATS:
            return openai_error(400, f"Invalid 'response_format': {kind}.", param="response_format")
        audio = OGG_SPEECH + text.encode()  # each answer's audio tells its text apart
        return web.Response(body=audio, content_type=SPEECH_FORMATS[kind])

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):  # the real service lists models to its keys only
            return openai_error(401)
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake-llm"}
            for m in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    def resume(self) -> None:
        """End the stalls in progress now: their streams go on (see ``stall_next``)."""
        self._resumed += 1

    async def _pause(self, seconds: float, request: web.Request | None = None) -> bool:
        """Sleep; False if the server began shutting down meanwhile, or the client of
        `request` went away (counted in `disconnects`, as a provider sees it at once).
        `resume()` ends it early, and the stream goes on."""
        deadline = time.monotonic() + seconds
        resumed = self._resumed
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self._resumed != resumed:
                return True
            try:
                await asyncio.wait_for(self._closing.wait(), min(left, 0.05))
            except TimeoutError:
                transport = request.transport if request is not None else None
                if request is not None and (transport is None or transport.is_closing()):
                    self.disconnects += 1
                    return False
                continue
            return False

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._admit(request, self.requests, self._faults, self._delayed_faults)
        if isinstance(body, web.Response):
            return body
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return openai_error(400, "[] is too short - 'messages'")
        refused = next(
            (p for p in LIMIT_PARAMS if p in body and p in self.unsupported_params), None
        )
        if refused is not None:
            return unsupported_param(refused)
        limit_error = limit_problem(body)
        if limit_error is not None:
            return limit_error
        problem = self._content_problem(body) or tool_problem(body)
        if problem is not None:
            return openai_error(400, problem)
        if self.refuses_tools and "tools" in body:  # Ollama, for a model without tools
            return openai_error(
                400, f"registry.ollama.ai/library/{body['model']} does not support tools"
            )
        if body.get("stream_options") and not body.get("stream"):
            return openai_error(
                400, "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            )

        call = self._tool_call_for(body)
        if call is not None:
            text = ""
        else:
            text = self._replies.popleft() if self._replies else self.responder(body)
        finish = "stop" if call is None else "tool_calls"
        limit = next((body[p] for p in LIMIT_PARAMS if body.get(p) is not None), None)
        if isinstance(limit, int) and count_tokens(text) > limit:
            text, finish = text[: limit * 4], "length"
        prompt = "".join(_text_of(m.get("content")) for m in body["messages"])
        produced = text if call is None else call.name + call.arguments
        usage = {"prompt_tokens": count_tokens(prompt), "completion_tokens": count_tokens(produced)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        stall = self._stalls.popleft() if self._stalls else None
        self._ids += 1
        head = {"id": f"chatcmpl-fake{self._ids}", "created": int(time.time())}
        head |= {"model": body["model"], "system_fingerprint": "fp_fake"}
        try:
            if body.get("stream"):
                return await self._stream(request, body, head, text, finish, usage, stall, call)
            if stall is not None and not await self._pause(stall.seconds):
                return openai_error(503, "The server is shutting down.")
            message: Json = {
                "role": "assistant",
                "content": text if call is None else None,
                "refusal": None,
            }
            if call is not None:
                message["tool_calls"] = [_call_json(call, self._ids)]
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            completion = head | {"object": "chat.completion", "choices": [choice]}
            return web.json_response(completion | {"usage": usage})
        except asyncio.CancelledError:
            self.disconnects += 1
            raise

    async def _stream(
        self,
        request: web.Request,
        body: Json,
        head: Json,
        text: str,
        finish: str,
        usage: Json,
        stall: _Stall | None,
        call: _ToolCall | None = None,
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: Json, finish_reason: str | None = None) -> Json:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return head | {"object": "chat.completion.chunk", "choices": [choice]} | extra

        size = max(self.chunk_size, 1)
        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if self._reasoning:
            reasoning, field = self._reasoning.popleft()
            events += [
                chunk({"content": None, field: reasoning[i : i + size]})
                for i in range(0, len(reasoning), size)
            ]
        events += [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]
        if call is not None:  # the id, type and name first, then the arguments in pieces
            first = _call_json(call, self._ids) | {"index": 0}
            first["function"] = {"name": call.name, "arguments": ""}
            events.append(chunk({"tool_calls": [first]}))
            events += [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                for piece in (
                    call.arguments[i : i + size] for i in range(0, len(call.arguments), size)
                )
            ]
        events.append(chunk({}, finish))
        if include_usage:
            events.append(head | {"object": "chat.completion.chunk", "choices": [], "usage": usage})

        if self._breaks:
            broken: Json = {"message": "litellm.APIConnectionError: upstream connection lost"}
            broken |= {"type": None, "param": None, "code": "500"}
            events = [*events[: self._breaks.popleft() + 1], {"error": broken}]
        pause_at, pause_for = (stall.after_chunks, stall.seconds) if stall else (-1, 0.0)
        if pause_at == 0 and not await self._pause(pause_for):
            return openai_error(503, "The server is shutting down.")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        try:
            for index, event in enumerate(events):
                if index and self.chunk_delay and not await self._pause(self.chunk_delay, request):
                    return response
                if index and index == pause_at and not await self._pause(pause_for, request):
                    return response  # shutting down or abandoned: end the stream unfinished
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
                if "error" in event:  # the gateway ends the stream after its error
                    await response.write_eof()
                    return response
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            self.disconnects += 1
        return response


def _call_json(call: _ToolCall, number: int) -> Json:
    """A tool call as OpenAI sends it in a message."""
    return {
        "id": f"call_fake{number}",
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }

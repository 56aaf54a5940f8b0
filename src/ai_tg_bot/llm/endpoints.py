"""The OpenAI-compatible endpoints besides chat: speech to text, images and speech, each
bounded by LLM_TIMEOUT_SECONDS and failing only with LLMError (LLMClient has them)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from ai_tg_bot.llm.errors import LLMError, LLMErrorKind
from ai_tg_bot.llm.meter import StreamReport, estimate
from ai_tg_bot.llm.wire import GeneratedImage, decode_base64, map_error, openai, refuses

if TYPE_CHECKING:
    from openai import AsyncOpenAI


class MediaCalls(ABC):
    """Transcriptions, image generations and speech, on the client LLMClient makes."""

    timeout_seconds: float
    transcription_model: str

    @property
    @abstractmethod
    def _client(self) -> AsyncOpenAI:
        """The openai client (LLMClient makes it on first use)."""

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
            raise map_error(exc) from exc
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
            raise map_error(exc) from exc
        first = result.data[0] if result.data else None
        data = decode_base64(first.b64_json) if first is not None and first.b64_json else None
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
            raise map_error(exc) from exc
        if not audio:
            raise LLMError(LLMErrorKind.EMPTY, "no audio in the answer")
        return audio

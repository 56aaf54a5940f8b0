"""Photos and voice, transport-free: what is stored for them and what the LLM is sent.

A photo is a user message whose `content` is its caption (possibly empty) and whose
`attachments` describe the image; a voice message is one whose `content` is the
transcript. The image itself is never stored: it is fetched by file id (from Telegram,
through a `FileFetcher` the bot provides) when a turn is answered, by whichever process
answers it, with no database session open.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ai_tg_bot.config import Settings
from ai_tg_bot.errors import BotError
from ai_tg_bot.llm import LLMClient, LLMError, LLMErrorKind, StreamReport
from ai_tg_bot.llm import text_chars as text_chars
from ai_tg_bot.storage import Attachment, Context, without_nul
from ai_tg_bot.tools import expand as expand_tool_calls

log = logging.getLogger(__name__)
IMAGE_MIME = "image/jpeg"  # Telegram re-encodes every photo as JPEG
VOICE_MIME = "audio/ogg"  # voice notes are OGG/Opus
# Transcription servers pick the decoder by extension and do not know Telegram's ".oga".
VOICE_FILENAME = "voice.ogg"
PHOTO_STAND_IN = "[photo]"
# The most of the user's memory facts given with a request (the newest first).
MEMORY_BLOCK_CHARS = 2_000
MEMORY_HEADER = (
    "What you know about the user from earlier conversations (they can see and delete "
    "these with /memory):"
)
SUMMARY_HEADER = "A summary of the earlier part of this conversation, no longer shown below:"


class MediaError(BotError):
    """A file could not be fetched (gone, unreachable, or refused)."""


class FileTooLargeError(MediaError):
    """The file is larger than the cap it was fetched with."""


class FileFetcher(Protocol):
    """Fetches a file's bytes by its (Telegram) file id, refusing more than `max_bytes`."""

    async def __call__(self, file_id: str, *, max_bytes: int) -> bytes:
        """The file's bytes; MediaError (FileTooLargeError over the cap) on failure."""


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """Which models see images, how large an image may be, and whether old ones are resent."""

    vision_models: frozenset[str] = frozenset()
    max_image_bytes: int = 5 * 1024 * 1024
    resend_images: bool = False
    max_voice_bytes: int = 20 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPolicy:
        """VISION_MODELS, MAX_IMAGE_BYTES, RESEND_IMAGES and MAX_VOICE_BYTES."""
        return cls(
            frozenset(settings.vision_models),
            settings.max_image_bytes,
            settings.resend_images,
            settings.max_voice_bytes,
        )

    def can_see_images(self, model: str) -> bool:
        """Whether `model` is one of VISION_MODELS."""
        return model in self.vision_models


def image_attachment(
    file_id: str, file_unique_id: str, size: int | None, width: int, height: int
) -> Attachment:
    """What is stored about a photo (the image stays on Telegram's servers)."""
    return {
        "type": "image",
        "file_id": file_id,
        "file_unique_id": file_unique_id,
        "size": size,
        "mime": IMAGE_MIME,
        "width": width,
        "height": height,
    }


def voice_attachment(
    file_id: str, file_unique_id: str, size: int | None, duration: int, mime: str | None
) -> Attachment:
    """What is stored about a voice message besides its transcript."""
    return {
        "type": "voice",
        "file_id": file_id,
        "file_unique_id": file_unique_id,
        "size": size,
        "mime": mime or VOICE_MIME,
        "duration": duration,
    }


def photo_stand_in(caption: str) -> str:
    """The text an image is replaced by once it is not sent: `[photo] caption`."""
    return f"{PHOTO_STAND_IN} {caption}" if caption.strip() else PHOTO_STAND_IN


async def llm_messages(
    context: Context, policy: MediaPolicy, fetch: FileFetcher | None
) -> list[dict[str, Any]]:
    """The system prompt, then the history, with images as OpenAI image content parts
    (and an answer's tool calls as the assistant and `tool` messages before its text).

    The question being answered is the newest history message: its image is fetched and
    sent when the model can see images. Older images are sent again only with
    RESEND_IMAGES; otherwise, and for models that cannot see, a text stand-in takes
    their place. If the question's own image cannot be fetched, LLMError(ATTACHMENT).
    """
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_text(context)}]
    sees = policy.can_see_images(context.model)
    newest = len(context.history) - 1
    for index, message in enumerate(context.history):
        attached = context.attachments.get(index, ())
        if message["role"] == "assistant":  # the tool calls it made, as the model saw them
            messages.extend(expand_tool_calls(attached))
        images = [a for a in attached if a.get("type") == "image"]
        if not images:
            messages.append(dict(message))
            continue
        caption = message["content"]
        parts: list[dict[str, Any]] | None = None
        if fetch is not None and sees and (index == newest or policy.resend_images):
            parts = await _image_parts(fetch, images, policy.max_image_bytes, index == newest)
        if parts is None:
            messages.append({"role": message["role"], "content": photo_stand_in(caption)})
        else:
            text = [{"type": "text", "text": caption}] if caption.strip() else []
            messages.append({"role": message["role"], "content": text + parts})
    return messages


def system_text(context: Context) -> str:
    """The system prompt, then the user's memory facts (a block capped at
    MEMORY_BLOCK_CHARS, the newest kept) and the conversation's summary, if any."""
    text = context.system_prompt
    lines: list[str] = []
    room = MEMORY_BLOCK_CHARS
    for fact in context.memory:
        room -= len(fact) + 3
        if room < 0:
            break
        lines.append(f"- {fact}")
    if lines:
        text += "\n\n" + MEMORY_HEADER + "\n" + "\n".join(reversed(lines))
    if context.summary:
        text += "\n\n" + SUMMARY_HEADER + "\n" + context.summary
    return text


async def _image_parts(
    fetch: FileFetcher, images: Sequence[Attachment], max_bytes: int, required: bool
) -> list[dict[str, Any]] | None:
    """Image parts as base64 data URLs; None (use the stand-in) if an old one is gone."""
    parts = []
    for image in images:
        try:
            data = await fetch(str(image["file_id"]), max_bytes=max_bytes)
        except MediaError as exc:
            if required:
                raise LLMError(LLMErrorKind.ATTACHMENT, f"{type(exc).__name__}: {exc}") from exc
            log.warning("an earlier image could not be fetched (%s); sending its stand-in", exc)
            return None
        url = f"data:{image.get('mime') or IMAGE_MIME};base64,{base64.b64encode(data).decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


async def transcribe_voice(
    fetch: FileFetcher,
    llm: LLMClient,
    file_id: str,
    *,
    max_bytes: int,
    mime: str | None,
    usage: StreamReport | None = None,
) -> str:
    """Download a voice message and return its transcript (stripped; may be empty); what
    the transcription cost goes into `usage`.

    MediaError when the audio cannot be downloaded, LLMError when it cannot be transcribed.
    """
    audio = await fetch(file_id, max_bytes=max_bytes)
    transcript = await llm.transcribe(
        audio, filename=VOICE_FILENAME, mime=mime or VOICE_MIME, usage=usage
    )
    return without_nul(transcript).strip()

"""Files from Telegram: getFile, then a size-capped download from the Bot API file server."""

from __future__ import annotations

import io
import logging

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from ai_tg_bot.media import FileTooLargeError, MediaError

log = logging.getLogger(__name__)
DOWNLOAD_TIMEOUT_SECONDS = 60


class _CappedBuffer(io.BytesIO):
    """A download destination that refuses to grow past `max_bytes`.

    The file's size from getFile may be missing; this stops a download at the cap
    instead of reading an unbounded body into memory.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.max_bytes:
            raise FileTooLargeError(f"more than {self.max_bytes} bytes")
        return super().write(data)


class TelegramFiles:
    """A FileFetcher over the Bot API (`{api}/file/bot{token}/{path}`, via aiogram)."""

    def __init__(self, bot: Bot, *, timeout_seconds: int = DOWNLOAD_TIMEOUT_SECONDS) -> None:
        self.bot = bot
        self.timeout_seconds = timeout_seconds

    async def __call__(self, file_id: str, *, max_bytes: int) -> bytes:
        """The file's bytes; FileTooLargeError over `max_bytes`, MediaError on failure."""
        try:
            file = await self.bot.get_file(file_id)
        except TelegramBadRequest as exc:
            if "too big" in exc.message:  # the Bot API serves at most 20 MB
                raise FileTooLargeError(exc.message) from exc
            raise MediaError(f"getFile: {exc.message}") from exc
        except TelegramAPIError as exc:
            raise MediaError(f"getFile: {exc}") from exc
        if file.file_size is not None and file.file_size > max_bytes:
            raise FileTooLargeError(f"{file.file_size} bytes, the cap is {max_bytes}")
        if not file.file_path:
            raise MediaError("getFile gave no file_path")
        sink = _CappedBuffer(max_bytes)
        try:
            await self.bot.download_file(file.file_path, sink, timeout=self.timeout_seconds)
        except aiohttp.ClientResponseError as exc:
            # Its text holds the request URL, and with it the token: /file/bot<token>/...
            raise MediaError(f"download: {type(exc).__name__} status={exc.status}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MediaError(f"download: {type(exc).__name__}") from exc
        return sink.getvalue()

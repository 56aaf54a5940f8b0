"""Show an answer as it streams: typing, throttled edits, then the final answer. Groups
(and servers without drafts) see answers so; private chats stream into a draft (`drafts`).
The final answer is a rich message where asked for and accepted (`rich`), else formatted
entity messages split at Telegram's limit; in a private chat its last message carries the
answer's buttons (`answer_buttons`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import SendRichMessage
from aiogram.types import InputRichMessage

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.answer_buttons import AnswerButtons
from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.formatting import (
    TELEGRAM_MESSAGE_LIMIT,
    Chunk,
    format_reply,
    plain_chunks,
    split_plain,
    utf16_length,
)
from ai_tg_bot.bot.middlewares.retry import best_effort
from ai_tg_bot.bot.outcome import show_ending
from ai_tg_bot.bot.rich import rich_parts
from ai_tg_bot.turns import TurnResult

log = logging.getLogger(__name__)
TYPING_REFRESH_SECONDS = 4.5  # Telegram shows a chat action for about 5 seconds
# No preview before the answer has streamed this long (or the edit interval, if shorter):
# an answer complete by then arrives as one formatted message, not a preview and an edit.
FIRST_PREVIEW_SECONDS = 1.0
_ELLIPSIS = " …"
T = TypeVar("T")


class StreamingReply:
    """One answer in one chat: a typing indicator, live previews, then the final text.

    Previews are plain text and best effort (skipped under flood control); the final text
    is formatted, split to Telegram's limit, and delivered with retries.
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        edit_interval: float = 1.0,
        capabilities: Capabilities | None = None,
        rich: bool = False,
        thread_id: int | None = None,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        # The topic of the private chat the question was asked in (None: outside topics).
        self.thread_id = thread_id
        self.edit_interval = edit_interval
        self.capabilities = capabilities or Capabilities("off")
        self.rich = rich  # the final answer as a rich message, where accepted
        # The answer as streamed pieces, joined only when read: `text += piece` would copy
        # the whole answer for every piece (quadratic: ~9 s of CPU for 120k pieces).
        self._pieces: list[str] = []
        self._has_visible_text = False
        self._message_id: int | None = None
        self._shown = ""
        self._next_edit_at = 0.0
        self._typing: asyncio.Task[None] | None = None
        # A private chat's answer: its buttons, on the final answer's last message.
        self.buttons: AnswerButtons | None = None

    async def __aenter__(self) -> StreamingReply:
        self._typing = asyncio.create_task(self._keep_typing())
        self._next_edit_at = time.monotonic() + min(self.edit_interval, FIRST_PREVIEW_SECONDS)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stop_typing()

    async def heard(self, transcript: str) -> None:
        """Show what was heard in a voice question (before the answer streams)."""
        for line in split_plain(texts.transcript(transcript)):
            await self._threaded(
                lambda thread, line=line: self.bot.send_message(  # type: ignore[misc]
                    self.chat_id, line, message_thread_id=thread
                )
            )

    @property
    def text(self) -> str:
        """The answer streamed so far."""
        if len(self._pieces) > 1:
            self._pieces[:] = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    async def think(self, piece: str) -> None:
        """Reasoning is not shown in edited previews (the typing indicator stays)."""

    async def tool_used(self, name: str) -> None:
        """Tool calls are not shown in edited previews: the final answer names them."""

    async def halt(self) -> None:
        """Stopped by the user: no more typing (the final text follows in `show`)."""
        await self._stop_typing()

    async def feed(self, piece: str) -> None:
        """Add streamed text; show it if the last edit was long enough ago."""
        self._pieces.append(piece)
        self._has_visible_text = self._has_visible_text or bool(piece.strip())
        if time.monotonic() >= self._next_edit_at and self._has_visible_text:
            await self._preview()

    async def finish(self, markdown: str | None = None, *, buttons: bool = False) -> None:
        """Replace the preview with the formatted answer, split into as many messages as
        needed; with `buttons`, the last one carries the answer's (`self.buttons`)."""
        await self._stop_typing()
        text = markdown if markdown is not None else self.text
        keys = self.buttons if buttons else None
        if self._message_id is None and await self._send_rich(text, keys):
            return
        await self._deliver_all(format_reply(text), keys, self._message_id)

    async def _send_rich(self, markdown: str, keys: AnswerButtons | None = None) -> bool:
        """Send the answer as rich messages; False (nothing sent) where refused."""
        if not (self.rich and self.capabilities.rich_for(self.chat_id)):
            return False
        parts = rich_parts(markdown)
        for index, part in enumerate(parts):
            last = keys if index == len(parts) - 1 else None
            try:
                sent = await self._threaded(
                    lambda thread: self.bot(
                        SendRichMessage(
                            chat_id=self.chat_id,
                            message_thread_id=thread,
                            rich_message=InputRichMessage(markdown=part),  # noqa: B023
                            reply_markup=last.keyboard() if last else None,  # noqa: B023
                        )
                    )
                )
            except (TelegramBadRequest, TelegramNotFound) as exc:
                self.capabilities.rich_refused(self.chat_id, exc)
                if index == 0:
                    return False
                # Later parts as entity messages: nothing shown twice, nothing lost.
                await self._deliver_all(format_reply("\n\n".join(parts[index:])), keys)
                return True
            if last is not None:
                await last.shown(sent.message_id)
        return True

    async def _deliver_all(
        self, chunks: list[Chunk], keys: AnswerButtons | None, edit_first: int | None = None
    ) -> None:
        """Deliver the chunks in order, the first edited into `edit_first` (the preview),
        the last with the answer's buttons (`keys`)."""
        for index, chunk in enumerate(chunks):
            last = keys if index == len(chunks) - 1 else None
            await self._deliver(chunk, last, edit_message_id=None if index else edit_first)

    async def send_notice(self, text: str) -> None:
        """Send a separate short line (an error, a note), with retries."""
        await self._stop_typing()
        await self._threaded(
            lambda thread: self.bot.send_message(self.chat_id, text, message_thread_id=thread)
        )

    async def _preview(self) -> None:
        await self._stop_typing()
        preview = self.text
        if utf16_length(preview) > TELEGRAM_MESSAGE_LIMIT:
            preview = split_plain(preview, TELEGRAM_MESSAGE_LIMIT - len(_ELLIPSIS))[0] + _ELLIPSIS
        # Next chance after the interval even when nothing changed: a preview cut at the
        # limit stays the same while the answer grows, and must not be rebuilt per piece.
        self._next_edit_at = time.monotonic() + self.edit_interval
        if preview == self._shown:
            return
        try:
            with best_effort():
                if self._message_id is None:
                    sent = await self._threaded(
                        lambda thread: self.bot.send_message(
                            self.chat_id, preview, message_thread_id=thread
                        )
                    )
                    self._message_id = sent.message_id
                else:
                    await self.bot.edit_message_text(
                        text=preview, chat_id=self.chat_id, message_id=self._message_id
                    )
            self._shown = preview
        except TelegramRetryAfter as exc:
            # Flood control: show nothing new until Telegram allows it again.
            self._next_edit_at = time.monotonic() + exc.retry_after
        except TelegramAPIError as exc:
            log.debug("preview skipped in chat %s: %s", self.chat_id, exc)

    async def _deliver(
        self, chunk: Chunk, keys: AnswerButtons | None = None, *, edit_message_id: int | None = None
    ) -> None:
        """Send (or edit into place) one formatted chunk, with `keys`' buttons; fall back
        to plain text if rejected."""
        try:
            await self._send(chunk, edit_message_id, keys)
        except TelegramBadRequest as exc:
            if "message is not modified" in exc.message:
                return
            if not chunk.entities:
                raise
            log.warning("formatting rejected in chat %s (%s); sending plain", self.chat_id, exc)
            for plain in plain_chunks(chunk.text):  # (the buttons move to the last)
                await self._send(plain, edit_message_id, keys)
                edit_message_id = None

    async def _send(
        self, chunk: Chunk, edit_message_id: int | None, keys: AnswerButtons | None
    ) -> None:
        if edit_message_id is None:
            await self._send_new(chunk, keys)
            return
        try:
            await self.bot.edit_message_text(
                text=chunk.text,
                chat_id=self.chat_id,
                message_id=edit_message_id,
                entities=chunk.entities,
                reply_markup=keys.keyboard() if keys else None,
            )
        except TelegramBadRequest as exc:
            if "message to edit not found" not in exc.message:
                raise
            # The preview was deleted by the user: the answer still arrives, as a new message.
            await self._send_new(chunk, keys)
            return
        if keys is not None:
            await keys.shown(edit_message_id)

    async def _send_new(self, chunk: Chunk, keys: AnswerButtons | None = None) -> None:
        markup = keys.keyboard() if keys else None
        sent = await self._threaded(
            lambda thread: self.bot.send_message(
                self.chat_id,
                chunk.text,
                entities=chunk.entities,
                message_thread_id=thread,
                reply_markup=markup,
            )
        )
        if keys is not None:
            await keys.shown(sent.message_id)

    async def _threaded(self, send: Callable[[int | None], Awaitable[T]]) -> T:
        """Send into the question's topic; if the user deleted the topic meanwhile, the
        answer still arrives, outside it (and everything after it too)."""
        try:
            return await send(self.thread_id)
        except TelegramBadRequest as exc:
            if self.thread_id is None or "thread not found" not in exc.message.lower():
                raise
            log.info(
                "topic %s of chat %s is gone; answering outside it", self.thread_id, self.chat_id
            )
            self.thread_id = None
            return await send(None)

    async def _keep_typing(self) -> None:
        while True:
            with best_effort(), contextlib.suppress(TelegramAPIError):
                await self._threaded(
                    lambda thread: self.bot.send_chat_action(
                        self.chat_id, ChatAction.TYPING, message_thread_id=thread
                    )
                )
            await asyncio.sleep(TYPING_REFRESH_SECONDS)

    async def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._typing
            self._typing = None

    async def show(self, result: TurnResult) -> None:
        """Show how the answer ended (bot.outcome)."""
        await show_ending(self, result)

"""A private chat's answer, streamed into Telegram's draft bubble with a Stop button.

sendMessageDraft shows a "Thinking…" placeholder (once the answer has taken longer than
FIRST_DRAFT_SECONDS: a quicker answer arrives as one message, with no draft before it),
then the text as it grows: no message
edits, no edit flood limits, no "edited" marks. Pressing Stop sends the bot a
`stopped_message_generation` update (bot.handlers.stop). A draft is ephemeral, so the
final answer is sent as a real message (a rich message where accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import SendMessageDraft

from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.formatting import TELEGRAM_MESSAGE_LIMIT, tool_lines, utf16_length
from ai_tg_bot.bot.middlewares.retry import best_effort
from ai_tg_bot.bot.reply import StreamingReply

log = logging.getLogger(__name__)
# A draft is ephemeral (about 30 s): shown again this often while nothing new arrives.
DRAFT_REFRESH_SECONDS = 20.0
# Drafts have no edit limits; still, one every this many seconds at most.
DRAFT_INTERVAL_SECONDS = 0.5
# The first draft ("Thinking…" and the Stop button) waits this long: most of an instant
# answer's Telegram calls were a placeholder replaced before anyone could see it.
FIRST_DRAFT_SECONDS = 0.4
# All of a process's drafts together, at most this many a second: with many answers
# streaming at once each is drafted less often (never less than before it would expire),
# rather than every answer every half second (issue 30: 1,000 answers mid-stream asked
# for 2,000 drafts a second, far past what Telegram takes from one bot).
DRAFTS_PER_SECOND = 30.0
_THINKING_CHARS = 600  # the tail of the model's reasoning shown in the draft
_ELLIPSIS = "… "


class DraftReply(StreamingReply):
    """An answer in a private chat, streamed into a draft bubble with a Stop button.

    The "Thinking…" placeholder shows after FIRST_DRAFT_SECONDS, then the model's
    reasoning (if it streams any) and the answer as they arrive, at most every
    `draft_interval` (also when the model then falls silent); the final answer is then sent
    as a real message (a draft is ephemeral). Where drafts are refused, it streams with
    edits instead.
    """

    streaming = 0  # this process's answers drafting now (DRAFTS_PER_SECOND shares them)

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        draft_id: int,
        edit_interval: float,
        capabilities: Capabilities,
        thread_id: int | None = None,
    ) -> None:
        super().__init__(
            bot,
            chat_id,
            edit_interval=edit_interval,
            capabilities=capabilities,
            rich=True,
            thread_id=thread_id,
        )
        self.draft_id = draft_id  # non-zero: the question's slot
        self.draft_interval = min(edit_interval, DRAFT_INTERVAL_SECONDS)
        self._thoughts: list[str] = []
        self._tools: list[str] = []  # the tools called so far ("server__tool")
        self._drafting = True
        self._refused = False  # drafts refused midway: the rest streams with edits
        self._drafted: str | None = None
        self._drafted_at = 0.0
        self._keepalive: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamingReply:
        if not self.capabilities.drafts:  # known to be refused: edited previews at once
            self._drafting, self._refused = False, True
            return await super().__aenter__()
        self._keepalive = asyncio.create_task(self._keep_drafting(FIRST_DRAFT_SECONDS))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stop_keepalive()
        await super().__aexit__()

    async def heard(self, transcript: str) -> None:
        """The transcript is a message, and a message ends the draft: show it again."""
        await super().heard(transcript)
        if self._drafting:
            await self._draft(self._wanted())

    async def think(self, piece: str) -> None:
        """Reasoning shows in the draft (its tail) until the answer itself begins."""
        self._thoughts.append(piece)

    async def tool_used(self, name: str) -> None:
        """Each tool call shows as a line above the answer in the draft."""
        self._tools.append(name)

    async def feed(self, piece: str) -> None:
        if not self._drafting:  # drafts refused: edited previews, as in a group
            await super().feed(piece)
            return
        self._pieces.append(piece)
        self._has_visible_text = self._has_visible_text or bool(piece.strip())

    async def halt(self) -> None:
        """Stop pressed: Telegram took the draft away; sending more would bring it back."""
        self._drafting = False
        await self._stop_keepalive()
        await super().halt()

    async def finish(self, markdown: str | None = None, *, buttons: bool = False) -> None:
        await self._stop_keepalive()
        await super().finish(markdown, buttons=buttons)

    async def send_notice(self, text: str) -> None:
        await self._stop_keepalive()
        await super().send_notice(text)

    def _wanted(self) -> str:
        """What the draft should show now: the tools called, then the answer's tail, else
        the reasoning's."""
        tools = tool_lines(self._tools) + "\n" if self._tools else ""
        if self._has_visible_text:
            return tools + _tail(self.text, TELEGRAM_MESSAGE_LIMIT - utf16_length(tools))
        if self._thoughts:
            thoughts = "".join(self._thoughts)
            self._thoughts[:] = [thoughts]
            if thoughts.strip():
                return tools + "💭 " + _tail(thoughts.strip(), _THINKING_CHARS)
        return tools or self._drafted or ""

    async def _keep_drafting(self, first: float) -> None:
        """After `first` seconds the first draft (the Thinking placeholder and the Stop
        button, or what arrived), then what arrives at most every `draft_interval`, and
        again before it expires. Drafts refused: typing and edited previews instead."""
        pause = first
        DraftReply.streaming += 1
        try:
            while self._drafting:
                await asyncio.sleep(max(pause, self._next_edit_at - time.monotonic()))
                pause = self._paced()
                wanted = self._wanted()
                stale = time.monotonic() - self._drafted_at >= DRAFT_REFRESH_SECONDS
                if wanted != self._drafted or stale:
                    await self._draft(wanted)
        finally:
            DraftReply.streaming -= 1
        if not self._refused:
            return
        if self._has_visible_text:
            await super()._preview()  # what streamed so far, in an edited preview
        else:
            self._typing = asyncio.create_task(self._keep_typing())  # until a preview shows

    def _paced(self) -> float:
        """The wait before the next draft: `draft_interval`, or this answer's share of
        DRAFTS_PER_SECOND when many stream at once (at most DRAFT_REFRESH_SECONDS)."""
        share = DraftReply.streaming / DRAFTS_PER_SECOND
        return min(max(self.draft_interval, share), DRAFT_REFRESH_SECONDS)

    async def _draft(self, text: str) -> bool:
        """Show `text` in the draft ("": Thinking…); False once drafts are refused."""
        if not (self._drafting and self.capabilities.drafts):
            self._refused = self._refused or not self.capabilities.drafts
            self._drafting = False
            return False
        try:
            with best_effort():
                await self._threaded(
                    lambda thread: self.bot(
                        SendMessageDraft(
                            chat_id=self.chat_id,
                            message_thread_id=thread,
                            draft_id=self.draft_id,
                            text=text,
                            can_stop=True,
                        )
                    )
                )
            self._drafted, self._drafted_at = text, time.monotonic()
        except TelegramRetryAfter as exc:
            self._next_edit_at = time.monotonic() + exc.retry_after
        except TelegramNotFound as exc:
            self.capabilities.drafts = False
            self._drafting, self._refused = False, True
            log.warning("the Bot API server has no drafts (%s); streaming with edits", exc)
        except TelegramBadRequest as exc:
            self._drafting, self._refused = False, True
            log.warning("draft refused in chat %s (%s); streaming with edits", self.chat_id, exc)
        except TelegramForbiddenError:
            self._drafting = False  # the user blocked the bot: the final send says so
        except TelegramAPIError as exc:
            log.debug("draft skipped in chat %s: %s", self.chat_id, exc)
        return self._drafting

    async def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._keepalive = None


def _tail(text: str, limit: int) -> str:
    """The end of `text`, within `limit` UTF-16 units (what a growing draft shows)."""
    if utf16_length(text) <= limit:
        return text
    cut = text[-(limit - len(_ELLIPSIS)) :]
    while utf16_length(cut) > limit - len(_ELLIPSIS):
        cut = cut[1:]
    return _ELLIPSIS + cut.lstrip()

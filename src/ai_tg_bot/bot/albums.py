"""Albums: the parts of one media group become one question.

Telegram sends an album as separate messages sharing a `media_group_id`. Each part is
stored as it comes (storage.AlbumsStore; the update is acknowledged once it is), and
this process keeps one task per album that waits until no part has come for
WINDOW_SECONDS, then takes the album (exactly one process does, even with several
taking at once) and asks its parts as one question (the `Asker`, bot.handlers.albums).

The parts live in the database, not here: a process that stops or crashes in the middle
leaves them stored, and the next start (every process's recovery sweep: `recover`)
takes them, rebuilding each part's Telegram message from what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.types import Message

from ai_tg_bot.i18n import current_language, use_language
from ai_tg_bot.storage import (
    STORAGE_ERRORS,
    AlbumsStore,
    AlbumTake,
    StoredPart,
    ride_out,
    utc_now,
)

log = logging.getLogger(__name__)
# An album is complete once no part has come for this long (Telegram sends its parts
# within a fraction of a second).
WINDOW_SECONDS = 0.8
# After the first sweep, an album idle this long has lost its collector (a process that
# stopped): another process takes it on.
STRANDED_SECONDS = 5.0
# A database outage is ridden out this long before the album is left to a later sweep.
PATIENCE_SECONDS = 30.0
# The least pause before looking again (the parts' clocks may differ by a little).
MIN_PAUSE_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a taken album: its Telegram message (bound to the bot), who sent it,
    and what the handler read of it when it came (`details`)."""

    message: Message
    user_id: int
    details: dict[str, Any]


# Asks an album's parts (in message order) as one question.
Asker = Callable[[list[Part]], Awaitable[None]]


@dataclass(eq=False)
class _Collecting:
    """An album this process waits for: parts stored here since its last look (`pokes`)."""

    pokes: int = 0


class AlbumCollector:
    """Collects albums into one question each (one task per album being collected)."""

    def __init__(self, store: AlbumsStore, window_seconds: float | None = None) -> None:
        self.store = store
        self.window_seconds = WINDOW_SECONDS if window_seconds is None else window_seconds
        self._collecting: dict[str, _Collecting] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self._swept = False

    async def add(
        self,
        message: Message,
        user_id: int,
        details: dict[str, Any],
        bot: Bot,
        asker: Asker,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Store one part (a redelivered one is not stored twice), acknowledge it
        (`on_stored`), and collect its album. A database error is raised: the update is
        then delivered again."""
        group = message.media_group_id
        if group is None:
            raise ValueError("not a part of an album")
        dump = message.model_dump(mode="json", exclude_none=True, by_alias=True)
        stored = details | {"message": dump, "language": current_language()}
        added = await self.store.add_part(
            group, user_id, message.chat.id, message.message_id, stored
        )
        if not added:
            log.info("album part redelivered user_id=%s: stored already", user_id)
        if on_stored is not None:
            on_stored()
        self.collect(group, bot, asker)

    def collect(self, group: str, bot: Bot, asker: Asker) -> None:
        """Wait for this album to be complete, then ask it (unless collected already)."""
        if self._closed.is_set():
            return  # stopping: the parts wait in the database for the next start
        collecting = self._collecting.get(group)
        if collecting is not None:
            collecting.pokes += 1  # the task looks again before it gives up
            return
        collecting = self._collecting[group] = _Collecting()
        task = asyncio.create_task(self._collect(group, collecting, bot, asker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def recover(self, bot: Bot, asker: Asker) -> int:
        """Collect the albums left in the database: at the first call (this process just
        started) every one; later, those idle for STRANDED_SECONDS (their process
        stopped). Returns how many albums were taken on."""
        idle = STRANDED_SECONDS if self._swept else 0.0
        groups = await self.store.waiting(idle)
        self._swept = True
        fresh = [group for group in groups if group not in self._collecting]
        for group in fresh:
            self.collect(group, bot, asker)
        if fresh:
            log.info("albums taken on: %d", len(fresh))
        return len(fresh)

    @property
    def busy(self) -> int:
        """Albums this process is collecting or asking now."""
        return len(self._tasks)

    async def close(self, grace_seconds: float) -> None:
        """Stop collecting: albums still incomplete stay stored (the next start takes
        them); albums taken already are asked, for up to `grace_seconds`."""
        self._closed.set()
        tasks = set(self._tasks)
        if not tasks:
            return
        _done, running = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in running:
            task.cancel()
        if running:
            log.warning("%d albums still being asked after %.0fs", len(running), grace_seconds)
            await asyncio.wait(running)

    async def _collect(self, group: str, collecting: _Collecting, bot: Bot, asker: Asker) -> None:
        taken: AlbumTake | None = None
        try:
            taken = await self._take_when_complete(group, collecting)
        except STORAGE_ERRORS as exc:
            # Left stored: a later sweep takes the album on.
            log.warning("album not taken (%s); left for a later sweep", type(exc).__name__)
        finally:
            if self._collecting.get(group) is collecting:
                del self._collecting[group]
        if collecting.pokes:
            # A part was stored while the album was being taken: if the album missed
            # it, it is collected on its own (else the next look finds nothing).
            self.collect(group, bot, asker)
        if taken is None or not taken.parts:
            return
        parts = [_part(stored, bot) for stored in taken.parts]
        user_id = parts[0].user_id
        log.info("album user_id=%s parts=%d", user_id, len(parts))
        try:
            with use_language(str(parts[0].details.get("language") or current_language())):
                await asker(parts)
        except Exception:
            log.exception("album user_id=%s not asked", user_id)

    async def _take_when_complete(self, group: str, collecting: _Collecting) -> AlbumTake | None:
        """The album once complete; None if this process is stopping first."""
        window = self.window_seconds

        def say(exc: BaseException, pause: float) -> None:
            log.warning("storage unavailable (%s); retrying in %.1fs", type(exc).__name__, pause)

        while not self._closed.is_set():
            collecting.pokes = 0
            taken = await ride_out(
                lambda: self.store.take(group, window),
                PATIENCE_SECONDS,
                first_pause=0.2,
                max_pause=2.0,
                on_retry=say,
            )
            if taken.parts or taken.newest is None:
                return taken
            pause = (taken.newest - utc_now()).total_seconds() + window
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(pause, MIN_PAUSE_SECONDS)):
                    await self._closed.wait()
        return None


def _part(stored: StoredPart, bot: Bot) -> Part:
    """A stored part with its Telegram message rebuilt (bound to `bot`, to answer it)."""
    message = Message.model_validate(stored.details["message"], context={"bot": bot})
    return Part(message, stored.user_id, stored.details)

"""One user's updates are handled one at a time, in arrival order; users run in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User


class UserOrderMiddleware(BaseMiddleware):
    """Keep each user's updates in arrival order and count those in flight (for shutdown).

    Polling runs every update as its own task, in arrival order. The lock is taken before
    the handler's first await, and asyncio.Lock queues waiters first-in first-out, so a
    user's messages are stored in the order they were sent. A turn gives the lock up as
    soon as its question is stored (`on_stored`): from there the database's turn queue
    answers questions in stored order, across processes (see TurnService). Only the
    order lives here; every piece of state is in the database.
    """

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        self._in_flight += 1
        self._idle.clear()
        try:
            if user is None:
                return await handler(event, data)
            lock = self._locks.setdefault(user.id, asyncio.Lock())
            self._holders[user.id] = self._holders.get(user.id, 0) + 1
            released = True  # nothing to release until the lock is ours
            previous: Callable[[], None] | None = data.get("on_stored")

            def on_stored() -> None:
                nonlocal released
                if not released:
                    released = True
                    lock.release()
                if previous is not None:
                    previous()

            data["on_stored"] = on_stored
            try:
                await lock.acquire()
                released = False
                return await handler(event, data)
            finally:
                if not released:
                    released = True
                    lock.release()
                self._holders[user.id] -= 1
                if not self._holders[user.id]:
                    del self._holders[user.id]
                    del self._locks[user.id]
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @property
    def in_flight(self) -> int:
        """Updates being handled right now."""
        return self._in_flight

    async def wait_idle(self, grace_seconds: float) -> bool:
        """Wait until no update is being handled; False if the grace period ran out first."""
        try:
            async with asyncio.timeout(grace_seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

"""How this process's turns that wait for a user's queue learn that it moved on."""

from __future__ import annotations

import asyncio
import contextlib

# How many users' last finished question a process remembers for its waiters.
FINISHED_REMEMBERED = 10_000


class Progress:
    """Wake-ups per user, and the newest question of each a turn here has finished.

    A user's queue is drained in order by whoever holds their turn lease, so when a
    turn of this process has finished (answered, or failed and stored the failure)
    question `seq`, every older question of that user is done too: a turn waiting for
    one of them can return without asking the database. Other processes' answers are
    still found by polling it.
    """

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}
        self._finished: dict[int, int] = {}  # user -> seq, oldest entry dropped first

    def finished(self, user_id: int, seq: int) -> None:
        """A turn of this process finished `seq`: remember it and wake the waiters."""
        finished = self._finished
        finished[user_id] = max(seq, finished.pop(user_id, 0))
        if len(finished) > FINISHED_REMEMBERED:
            del finished[next(iter(finished))]
        self.wake(user_id)

    def done(self, user_id: int, seq: int) -> bool:
        """Whether a turn of this process finished `seq` or a newer question of the user."""
        return self._finished.get(user_id, 0) >= seq

    def wake(self, user_id: int) -> None:
        """Tell this process's turns waiting on `user_id` to look again."""
        event = self._events.pop(user_id, None)
        if event is not None:
            event.set()

    async def wait(self, user_id: int, seconds: float) -> None:
        """Sleep up to `seconds`, less if a turn of this process answers for the user."""
        event = self._events.setdefault(user_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

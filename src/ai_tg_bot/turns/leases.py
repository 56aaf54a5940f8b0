"""Keeping turn leases alive, and taking over the ones whose holder died.

A turn lease (storage.turns) is short: `TURN_LEASE_SECONDS`. While a process answers
a user it holds that user's lease, and `LeaseKeeper` renews every lease the process
holds in one statement a few times per lease. A crashed process renews nothing, so its
leases lapse within seconds; `Sweeper` (run by every instance at start-up and every half
lease) finds pending questions under a lapsed lease and has them answered, under the
lease, so exactly once. See ADR 0011.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ai_tg_bot.storage import STORAGE_ERRORS, DialogueStore
from ai_tg_bot.turns.views import Presenter

log = logging.getLogger(__name__)
# Users whose stranded questions one sweep takes on (the rest wait for the next sweep).
RECOVERY_BATCH = 100


class LeaseKeeper:
    """The leases this process holds (user id -> owner), renewed while it holds any."""

    def __init__(self, storage: DialogueStore, lease_seconds: float) -> None:
        self.storage = storage
        self.lease_seconds = lease_seconds
        self._held: dict[int, str] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    def hold(self, user_id: int, owner: str) -> None:
        """Note a lease this process now holds; the heartbeat keeps it alive."""
        self._held[user_id] = owner
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat())

    def holds(self, user_id: int) -> bool:
        """Whether a turn of this process holds the user's lease now."""
        return user_id in self._held

    def let_go(self, user_id: int) -> None:
        """The lease is given back (or lost): stop renewing it."""
        self._held.pop(user_id, None)

    async def close(self) -> None:
        """Stop the heartbeat."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None

    async def _beat(self) -> None:
        """Renew every lease held, three times per lease, while any is held."""
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.storage.renew_turns(dict(self._held), self.lease_seconds)
            except STORAGE_ERRORS as exc:
                # The next beat tries again; a lease that lapses meanwhile may be taken
                # over, and that turn's answer is then stored once all the same.
                log.warning("could not renew turn leases (%s)", type(exc).__name__)


class Sweeper:
    """Finds users whose questions were stranded by a dead holder and drains their queues."""

    def __init__(
        self, storage: DialogueStore, drain: Callable[[int, Presenter], Awaitable[None]]
    ) -> None:
        self.storage = storage
        # Answers a user's pending questions if their lease is free (never waits).
        self._drain = drain
        self._running: dict[int, asyncio.Task[None]] = {}

    async def sweep(self, presenter_for: Callable[[int], Presenter]) -> int:
        """Start a drain for each stranded user not already being drained; how many."""
        started = 0
        for user_id in await self.storage.stranded_users(RECOVERY_BATCH):
            if user_id in self._running:
                continue
            log.info("recovering stranded questions of user_id=%s", user_id)
            task = asyncio.create_task(self._recover(user_id, presenter_for(user_id)))
            self._running[user_id] = task
            started += 1
        return started

    async def _recover(self, user_id: int, presenter: Presenter) -> None:
        try:
            await self._drain(user_id, presenter)
        except Exception:
            log.exception("recovering the questions of user_id=%s failed", user_id)
        finally:
            self._running.pop(user_id, None)

    async def wait(self, grace_seconds: float) -> bool:
        """Wait for drains in flight; False if some still ran after the grace period."""
        tasks = list(self._running.values())
        if not tasks:
            return True
        _, running = await asyncio.wait(tasks, timeout=grace_seconds)
        return not running

    async def close(self) -> None:
        """Cancel drains still running."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""The turn lease's upkeep: the heartbeat that keeps a live holder's leases, and the
sweep that finds questions whose holder died (turns.leases drives both)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ai_tg_bot.db import run, utc_now
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import StorageBase

# Served by the partial index on pending questions (ix_messages_pending).
PENDING_COUNT = (
    select(func.count())
    .select_from(statements.messages)
    .where(statements.messages.c.status == "pending", statements.IS_ACTIVE)
)
# Leases renewed per heartbeat statement.
RENEW_BATCH = 500


class LeaseUpkeepMixin(StorageBase):
    """Renew the leases this process holds; find users stranded under a lapsed one."""

    async def renew_turns(self, held: dict[int, str], ttl_seconds: float) -> int:
        """Extend the turn leases in `held` (user id -> owner) still held by their owner.

        The heartbeat of a process answering: its leases stay short (a crashed holder's
        lapses within seconds) but never lapse under a live one. Returns how many.
        """
        if not held:
            return 0
        until = utc_now() + timedelta(seconds=ttl_seconds)
        items = list(held.items())
        renewed = 0
        async with self.database.connection() as session:
            # In slices: two bind parameters per lease, well under any driver's limit.
            for start in range(0, len(items), RENEW_BATCH):
                batch = dict(items[start : start + RENEW_BATCH])
                parameters = {
                    "b_user_ids": list(batch),
                    "b_owners": list(batch.values()),
                    "b_until": until,
                }
                result = await run(session, statements.RENEW_LEASES, parameters)
                renewed += int(result.rowcount)
        return renewed

    async def stranded_users(self, limit: int = 100) -> list[int]:
        """Users whose pending questions sit under a lapsed (or no) lease, longest first."""
        parameters = {"b_now": utc_now(), "b_limit": limit}
        async with self.database.connection(read_only=True) as session:
            return [int(row[0]) for row in await run(session, statements.STRANDED, parameters)]

    async def pending_count(self) -> int:
        """Questions waiting for an answer, on every instance (the metrics' gauge)."""
        async with self.database.connection(read_only=True) as session:
            return int((await session.execute(PENDING_COUNT)).scalar_one())

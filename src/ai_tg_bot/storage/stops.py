"""Stop requests that travel through the database: a Stop pressed (or /stop sent) on one
instance for an answer another instance is writing (see ai_tg_bot/stops.py, ADR 0013)."""

from __future__ import annotations

from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import StorageBase


class StopsMixin(StorageBase):
    """`users.stop_requested_seq`: set by `request_stop`, read by the writer's instance,
    cleared when carried out or when the lease moves on."""

    async def request_stop(self, user_id: int, seq: int | None) -> bool:
        """Ask whichever instance writes the user's answer (to `seq`, or to their oldest
        pending question) to stop it; False when no question of theirs is pending."""
        async with self.database.connection() as session:
            parameters = {"b_user_id": user_id, "b_seq": seq}
            result = await session.execute(statements.REQUEST_STOP, parameters)
        return bool(result.rowcount)

    async def stop_requests(self, user_ids: list[int]) -> dict[int, int]:
        """The stops asked for these users' answers: user id -> the question's slot."""
        async with self.database.connection(read_only=True) as session:
            rows = await session.execute(statements.STOP_REQUESTS, {"b_ids": user_ids})
        return {int(row.id): int(row.stop_requested_seq) for row in rows}

    async def clear_stop(self, user_id: int, seq: int) -> None:
        """The stop asked for the answer to `seq` was carried out (or came too late)."""
        async with self.database.connection() as session:
            await session.execute(statements.CLEAR_STOP, {"b_user_id": user_id, "b_seq": seq})

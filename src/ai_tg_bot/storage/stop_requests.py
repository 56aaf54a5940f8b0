"""Stop requests that travel through the database: a Stop pressed (or /stop sent) on one
instance for an answer another instance is writing (see turns.stops, ADR 0013)."""

from __future__ import annotations

from sqlalchemy import BigInteger, BindParameter, bindparam, func, or_, select, update

from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import StorageBase

users = statements.users
_user = statements.USER
_oldest_pending = statements.OLDEST_PENDING_SEQ
# A stop for the user's answer in progress (to `b_seq`, or to their oldest pending
# question): recorded only while such a question is pending (rowcount 0: nothing to stop).
_stop_seq: BindParameter[int] = bindparam("b_seq", type_=BigInteger)
REQUEST_STOP = (
    update(users)
    .where(
        users.c.id == _user,
        _oldest_pending.is_not(None),
        or_(_stop_seq.is_(None), _stop_seq >= _oldest_pending),
    )
    .values(stop_requested_seq=func.coalesce(_stop_seq, _oldest_pending))
)
STOP_REQUESTS = select(users.c.id, users.c.stop_requested_seq).where(
    users.c.id.in_(bindparam("b_ids", expanding=True)), users.c.stop_requested_seq.is_not(None)
)
CLEAR_STOP = (
    update(users)
    .where(users.c.id == _user, users.c.stop_requested_seq == _stop_seq)
    .values(stop_requested_seq=None)
)


class StopsMixin(StorageBase):
    """`users.stop_requested_seq`: set by `request_stop`, read by the writer's instance,
    cleared when carried out or when the lease moves on."""

    async def request_stop(self, user_id: int, seq: int | None) -> bool:
        """Ask whichever instance writes the user's answer (to `seq`, or to their oldest
        pending question) to stop it; False when no question of theirs is pending."""
        async with self.database.connection() as session:
            parameters = {"b_user_id": user_id, "b_seq": seq}
            result = await session.execute(REQUEST_STOP, parameters)
        return bool(result.rowcount)

    async def stop_requests(self, user_ids: list[int]) -> dict[int, int]:
        """The stops asked for these users' answers: user id -> the question's slot."""
        async with self.database.connection(single=True) as session:
            rows = await session.execute(STOP_REQUESTS, {"b_ids": user_ids})
        return {int(row.id): int(row.stop_requested_seq) for row in rows}

    async def clear_stop(self, user_id: int, seq: int) -> None:
        """The stop asked for the answer to `seq` was carried out (or came too late)."""
        async with self.database.connection() as session:
            await session.execute(CLEAR_STOP, {"b_user_id": user_id, "b_seq": seq})

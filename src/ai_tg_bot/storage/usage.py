"""UsageStore: reads over the ledger for the Mini App (issue 32): a user's tokens per UTC
day, everyone's tokens per model and day (what costs are priced from), and the users an
administrator looks at. Reads only, one short transaction each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ai_tg_bot.db import utc_now
from ai_tg_bot.limits import LIMITS, UserLimits, day_start, resolve_limits
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Executor, StorageBase, as_utc

# How many users the administrator's list shows when no id is asked for.
RECENT_USERS = 30
_tokens = statements.token_usage
_users = statements.users
_settings = statements.user_settings
_conversations = statements.conversations
_messages = statements.messages
_events = statements.usage_events
_SPENT = _tokens.c.prompt_tokens + _tokens.c.completion_tokens


@dataclass(frozen=True, slots=True)
class DayTokens:
    """Tokens (prompt and completion) counted on one UTC day."""

    day: date
    tokens: int


@dataclass(frozen=True, slots=True)
class ModelDay:
    """Everyone's tokens for one model on one UTC day."""

    day: date
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class UserOverview:
    """One user as the administrator's list shows them: blocked, today's questions and
    tokens, bought credit, the limits in force (and which of them are their own), and
    when one of their conversations was last active."""

    user_id: int
    is_blocked: bool
    messages_today: int
    tokens_today: int
    credit: int
    limits: UserLimits
    custom: tuple[str, ...]
    last_active_at: datetime | None


def _day(value: Any) -> date:
    # SQLite hands a grouped DATE back as text.
    return date.fromisoformat(value) if isinstance(value, str) else value


class UsageStore(StorageBase):
    """Tokens by day and by model, and the users' overview."""

    async def daily_tokens(self, user_id: int, days: int = 30) -> list[DayTokens]:
        """The user's tokens on each of the last `days` UTC days, oldest first, today
        last (a day without any: 0)."""
        today = day_start(utc_now()).date()
        first = today - timedelta(days=days - 1)
        statement = (
            select(_tokens.c.day, func.sum(_SPENT))
            .where(_tokens.c.user_id == user_id, _tokens.c.day >= first)
            .group_by(_tokens.c.day)
        )
        async with self.database.connection(read_only=True) as session:
            counted = {_day(d): int(n or 0) for d, n in await session.execute(statement)}
        return [
            DayTokens(first + timedelta(days=i), counted.get(first + timedelta(days=i), 0))
            for i in range(days)
        ]

    async def by_model_and_day(self, days: int) -> list[ModelDay]:
        """Everyone's prompt and completion tokens per model on each of the last `days`
        UTC days that had any, newest day first (models by name)."""
        first = day_start(utc_now()).date() - timedelta(days=days - 1)
        statement = (
            select(
                _tokens.c.day,
                _tokens.c.model,
                func.sum(_tokens.c.prompt_tokens),
                func.sum(_tokens.c.completion_tokens),
            )
            .where(_tokens.c.day >= first)
            .group_by(_tokens.c.day, _tokens.c.model)
            .order_by(_tokens.c.day.desc(), _tokens.c.model)
        )
        async with self.database.connection(read_only=True) as session:
            rows = (await session.execute(statement)).all()
        return [ModelDay(_day(d), str(m), int(p or 0), int(c or 0)) for d, m, p, c in rows]

    async def users(
        self, user_id: int | None = None, limit: int = RECENT_USERS
    ) -> list[UserOverview]:
        """One user (`user_id`; nothing if they never wrote or were never blocked), or
        the `limit` users whose conversations were active most recently."""
        last = func.max(_conversations.c.last_active_at).label("last")
        active = select(_conversations.c.user_id, last).group_by(_conversations.c.user_id)
        async with self.database.connection(read_only=True) as session:
            if user_id is not None:
                known = select(_users.c.id).where(_users.c.id == user_id)
                if (await session.execute(known)).first() is None:
                    return []
                mine = active.where(_conversations.c.user_id == user_id)
                row = (await session.execute(mine)).first()
                ids = {user_id: as_utc(row.last) if row else None}
            else:
                recent = active.where(_conversations.c.user_id > 0).order_by(last.desc())
                rows = (await session.execute(recent.limit(limit))).all()
                ids = {int(row.user_id): as_utc(row.last) for row in rows}
            return await self._overviews(session, ids)

    async def _overviews(
        self, session: Executor, ids: dict[int, datetime | None]
    ) -> list[UserOverview]:
        """The overview of each user in `ids` (with their last activity), in that order."""
        if not ids:
            return []
        today = day_start(utc_now())
        listed = list(ids)
        columns = [_settings.c[limit.column] for limit in LIMITS]
        people = await session.execute(
            select(
                _users.c.id, _users.c.is_blocked, _users.c.token_credit, *columns, _settings.c.model
            )
            .select_from(_users.outerjoin(_settings, _settings.c.user_id == _users.c.id))
            .where(_users.c.id.in_(listed))
        )
        asked = await session.execute(
            select(_messages.c.user_id, func.count())
            .where(
                _messages.c.user_id.in_(listed),
                statements.IS_COUNTED_QUESTION,
                _messages.c.created_at >= today,
            )
            .group_by(_messages.c.user_id)
        )
        questions = {int(u): int(n) for u, n in asked}
        # Today's questions /forget erased stay counted as usage events (the quota's view).
        forgotten = await session.execute(
            select(_events.c.user_id, func.count())
            .where(
                _events.c.user_id.in_(listed),
                _events.c.kind == "message",
                _events.c.created_at >= today,
            )
            .group_by(_events.c.user_id)
        )
        for user, count in forgotten:
            questions[int(user)] = questions.get(int(user), 0) + int(count)
        spent = await session.execute(
            select(_tokens.c.user_id, func.sum(_SPENT))
            .where(_tokens.c.user_id.in_(listed), _tokens.c.day >= today.date())
            .group_by(_tokens.c.user_id)
        )
        tokens = {int(u): int(n or 0) for u, n in spent}
        found = {int(row.id): row for row in people}
        return [
            UserOverview(
                user_id=user,
                is_blocked=bool(row.is_blocked),
                messages_today=questions.get(user, 0),
                tokens_today=tokens.get(user, 0),
                credit=int(row.token_credit or 0),
                limits=resolve_limits(row, self.settings),
                custom=tuple(
                    limit.name for limit in LIMITS if getattr(row, limit.column) is not None
                ),
                last_active_at=last_active,
            )
            for user, last_active in ids.items()
            if (row := found.get(user)) is not None
        ]

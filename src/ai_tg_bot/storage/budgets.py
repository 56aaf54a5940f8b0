"""Token budgets: what a user's answers cost, counted per UTC day and month, and the
Stars credit spent past the allowance (ADR 0015).

Every function runs inside a caller's transaction that holds the user's row lock, the
same serialization as the message quotas: a check sees every answer recorded before it,
and a user's answers are written one at a time (the turn lease), so a budget is exact
up to the one answer that crosses it (an answer's cost is known only once it is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from ai_tg_bot.db import run, utc_now
from ai_tg_bot.limits import (
    QuotaExceededError,
    QuotaKind,
    UserLimits,
    day_start,
    month_start,
    next_month,
    resolve_limits,
)
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Executor, StorageBase
from ai_tg_bot.storage.records import TokenUsage

token_usage = statements.token_usage
users = statements.users
_TOKENS = token_usage.c.prompt_tokens + token_usage.c.completion_tokens

# Tokens used today and this month, and the credit left: one read.
SPENT = select(
    func.coalesce(func.sum(_TOKENS).filter(token_usage.c.day >= bindparam("b_today")), 0),
    func.coalesce(func.sum(_TOKENS), 0),
    select(users.c.token_credit).where(users.c.id == statements.USER).scalar_subquery(),
).where(token_usage.c.user_id == statements.USER, token_usage.c.day >= bindparam("b_month"))


def _upsert(dialect: Any) -> Any:
    insert = dialect.insert(token_usage)
    return insert.on_conflict_do_update(
        index_elements=[token_usage.c.user_id, token_usage.c.day, token_usage.c.model],
        set_={
            "prompt_tokens": token_usage.c.prompt_tokens + insert.excluded.prompt_tokens,
            "completion_tokens": token_usage.c.completion_tokens
            + insert.excluded.completion_tokens,
        },
    )


RECORD = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}
_over = bindparam("b_over", type_=BigInteger)
# Spend credit on what went past the allowance; never below zero.
CHARGE = (
    update(users)
    .where(users.c.id == statements.USER, users.c.token_credit > 0)
    .values(
        token_credit=case((users.c.token_credit > _over, users.c.token_credit - _over), else_=0)
    )
)


@dataclass(frozen=True, slots=True)
class Spent:
    """A user's tokens used today and this month (UTC), and their bought credit left."""

    today: int
    month: int
    credit: int

    def allowance_left(self, limits: UserLimits) -> int | None:
        """Tokens left before the credit is touched (None: no budget at all)."""
        left = [
            limit - used
            for limit, used in (
                (limits.daily_token_limit, self.today),
                (limits.monthly_token_limit, self.month),
            )
            if limit
        ]
        return max(0, min(left)) if left else None


async def spent(session: Executor, user_id: int, now: datetime) -> Spent:
    """Tokens used today and this month, and the credit left, in this transaction."""
    parameters = {
        "b_user_id": user_id,
        "b_today": day_start(now).date(),
        "b_month": month_start(now).date(),
    }
    today, month, credit = (await session.execute(SPENT, parameters)).one()
    return Spent(int(today), int(month), int(credit or 0))


def refusal(
    used: Spent, limits: UserLimits, now: datetime, *, can_buy: bool
) -> QuotaExceededError | None:
    """Why no more tokens may be spent now (the allowance used up, no credit left), or
    None. Of two budgets used up, the one that resets later is named."""
    if used.allowance_left(limits) != 0 or used.credit > 0:
        return None
    monthly = limits.monthly_token_limit
    if monthly and used.month >= monthly:
        kind: QuotaKind = "monthly_tokens"
        return QuotaExceededError(kind, monthly, next_month(now), can_buy=can_buy)
    tomorrow = day_start(now) + timedelta(days=1)
    return QuotaExceededError("tokens", limits.daily_token_limit, tomorrow, can_buy=can_buy)


async def charge(
    store: StorageBase, session: Executor, user_id: int, cost: TokenUsage | None
) -> None:
    """Take the payer's row lock (with their limits: one statement) and count `cost`'s
    tokens in `token_usage`, credit spent past the allowance: how every paid call beside
    an answer is counted (nothing to count when it holds no tokens; the lock is taken)."""
    limits = await store._locked_limits(session, user_id)
    if cost is None or not cost.total:
        return
    limits = limits or resolve_limits(None, store.settings, user_id)
    await record_usage(session, user_id, cost, limits, utc_now(), dialect=store.dialect)


async def budget_refusal(store: StorageBase, user_id: int) -> QuotaExceededError | None:
    """Why a paid call beside an answer (speech, a summary, follow-up questions) may not
    be made for the user now, their token budget being spent; or None. One read for a
    user without a budget; else checked under their lock (ADR 0011)."""
    async with store.database.connection(read_only=True) as session:
        row = await store._settings_row(session, user_id)
    if not resolve_limits(row, store.settings, user_id).has_budget:
        return None
    async with store.database.connection() as session:
        limits = await store._locked_limits(session, user_id)
        if limits is None:  # no such user: nothing spent
            return None
        return await check_budget(session, user_id, limits, utc_now(), can_buy=store.can_buy)


async def check_budget(
    session: Executor, user_id: int, limits: UserLimits, now: datetime, *, can_buy: bool
) -> QuotaExceededError | None:
    """The refusal for a new paid call, if the user's token budget is spent (one read,
    only for users with a budget)."""
    if not limits.has_budget:
        return None
    return refusal(await spent(session, user_id, now), limits, now, can_buy=can_buy)


async def record_usage(
    session: Executor,
    user_id: int,
    usage: TokenUsage,
    limits: UserLimits,
    now: datetime,
    *,
    dialect: str,
) -> None:
    """Count an answer's tokens for today; what went past the allowance is paid from the
    user's credit (as far as it goes)."""
    tokens = usage.prompt_tokens + usage.completion_tokens
    if tokens <= 0:
        return
    over = 0
    if limits.has_budget:
        used = await spent(session, user_id, now)
        left = used.allowance_left(limits)
        over = max(0, tokens - left) if left is not None and used.credit > 0 else 0
    await run(
        session,
        RECORD[dialect],
        {
            "user_id": user_id,
            "day": day_start(now).date(),
            "model": usage.model,
            "prompt_tokens": max(usage.prompt_tokens, 0),
            "completion_tokens": max(usage.completion_tokens, 0),
        },
    )
    if over:
        await run(session, CHARGE, {"b_user_id": user_id, "b_over": over})


def usage_totals(today: datetime, user_id: int | None) -> tuple[Any, ...]:
    """Messages and tokens today and in total of one user (None: everyone), selected over
    `messages` filtered alike: the columns of a `UsageTotals`, used by /status, /limits,
    /user, /stats. Tokens come from `token_usage`, which outlives /forget and the purge."""
    is_today = statements.messages.c.created_at >= today
    is_question = statements.IS_COUNTED_QUESTION
    spent = statements.token_usage.c.prompt_tokens + statements.token_usage.c.completion_tokens
    mine = (statements.token_usage.c.user_id == user_id) if user_id is not None else true()
    theirs = (statements.usage_events.c.user_id == user_id) if user_id is not None else true()
    # Today's questions /forget erased are kept as usage events (the quota counts them).
    forgotten_today = (
        select(func.count())
        .where(
            theirs,
            statements.usage_events.c.kind == "message",
            statements.usage_events.c.created_at >= today,
        )
        .scalar_subquery()
    )
    return (
        func.count().filter(is_today & is_question) + forgotten_today,
        func.count().filter(is_question),
        select(func.coalesce(func.sum(spent), 0))
        .where(mine, statements.token_usage.c.day >= today.date())
        .scalar_subquery(),
        select(func.coalesce(func.sum(spent), 0)).where(mine).scalar_subquery(),
    )

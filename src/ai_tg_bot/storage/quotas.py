"""Quotas on new questions, each checked inside the caller's transaction under the user's
row lock (so exact across instances): the daily and per-minute message limits, then the
token budget; in a group, the member who asked is counted under their own lock."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert

from ai_tg_bot.db import UsageEvent, run
from ai_tg_bot.limits import QuotaExceededError, UserLimits, day_start
from ai_tg_bot.storage import statements
from ai_tg_bot.storage.base import Executor, Seen, StorageBase, as_utc, lock_user, refuse_seen
from ai_tg_bot.storage.budgets import check_budget


async def count_asker(
    store: StorageBase,
    session: Executor,
    owner_id: int,
    author_id: int | None,
    owner_limits: UserLimits,
    now: datetime,
    seen: Seen | None = None,
) -> None:
    """The asker's quotas for a new question (QuotaExceededError over one), the owner's
    lock held. In a group's conversation (`owner_id` the group, `author_id` the member
    who asked) the member is counted under their own lock, taken after the group's
    (always in that order), by a usage event of kind `message`: how the quotas count a
    question stored under another owner. `seen`: the question's Telegram message, refused
    first if stored before (read with the counts where it can be)."""
    if author_id is None or author_id == owner_id:
        await check_quotas(session, owner_id, owner_limits, now, can_buy=store.can_buy, seen=seen)
        return
    if seen is not None:
        await refuse_seen(session, seen)
    await lock_user(session, author_id, is_sqlite=store.database.is_sqlite)
    own = await store.limits_in(session, author_id)
    await check_quotas(session, author_id, own, now, can_buy=store.can_buy)
    await session.execute(
        insert(UsageEvent).values(user_id=author_id, kind="message", created_at=now)
    )


async def check_quotas(
    session: Executor,
    user_id: int,
    limits: UserLimits,
    now: datetime,
    *,
    daily: bool = True,
    can_buy: bool = False,
    budget: bool = True,
    seen: Seen | None = None,
) -> None:
    """Raise QuotaExceededError when the user's quotas for a new question are used up.

    Today's questions against the daily limit (unless `daily` is False) and this
    minute's questions and exports against the per-minute limit, counted in one query
    under the user's row lock (which the caller holds), so exact across instances; then
    the token budget (storage.budgets), whatever `daily` says, unless `budget` is
    False (nothing paid follows: an export). `can_buy`: the refusal mentions /buy.
    """
    await _check_messages(session, user_id, limits, now, daily=daily, seen=seen)
    if not budget:
        return
    over_budget = await check_budget(session, user_id, limits, now, can_buy=can_buy)
    if over_budget is not None:
        raise over_budget


async def _check_messages(
    session: Executor,
    user_id: int,
    limits: UserLimits,
    now: datetime,
    *,
    daily: bool,
    seen: Seen | None,
) -> None:
    """The message limits; a redelivered Telegram message (`seen`) refused before them."""
    daily_limit = limits.daily_message_limit if daily else 0
    per_minute = limits.rate_limit_per_minute
    if not daily_limit and not per_minute:
        if seen is not None:
            await refuse_seen(session, seen)
        return
    today, minute_ago = day_start(now), now - timedelta(minutes=1)
    parameters = {"b_user_id": user_id, "today": today, "minute_ago": minute_ago,
                  "since": min(today, minute_ago)}  # fmt: skip
    if seen is None:
        counts = (await run(session, statements.QUOTA_COUNTS, parameters)).one()
    else:
        parameters |= {"chat_id": seen.chat_id, "message_id": seen.message_id}
        counts = (await run(session, statements.QUOTA_COUNTS_SEEN, parameters)).one()
        seen.refuse(counts.seen_seq, counts.seen_waiting)
    if daily_limit and counts[0] >= daily_limit:
        raise QuotaExceededError("daily", daily_limit, today + timedelta(days=1))
    if per_minute and counts[1] >= per_minute:
        oldest = as_utc(counts[2]) or now
        raise QuotaExceededError("rate", per_minute, oldest + timedelta(minutes=1))

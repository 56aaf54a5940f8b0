"""How token budgets, credit, subscriptions, costs and refunds read in /limits, /user,
/stats, /subscribe and the refund notice (ADR 0015)."""

from __future__ import annotations

from datetime import datetime

from ai_tg_bot.i18n import _, day, money, number
from ai_tg_bot.limits import UserLimits, next_month
from ai_tg_bot.storage import Refund, Spent, SubscriptionRecord


def _used(used: int, limit: int) -> str:
    if not limit:
        return _("unlimited (used: {used})").format(used=number(used))
    return _("{used} of {limit}").format(used=number(used), limit=number(limit))


def render_budget(
    limits: UserLimits, spent: Spent, now: datetime, *, can_buy: bool, show_credit: bool = False
) -> str:
    """Tokens used today and this month against the budgets, when each resets, and the
    bought credit left (when there is some or top-ups are offered, and the user has a
    budget: without one bought tokens are never spent; or always with `show_credit`)."""
    lines = [
        _("Tokens today: {used} (resets at 00:00 UTC)").format(
            used=_used(spent.today, limits.daily_token_limit)
        ),
        _("Tokens this month: {used} (resets on {date})").format(
            used=_used(spent.month, limits.monthly_token_limit), date=day(next_month(now))
        ),
    ]
    can_buy = can_buy and limits.has_budget
    if show_credit or (limits.has_budget and (spent.credit or can_buy)):
        credit = _("Bought tokens left: {count}").format(count=number(spent.credit))
        lines.append(credit + (" " + _("(more: /buy)") if can_buy else ""))
    return "\n".join(lines)


def subscription_line(subscription: SubscriptionRecord, now: datetime) -> str:
    """A subscription: its plan, and when it renews or ends (cancelled: paid up to then)."""
    plan = _("{tokens} tokens a month for {stars} ⭐").format(
        tokens=number(subscription.tokens), stars=number(subscription.stars)
    )
    when = day(subscription.expires_at)
    if subscription.state(now) == "active":
        return _("🔁 Subscription: {plan}, renews on {date}").format(plan=plan, date=when)
    return _("⏹ Subscription: {plan}, cancelled: ends on {date}").format(plan=plan, date=when)


def render_cost(
    tokens_by_model: dict[str, tuple[int, int]], prices: dict[str, tuple[float, float]]
) -> str | None:
    """The cost of these tokens (prompt, completion by model) at MODEL_PRICES; None when
    no model used has a price (no cost is shown then)."""
    priced = [
        (prompt * prices[model][0] + completion * prices[model][1]) / 1_000_000
        for model, (prompt, completion) in tokens_by_model.items()
        if model in prices
    ]
    if not priced:
        return None
    unpriced = sorted(model for model in tokens_by_model if model not in prices)
    cost = money(sum(priced))
    if unpriced:
        return _("{cost} (no price for: {models})").format(cost=cost, models=", ".join(unpriced))
    return cost


def refund_notice(done: Refund) -> str:
    """What a refunded user is told: the Stars, the tokens taken back, what is left."""
    return _(
        "↩️ Your payment of {stars} ⭐ was refunded. {taken} tokens were taken back; "
        "you have {balance} bought tokens left."
    ).format(
        stars=number(done.payment.stars),
        taken=number(done.taken_back),
        balance=number(done.balance),
    )

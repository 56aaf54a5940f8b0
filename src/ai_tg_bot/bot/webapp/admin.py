"""The Mini App's admin endpoints (ADMIN_USER_IDS only; `endpoint(..., admin=True)`): the
twins of /user, /block, /unblock, /setlimit, /stats' costs, and /refund, through the
same store methods, bounds and refund path."""

from __future__ import annotations

from typing import Any

from ai_tg_bot.bot.handlers.admin import out_of_bounds, parse_user_id
from ai_tg_bot.bot.refunds import RefundRefusedError, refund_payment
from ai_tg_bot.bot.webapp.account import payment_json
from ai_tg_bot.bot.webapp.auth import (
    ApiError,
    Call,
    Json,
    bad_request,
    iso,
    json_body,
    not_found,
    path_id,
)
from ai_tg_bot.i18n import _
from ai_tg_bot.limits import LIMIT_NAMES, LIMITS, LimitName, check_limit_value
from ai_tg_bot.storage import ModelDay, UserOverview

DEFAULT = "default"
_NAMES: dict[str, LimitName] = {name: name for name in LIMIT_NAMES}
MAX_DAYS = 366
LISTED_PAYMENTS = 100


def user_json(user: UserOverview) -> Json:
    """A user as the admin list shows them; `limits` by the /setlimit names, `custom`
    the names set for this user (the others are the defaults)."""
    return {
        "id": user.user_id,
        "blocked": user.is_blocked,
        "messages_today": user.messages_today,
        "tokens_today": user.tokens_today,
        "credit": user.credit,
        "limits": {limit.name: getattr(user.limits, limit.column) for limit in LIMITS},
        "custom": list(user.custom),
        "model": user.limits.model,
        "last_active_at": iso(user.last_active_at),
    }


def _user_id(raw: str) -> int:
    user_id = parse_user_id(raw)
    if user_id is None:
        raise bad_request("bad_user_id", _("A user id is a positive number."))
    return user_id


async def users(call: Call) -> Json:
    """One user by id (`q`), or the most recently active ones (`q` empty)."""
    raw = call.request.query.get("q", "").strip()
    found = await call.context.usage.users(_user_id(raw) if raw else None)
    return {"users": [user_json(user) for user in found]}


async def _one(call: Call, user_id: int) -> Json:
    (user,) = await call.context.usage.users(user_id)
    return user_json(user)


async def block(call: Call) -> Json:
    """Block or unblock a user (as /block, /unblock; their rows made if need be)."""
    user_id = path_id(call.request)
    blocking = call.request.match_info["action"] == "block"
    await call.deps.accounts.set_blocked(user_id, blocking)
    return {"id": user_id, "blocked": blocking}


def _limit_value(limit_name: LimitName, raw: Any) -> int | None:
    if raw == DEFAULT:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise bad_request("bad_limit", _("A limit is a number or “default”."))
    try:
        check_limit_value(limit_name, raw)
    except ValueError:
        raise bad_request("out_of_bounds", out_of_bounds(limit_name)) from None
    return raw


async def set_limits(call: Call) -> Json:
    """Set any of the user's limits (the /setlimit names and bounds; "default": back to
    the setting's); every value is checked before any is written. The user after."""
    user_id = path_id(call.request)
    body = await json_body(call.request)
    values: dict[LimitName, int | None] = {}
    for name, raw in body.items():
        if name not in _NAMES:
            names = ", ".join(LIMIT_NAMES)
            raise bad_request(
                "unknown_limit",
                _("Unknown limit “{name}”. Limits: {names}.").format(name=name[:40], names=names),
            )
        values[_NAMES[name]] = _limit_value(_NAMES[name], raw)
    for limit_name, value in values.items():
        await call.deps.accounts.set_limit(user_id, limit_name, value)
    return await _one(call, user_id)


def cost(row: ModelDay, prices: dict[str, tuple[float, float]]) -> float | None:
    """What a model's tokens of a day cost at MODEL_PRICES (per million); None: no price."""
    price = prices.get(row.model)
    if price is None:
        return None
    dollars = (row.prompt_tokens * price[0] + row.completion_tokens * price[1]) / 1_000_000
    return round(dollars, 6)


async def usage(call: Call) -> Json:
    """Everyone's tokens per model per UTC day for the last `days` (30 unless given),
    newest first, with their cost."""
    raw = call.request.query.get("days", "30").strip()
    days = int(raw) if raw.isdigit() and len(raw) < 4 else 0
    if not 1 <= days <= MAX_DAYS:
        message = _("Days is a number from 1 to {maximum}.").format(maximum=MAX_DAYS)
        raise bad_request("bad_days", message)
    rows = await call.context.usage.by_model_and_day(days)
    prices = call.settings.model_prices
    return {
        "rows": [
            {
                "date": row.day.isoformat(),
                "model": row.model,
                "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens,
                "cost": cost(row, prices),
            }
            for row in rows
        ]
    }


async def payments(call: Call) -> Json:
    """Everyone's most recent payments, newest first."""
    recent = await call.deps.payments.recent(LISTED_PAYMENTS)
    return {
        "payments": [payment_json(payment) | {"user_id": payment.user_id} for payment in recent]
    }


async def refund(call: Call) -> Json:
    """Refund a payment as /refund does: the Stars through Telegram, then the tokens."""
    charge = call.request.match_info["charge_id"]
    if not charge or len(charge) > 255 or any(c.isspace() for c in charge):
        raise not_found()
    deps = call.deps
    try:
        done = await refund_payment(call.context.bot, deps.payments, deps.money, charge)
    except RefundRefusedError as exc:
        raise ApiError(409, "refund_refused", exc.user_message()) from None
    if done is None:
        raise not_found()
    return {
        "refunded": True,
        "already": done.already,
        "charge_id": done.payment.charge_id,
        "user_id": done.payment.user_id,
        "stars": done.payment.stars,
        "taken_back": done.taken_back,
        "credit": done.balance,
    }

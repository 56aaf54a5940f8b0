"""What an invoice sells, read back from its payload: a token pack (/buy) or a monthly
subscription plan (/subscribe), bound to the user it was made for (ADR 0015, issue 33).

A payload is what Telegram hands back at pre-checkout and with every payment, renewals
included, so it carries everything needed to credit one: the Stars, the tokens, the
buyer; a plan's payload also a nonce, since each subscription link is a subscription of
its own (its payload is the key of its `subscriptions` row).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import _, day, number
from ai_tg_bot.storage import SubscriptionPeriod

log = logging.getLogger(__name__)

STARS = "XTR"
# The one subscription period Telegram accepts (30 days), in seconds.
SUBSCRIPTION_PERIOD = 2_592_000


@dataclass(frozen=True, slots=True)
class Purchase:
    """What a payload sells: `tokens` for `stars` to `user_id`; `plan`: every 30 days."""

    stars: int
    tokens: int
    user_id: int
    plan: bool = False

    def is_offered(self, settings: Settings) -> bool:
        """Whether it is still on sale, at this price (STARS_PACKS or SUBSCRIPTION_PLANS)."""
        offered = settings.subscription_plans if self.plan else settings.stars_packs
        return (self.stars, self.tokens) in offered

    def period(self, payload: str, expires: int | None, first: bool) -> SubscriptionPeriod | None:
        """The subscription period a payment of this pays for (None: a pack, or a plan's
        payment that names no end, credited all the same)."""
        if not self.plan or expires is None:
            return None
        until = datetime.fromtimestamp(expires, UTC)
        return SubscriptionPeriod(payload, self.stars, self.tokens, until, first)


def plan_payload(user_id: int, stars: int, tokens: int) -> str:
    """A subscription link's payload: who subscribes to which plan, and a nonce."""
    return f"plan:{stars}:{tokens}:{user_id}:{secrets.token_hex(8)}"


def parse_purchase(payload: str) -> Purchase | None:
    """What a payload of ours sells; None if it is not ours."""
    kind, _sep, rest = payload.partition(":")
    parts = rest.split(":")
    size = {"tokens": 3, "plan": 4}.get(kind)
    if size is None or len(parts) != size or not all(part.isdigit() for part in parts[:3]):
        return None
    if kind == "plan" and not parts[3].isalnum():
        return None
    stars, tokens, user_id = (int(part) for part in parts[:3])
    return Purchase(stars, tokens, user_id, plan=kind == "plan")


def parse_payload(payload: str) -> tuple[int, int, int] | None:
    """(stars, tokens, user_id) from a pack's invoice payload; None if it is not one."""
    purchase = parse_purchase(payload)
    if purchase is None or purchase.plan:
        return None
    return purchase.stars, purchase.tokens, purchase.user_id


def paid_notice(tokens: int, balance: int, period: SubscriptionPeriod | None) -> str:
    """What a user is told once a payment is credited (a renewal says so)."""
    if period is None:
        return _("✅ Thank you! {tokens} tokens added; you have {balance} now.").format(
            tokens=number(tokens), balance=number(balance)
        )
    if period.first:
        text = _(
            "✅ Thank you! Your subscription runs until {date}: {tokens} tokens added; "
            "you have {balance} now."
        )
    else:
        text = _(
            "🔄 Your subscription was renewed until {date}: {tokens} tokens added; "
            "you have {balance} now."
        )
    return text.format(date=day(period.expires_at), tokens=number(tokens), balance=number(balance))


async def stop_renewal(bot: Bot, user_id: int, first_charge_id: str) -> None:
    """A refund ended a subscription (its latest period): Telegram is asked not to charge
    for another (best effort: a refusal is logged)."""
    try:
        await bot.edit_user_star_subscription(
            user_id=user_id, telegram_payment_charge_id=first_charge_id, is_canceled=True
        )
    except TelegramBadRequest as exc:
        log.warning("could not stop the refunded subscription's renewal: %s", exc.message)

"""Telegram Stars subscriptions (issue 33): a plan bought with a subscription invoice
link, renewed by Telegram every 30 days; each period's payment is a `payments` row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ai_tg_bot.db.models.base import AutoIncrementId, Base, TimestampMixin
from ai_tg_bot.db.types import UTCDateTime

# "active": renewed by Telegram each period; "cancelled": its renewal stopped (/subscribe),
# paid for until `expires_at`; "expired": ended early (its last period refunded). Past
# `expires_at` a subscription is over whatever its status says (a user can also stop
# renewing in Telegram's own settings, which no update tells the bot).
SUBSCRIPTION_STATUSES = ("active", "cancelled", "expired")


class Subscription(TimestampMixin, Base):
    """One subscription: one invoice link paid (its payload names the plan, the buyer and
    the link), first and recurring payments alike."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The invoice link's payload: every period's successful_payment carries it.
    invoice_payload: Mapped[str] = mapped_column(String(128), unique=True)
    # The first period's telegram_payment_charge_id: editUserStarSubscription names it.
    first_charge_id: Mapped[str] = mapped_column(String(255))
    # The latest period's charge (a refund of it ends the subscription).
    last_charge_id: Mapped[str] = mapped_column(String(255))
    stars: Mapped[int] = mapped_column(Integer)
    # Tokens each period's payment adds to users.token_credit.
    tokens: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    # The end of the period paid for (Telegram's subscription_expiration_date).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        CheckConstraint("stars > 0", name="stars_positive"),
        CheckConstraint("tokens > 0", name="tokens_positive"),
        CheckConstraint("status IN ('active', 'cancelled', 'expired')", name="status_valid"),
    )

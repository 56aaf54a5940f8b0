"""The ledger: usage events (reservations and counted uses), token usage, and Stars
payments."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ai_tg_bot.db.models.base import AutoIncrementId, Base
from ai_tg_bot.db.types import UTCDateTime, utc_now


class UsageEvent(Base):
    """Something a user did that costs the operator but is not a message (an export, an
    image: `kind`).

    Counted by the per-minute guard beside the user's messages; `finished_at` is NULL
    while it runs, which keeps a second one from starting (across instances).
    """

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_usage_events_user_id_created_at", "user_id", "created_at"),)


class TokenUsage(Base):
    """Tokens a user's answers cost, per UTC day and model: what budgets count and what
    costs are priced from. Holds no words, so it outlives /forget and the retention purge
    (deleting messages refunds no budget)."""

    __tablename__ = "token_usage"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class Payment(Base):
    """A Telegram Stars payment for tokens (one row per telegram_payment_charge_id: a
    redelivered or duplicated successful_payment credits nothing twice)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    telegram_payment_charge_id: Mapped[str] = mapped_column(String(255), unique=True)
    stars: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )
    # Set once refunded (/refund, or a refund Telegram reports); the unspent part of its
    # tokens was taken back from the balance then.
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # How many of its tokens the refund took back (the rest had been spent).
    refunded_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        CheckConstraint("stars > 0", name="stars_positive"),
        CheckConstraint("tokens > 0", name="tokens_positive"),
        Index("ix_payments_user_id_created_at", "user_id", "created_at"),
    )

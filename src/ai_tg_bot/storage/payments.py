"""Telegram Stars payments for tokens: credited once per charge, refunded at most once
(ADR 0015). Each method is one transaction under the paying user's row lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from ai_tg_bot.db import Payment, User, utc_now
from ai_tg_bot.storage.base import StorageBase, as_utc
from ai_tg_bot.storage.subscriptions import SubscriptionPeriod, end_refunded, record_period

# Payments /user lists.
RECENT_PAYMENTS = 10


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """One payment as stored."""

    user_id: int
    charge_id: str
    stars: int
    tokens: int
    created_at: datetime
    refunded_at: datetime | None
    refunded_tokens: int | None


@dataclass(frozen=True, slots=True)
class Refund:
    """What a refund did: the payment, how many of its tokens were taken back from the
    balance (the rest had been spent), and the balance after. `already`: it had been
    refunded before (nothing changed now)."""

    payment: PaymentRecord
    taken_back: int
    balance: int
    already: bool = False
    # The first charge id of a subscription this refund ended while it still renewed
    # (its latest period's payment was refunded): Telegram should stop renewing it.
    ended_subscription: str | None = None


def _record(row: Payment) -> PaymentRecord:
    return PaymentRecord(
        row.user_id,
        row.telegram_payment_charge_id,
        row.stars,
        row.tokens,
        as_utc(row.created_at) or utc_now(),
        as_utc(row.refunded_at),
        row.refunded_tokens,
    )


class PaymentsStore(StorageBase):
    """Stars payments and the token credit they buy."""

    async def credit(self, user_id: int, charge_id: str, stars: int, tokens: int) -> bool:
        """Record a successful payment and add its tokens to the user's credit, once per
        `charge_id` (a redelivered or duplicated update credits nothing: False)."""
        return await self.credited(user_id, charge_id, stars, tokens) is not None

    async def credited(
        self,
        user_id: int,
        charge_id: str,
        stars: int,
        tokens: int,
        period: SubscriptionPeriod | None = None,
    ) -> int | None:
        """`credit`, returning the user's credit after it (None: seen before, nothing
        credited), read in the same transaction. A subscription's payment (`period`)
        stores or moves on its subscription in that transaction too."""
        make = sqlite.insert if self.database.is_sqlite else postgresql.insert
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            inserted = await session.execute(
                make(Payment)
                .values(
                    user_id=user_id,
                    telegram_payment_charge_id=charge_id,
                    stars=stars,
                    tokens=tokens,
                    created_at=utc_now(),
                )
                .on_conflict_do_nothing(index_elements=[Payment.telegram_payment_charge_id])
                .returning(Payment.id)
            )
            if inserted.first() is None:
                return None
            balance = await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(token_credit=User.token_credit + tokens, updated_at=utc_now())
                .returning(User.token_credit)
            )
            credit = int(balance.scalar_one())
            if period is not None:
                await record_period(session, user_id, charge_id, period)
            return credit

    async def payment(self, charge_id: str) -> PaymentRecord | None:
        """The payment with this Telegram charge id, if any."""
        async with self.database.session(read_only=True) as session:
            row = await session.scalar(
                select(Payment).where(Payment.telegram_payment_charge_id == charge_id)
            )
            return None if row is None else _record(row)

    async def payments_of(self, user_id: int, limit: int = RECENT_PAYMENTS) -> list[PaymentRecord]:
        """The user's most recent payments, newest first."""
        async with self.database.session(read_only=True) as session:
            rows = await session.scalars(
                select(Payment)
                .where(Payment.user_id == user_id)
                .order_by(Payment.created_at.desc(), Payment.id.desc())
                .limit(limit)
            )
            return [_record(row) for row in rows]

    async def recent(self, limit: int = 100) -> list[PaymentRecord]:
        """Everyone's most recent payments, newest first (the Mini App's admin list)."""
        async with self.database.session(read_only=True) as session:
            rows = await session.scalars(
                select(Payment).order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit)
            )
            return [_record(row) for row in rows]

    async def refund(self, charge_id: str) -> Refund | None:
        """Mark the payment refunded and take its tokens back from the balance, as far as
        they are unspent (the balance never goes below zero). None: no such payment."""
        found = await self.payment(charge_id)
        if found is None:
            return None
        async with self.database.session() as session:
            await self._lock_user(session, found.user_id)
            row = await session.scalar(
                select(Payment).where(Payment.telegram_payment_charge_id == charge_id)
            )
            balance = int(
                await session.scalar(select(User.token_credit).where(User.id == found.user_id)) or 0
            )
            if row is None:
                return None
            if row.refunded_at is not None:
                return Refund(_record(row), row.refunded_tokens or 0, balance, already=True)
            taken = min(row.tokens, balance)
            now = utc_now()
            row.refunded_at, row.refunded_tokens = now, taken
            await session.execute(
                update(User)
                .where(User.id == found.user_id)
                .values(token_credit=User.token_credit - taken, updated_at=now)
            )
            ended = await end_refunded(session, charge_id)
            return Refund(_record(row), taken, balance - taken, ended_subscription=ended)

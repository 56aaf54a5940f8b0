"""SubscriptionsStore: Telegram Stars subscriptions (issue 33). Each method is one short
transaction under the subscriber's row lock.

A subscription is one invoice link paid; every period's payment (the first and each
renewal) is credited like a pack, once per charge id, by PaymentsStore.credited, which
calls `record_period` in the same transaction: the subscription is stored or moved on
with the payment, never without it. Cancelling stops the renewal only: the period paid
for runs to `expires_at`, and the tokens credited stay. A refund of the latest period's
payment ends the subscription at once (`end_refunded`, in the refund's transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update

from ai_tg_bot.db import Subscription, utc_now
from ai_tg_bot.storage.base import Executor, StorageBase, as_utc

SubscriptionState = Literal["active", "cancelled", "expired"]


@dataclass(frozen=True, slots=True)
class SubscriptionPeriod:
    """A period's payment as Telegram reported it: the link's payload, the plan, the end
    of the period paid for, and whether it is the subscription's first payment."""

    payload: str
    stars: int
    tokens: int
    expires_at: datetime
    first: bool


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A subscription as stored (`status` as written; `state` tells it at a moment)."""

    id: int
    user_id: int
    first_charge_id: str
    stars: int
    tokens: int
    status: str
    expires_at: datetime
    cancelled_at: datetime | None

    def state(self, now: datetime) -> SubscriptionState:
        """Over once its period ended, whatever was written (a user can stop renewing
        in Telegram's own settings, which no update reports); else as written."""
        if self.expires_at <= now or self.status == "expired":
            return "expired"
        return "cancelled" if self.status == "cancelled" else "active"


def _record(row: Any) -> SubscriptionRecord:
    return SubscriptionRecord(
        row.id,
        row.user_id,
        row.first_charge_id,
        row.stars,
        row.tokens,
        row.status,
        as_utc(row.expires_at) or utc_now(),
        as_utc(row.cancelled_at),
    )


async def record_period(
    session: Executor, user_id: int, charge_id: str, period: SubscriptionPeriod
) -> None:
    """Store the subscription a new payment belongs to, or move it on: a period that ends
    later than the one stored makes it active to then (also after a cancel: the user
    renewed it in Telegram). Run by PaymentsStore.credited, in its transaction under the
    user's lock, only for a payment not seen before."""
    now = utc_now()
    found = (
        await session.execute(
            select(Subscription.id, Subscription.expires_at).where(
                Subscription.invoice_payload == period.payload
            )
        )
    ).first()
    if found is None:
        await session.execute(
            insert(Subscription).values(
                user_id=user_id,
                invoice_payload=period.payload,
                first_charge_id=charge_id,
                last_charge_id=charge_id,
                stars=period.stars,
                tokens=period.tokens,
                status="active",
                expires_at=period.expires_at,
                created_at=now,
                updated_at=now,
            )
        )
        return
    values: dict[str, Any] = {"updated_at": now}
    if period.first:  # a renewal recorded first (replayed from the spool out of order)
        values["first_charge_id"] = charge_id
    stored_until = as_utc(found.expires_at)
    if stored_until is None or period.expires_at > stored_until:
        values |= {"expires_at": period.expires_at, "last_charge_id": charge_id}
        values |= {"status": "active", "cancelled_at": None}
    await session.execute(update(Subscription).where(Subscription.id == found.id).values(values))


async def end_refunded(session: Executor, charge_id: str) -> str | None:
    """A refund of a subscription's latest period ends it now (nothing paid for is left).
    Returns its first charge id if it was still renewing (Telegram should stop it too);
    None otherwise. Run by PaymentsStore.refund in its transaction."""
    found = (
        await session.execute(
            select(Subscription.id, Subscription.status, Subscription.first_charge_id).where(
                Subscription.last_charge_id == charge_id, Subscription.status != "expired"
            )
        )
    ).first()
    if found is None:
        return None
    now = utc_now()
    await session.execute(
        update(Subscription)
        .where(Subscription.id == found.id)
        .values(status="expired", expires_at=now, updated_at=now)
    )
    return str(found.first_charge_id) if found.status == "active" else None


class SubscriptionsStore(StorageBase):
    """The user's subscriptions: read, and their renewal stopped or restored."""

    async def current(self, user_id: int) -> list[SubscriptionRecord]:
        """The user's subscriptions whose period has not ended, the latest ending first."""
        async with self.database.connection(read_only=True, single=True) as session:
            rows = await session.execute(
                select(Subscription)
                .where(Subscription.user_id == user_id, Subscription.expires_at > utc_now())
                .order_by(Subscription.expires_at.desc(), Subscription.id.desc())
            )
            return [_record(row) for row in rows]

    async def subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        """One subscription by its id, if any."""
        async with self.database.connection(read_only=True, single=True) as session:
            row = (
                await session.execute(
                    select(Subscription).where(Subscription.id == subscription_id)
                )
            ).first()
            return None if row is None else _record(row)

    async def set_renewal(
        self, user_id: int, subscription_id: int, *, renews: bool
    ) -> SubscriptionRecord | None:
        """Record that Telegram was told to stop (`renews=False`) or resume renewing the
        user's subscription; None if it is not theirs or its period is over. The period
        paid for, and the tokens credited, stay either way."""
        now = utc_now()
        async with self.database.connection() as session:
            await self._lock_user(session, user_id)
            status, cancelled_at = ("active", None) if renews else ("cancelled", now)
            values = {"status": status, "cancelled_at": cancelled_at, "updated_at": now}
            await session.execute(
                update(Subscription)
                .where(
                    Subscription.id == subscription_id,
                    Subscription.user_id == user_id,
                    Subscription.expires_at > now,
                    Subscription.status == ("cancelled" if renews else "active"),
                )
                .values(values)
            )
            row = (
                await session.execute(
                    select(Subscription).where(
                        Subscription.id == subscription_id, Subscription.user_id == user_id
                    )
                )
            ).first()
            if row is None:
                return None
            found = _record(row)
            return None if found.state(now) == "expired" else found

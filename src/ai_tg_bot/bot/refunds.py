"""A Stars payment given back: through Telegram first, then the tokens (ADR 0015). The one
path of `/refund` and of the Mini App's admin refund."""

from __future__ import annotations

import logging
from dataclasses import replace

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from ai_tg_bot.bot.money import MoneyDesk
from ai_tg_bot.errors import BotError
from ai_tg_bot.i18n import _
from ai_tg_bot.storage import PaymentsStore, Refund

log = logging.getLogger(__name__)


class RefundRefusedError(BotError):
    """Telegram refused to give the Stars back (`reason`: its words); nothing changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def user_message(self) -> str:
        """What the admin is told, in their language."""
        return _("Telegram refused the refund: {reason}").format(reason=self.reason)


async def refund_payment(
    bot: Bot, payments: PaymentsStore, money: MoneyDesk, charge: str
) -> Refund | None:
    """Refund the payment with this charge id: refundStarPayment (unless it is recorded
    as refunded), then the unspent tokens taken back, and the user told once. None: no
    payment has that charge id. Raises RefundRefusedError when Telegram says no."""
    found = await payments.payment(charge)
    if found is None:
        return None
    if found.refunded_at is None:
        try:
            await bot.refund_star_payment(user_id=found.user_id, telegram_payment_charge_id=charge)
        except TelegramBadRequest as exc:
            if "ALREADY_REFUNDED" not in exc.message.upper():
                raise RefundRefusedError(exc.message) from exc
            log.info("payment %s was refunded through Telegram already", charge)
    done = await payments.refund(charge)
    if done is not None and not done.already:
        # Recorded here (not by Telegram's refunded_payment): the user is told here, once.
        await money.tell_refund(done, done.payment.user_id)
    if done is not None and found.refunded_at is None and done.already:
        # Refunded by this very call: Telegram's refunded_payment message (another update,
        # handled at the same time) recorded it first. Report what it took.
        done = replace(done, already=False)
    return done

"""Token top-ups for Telegram Stars (ADR 0015): /buy, the invoice, pre-checkout, the
payment, refunds, and /paysupport and /terms, which Telegram requires of a bot that sells.

Off unless STARS_PACKS is set. Stars (currency XTR) need no payment provider. A payment
is credited once per telegram_payment_charge_id, whatever Telegram redelivers; a refund
takes back what is left of its tokens, never more than the balance. Both are recorded
through bot.money, which keeps them on disk until the database has them. Tokens are
sold only to a user whose tokens are limited (a budget): bought ones would never be spent.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.money import MoneyUpdate
from ai_tg_bot.bot.private import PrivateChat, answer_privately, tell_operator, topic_of
from ai_tg_bot.bot.purchases import STARS, parse_payload
from ai_tg_bot.bot.refunds import RefundRefusedError, refund_payment
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import N_, _, moment, ngettext, number
from ai_tg_bot.storage import AccountsStore, Refund

log = logging.getLogger(__name__)
__all__ = ["STARS", "make_router", "pack_label", "parse_payload", "payload_of"]
# Why no pack is sold to a user whose tokens are not limited.
NO_BUDGET = N_(
    "Your tokens are not limited, so there is nothing to buy: bought tokens are spent only "
    "after a daily or monthly allowance."
)


async def _can_spend_credit(accounts: AccountsStore, user_id: int) -> bool:
    """Whether bought tokens would ever be spent: the user has a token budget."""
    limits, _spent = await accounts.budget(user_id)
    return limits.has_budget


class BuyCallback(CallbackData, prefix="buy"):
    """A /buy button, bound to the user it was shown to."""

    user_id: PositiveId
    stars: PositiveId
    tokens: PositiveId


def payload_of(user_id: int, stars: int, tokens: int) -> str:
    """The invoice payload: who buys which pack (checked again at pre-checkout)."""
    return f"tokens:{stars}:{tokens}:{user_id}"


def pack_label(stars: int, tokens: int) -> str:
    """A pack as a button and an invoice line."""
    return ngettext(
        "{tokens} token for {stars} ⭐", "{tokens} tokens for {stars} ⭐", tokens
    ).format(tokens=number(tokens), stars=number(stars))


async def buy(message: Message, user_id: int, bot: Bot, deps: Deps) -> None:
    """`/buy`: the packs as buttons (in the private chat: invoices are personal)."""
    if not deps.settings.stars_packs:
        await message.answer(_("Top-ups are not offered by this bot."))
        return
    if not await _can_spend_credit(deps.accounts, user_id):
        await message.answer(_(NO_BUDGET))
        return
    rows = [
        [
            InlineKeyboardButton(
                text=pack_label(stars, tokens),
                callback_data=BuyCallback(user_id=user_id, stars=stars, tokens=tokens).pack(),
            )
        ]
        for stars, tokens in deps.settings.stars_packs
    ]

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(
            _(
                "Buy tokens with Telegram Stars. They are spent only after your daily and "
                "monthly allowance, and they do not expire. Terms: /terms. Help: /paysupport."
            ),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
        )

    await answer_privately(message, user_id, bot, deliver)


async def choose_pack(
    callback: CallbackQuery, callback_data: BuyCallback, bot: Bot, deps: Deps
) -> None:
    """A pack button: the invoice for it, in Stars."""
    if callback.from_user.id != callback_data.user_id:
        await callback.answer(texts.BUTTON_NOT_YOURS, show_alert=True)
        return
    pack = (callback_data.stars, callback_data.tokens)
    if pack not in deps.settings.stars_packs:
        await callback.answer(texts.BUTTON_EXPIRED, show_alert=True)
        return
    if not await _can_spend_credit(deps.accounts, callback.from_user.id):
        await callback.answer(_(NO_BUDGET), show_alert=True)
        return
    await callback.answer()
    stars, tokens = pack
    shown_in = callback.message if isinstance(callback.message, Message) else None
    await bot.send_invoice(
        chat_id=callback.from_user.id,
        # In the topic the packs were shown in (topics live in the private chat).
        message_thread_id=topic_of(shown_in) if shown_in is not None else None,
        title=_("{tokens} tokens").format(tokens=number(tokens)),
        description=_(
            "{tokens} tokens for your conversations with me, spent after your daily and "
            "monthly allowance. They do not expire."
        ).format(tokens=number(tokens)),
        payload=payload_of(callback.from_user.id, stars, tokens),
        currency=STARS,
        prices=[LabeledPrice(label=pack_label(stars, tokens), amount=stars)],
    )


async def pre_checkout(query: PreCheckoutQuery, bot: Bot, deps: Deps) -> None:
    """Telegram asks before taking the Stars: yes only for a pack still offered, at its
    price, bought by the user it was made for, who may use the bot."""
    user = query.from_user
    parsed = parse_payload(query.invoice_payload)
    reason: str | None = None
    if parsed is None or query.currency != STARS:
        reason = _("This invoice is not one of mine.")
    else:
        stars, tokens, buyer = parsed
        if buyer != user.id:
            reason = _("This invoice was made for someone else: send /buy for your own.")
        elif (stars, tokens) not in deps.settings.stars_packs or query.total_amount != stars:
            reason = _("This offer has changed: send /buy for the current packs.")
        elif not deps.settings.is_allowed(user.id) or (
            (await deps.accounts.standing(user.id)).is_blocked
            and not deps.settings.is_admin(user.id)
        ):
            reason = _("You can't use this bot, so you can't buy tokens for it.")
        elif not await _can_spend_credit(deps.accounts, user.id):
            reason = _(NO_BUDGET)
    if reason is not None:
        log.info("pre-checkout of user_id=%s refused", user.id)
        await bot.answer_pre_checkout_query(query.id, ok=False, error_message=reason)
        return
    await bot.answer_pre_checkout_query(query.id, ok=True)


async def paid(message: Message, deps: Deps) -> None:
    """The Stars were taken: credit the tokens, exactly once per charge, and never lose
    them to a database outage (kept on disk and retried: bot.money)."""
    update = MoneyUpdate.of(message)
    if update is not None:
        await deps.money.take(update)


async def refunded(message: Message, deps: Deps) -> None:
    """Telegram reports a refund (ours, or one made another way): take the tokens back,
    durably like a payment, and tell the user once."""
    update = MoneyUpdate.of(message)
    if update is not None:
        await deps.money.take(update)


def refund_report(refund: Refund) -> str:
    """What an admin is told about a refund."""
    payment = refund.payment
    if refund.already:
        when = moment(payment.refunded_at) if payment.refunded_at else "—"
        return _("That payment was refunded already ({when}).").format(when=when)
    return _(
        "↩️ Refunded {stars} ⭐ to user {user_id}. Took back {taken} of its {tokens} tokens "
        "({spent} had been spent); their balance is {balance} now."
    ).format(
        stars=number(payment.stars),
        user_id=payment.user_id,
        taken=number(refund.taken_back),
        tokens=number(payment.tokens),
        spent=number(payment.tokens - refund.taken_back),
        balance=number(refund.balance),
    )


async def refund(message: Message, command: CommandObject, bot: Bot, deps: Deps) -> None:
    """`/refund <charge_id>` (admins): the Stars back through Telegram, then the tokens."""
    charge = (command.args or "").strip()
    if not charge or len(charge) > 255 or " " in charge:
        await tell_operator(message, bot, _("Usage: /refund <telegram_payment_charge_id>"))
        return
    try:
        done = await refund_payment(bot, deps.payments, deps.money, charge)
    except RefundRefusedError as exc:
        await tell_operator(message, bot, exc.user_message())
        return
    if done is None:
        await tell_operator(message, bot, _("No payment has that charge id."))
        return
    await tell_operator(message, bot, refund_report(done))


async def paysupport(message: Message, deps: Deps) -> None:
    """Where a paying user gets help (Telegram requires bots that sell to answer this)."""
    contact = deps.settings.payment_support
    text = (
        _(
            "Questions about a payment: write to {contact} with the date and the amount. "
            "Refunds are made in Telegram Stars."
        ).format(contact=contact)
        if contact
        else _(
            "Questions about a payment: reply here with the date and the amount; the bot's "
            "operator sees payments with /user and refunds them in Telegram Stars."
        )
    )
    if deps.settings.subscription_plans:
        text += "\n\n" + _(
            "Subscriptions: /subscribe shows yours and cancels the renewal; what you paid "
            "for stays until the period ends."
        )
    await message.answer(text)


async def terms(message: Message, deps: Deps) -> None:
    """The terms of sale (Telegram requires bots that sell to answer this)."""
    text = _(
        "Terms: tokens bought with Telegram Stars pay for my answers once your daily "
        "and monthly allowance is used. They do not expire and cannot be transferred. "
        "A refund returns the Stars and removes the tokens not yet spent. Answers are "
        "written by a language model and can be wrong."
    )
    if deps.settings.subscription_plans:
        text += "\n\n" + _(
            "Subscriptions are paid in Telegram Stars every 30 days until cancelled; each "
            "payment adds the plan's tokens, which do not expire either. Cancelling (with "
            "/subscribe, or in Telegram's settings) stops the renewal: the period paid for "
            "runs to its end. A refund of a subscription's latest payment ends it at once."
        )
    await message.answer(text)


def make_router(settings: Settings) -> Router:
    """A fresh Router; /refund is for ADMIN_USER_IDS only (others get the refusal)."""
    router = Router(name=__name__)
    is_admin = F.from_user.id.in_(set(settings.admin_user_ids))
    router.message.register(buy, Command("buy"), F.from_user.id.as_("user_id"))
    router.message.register(paysupport, Command("paysupport"))
    router.message.register(terms, Command("terms"))
    router.message.register(refund, Command("refund"), is_admin)
    router.message.register(paid, F.successful_payment)
    router.message.register(refunded, F.refunded_payment)
    router.callback_query.register(choose_pack, BuyCallback.filter())
    router.pre_checkout_query.register(pre_checkout)
    return router

"""Monthly Telegram Stars subscriptions (issue 33): /subscribe, its links, pre-checkout,
and cancelling or resuming the renewal.

SUBSCRIPTION_PLANS are sold through invoice links (createInvoiceLink with
subscription_period: the only way Telegram sells a subscription), one per plan, made for
the user who asked. Telegram then charges every 30 days on its own; each period's
successful_payment is taken by the payments router like a pack's (bot.money: kept on
disk until recorded, credited once per charge), which stores the subscription with it.
Cancelling (editUserStarSubscription) stops the renewal only: the period paid for runs
to its end and the tokens credited stay. Tokens are sold only to a user whose tokens are
limited, as packs are (bought ones are spent past the allowance).
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
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
from ai_tg_bot.bot.budgets import subscription_line
from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.handlers.payments import NO_BUDGET
from ai_tg_bot.bot.private import PrivateChat, answer_privately, say_privately
from ai_tg_bot.bot.purchases import STARS, SUBSCRIPTION_PERIOD, parse_purchase, plan_payload
from ai_tg_bot.i18n import _, day, ngettext, number
from ai_tg_bot.storage import SubscriptionRecord, utc_now

log = logging.getLogger(__name__)
# Telegram's bound on an invoice's title.
TITLE_CHARS = 32


class RenewalCallback(CallbackData, prefix="sub"):
    """A subscription's Cancel (renew=False) or Resume (renew=True) button."""

    user_id: PositiveId
    subscription_id: PositiveId
    renew: bool


def plan_label(stars: int, tokens: int) -> str:
    """A plan as a button and an invoice line."""
    return ngettext(
        "{tokens} token a month for {stars} ⭐", "{tokens} tokens a month for {stars} ⭐", tokens
    ).format(tokens=number(tokens), stars=number(stars))


async def _plan_link(bot: Bot, user_id: int, stars: int, tokens: int) -> str:
    """A subscription invoice link for one plan, made for this user."""
    return await bot.create_invoice_link(
        title=_("{tokens} tokens a month").format(tokens=number(tokens))[:TITLE_CHARS],
        description=_(
            "{tokens} tokens every 30 days for your conversations with me, spent after your "
            "daily and monthly allowance. Cancel the renewal any time with /subscribe."
        ).format(tokens=number(tokens)),
        payload=plan_payload(user_id, stars, tokens),
        currency=STARS,
        prices=[LabeledPrice(label=plan_label(stars, tokens), amount=stars)],
        subscription_period=SUBSCRIPTION_PERIOD,
    )


def _renewal_button(subscription: SubscriptionRecord, renews: bool) -> InlineKeyboardButton:
    data = RenewalCallback(
        user_id=subscription.user_id, subscription_id=subscription.id, renew=not renews
    )
    label = _("Cancel subscription") if renews else _("Resume subscription")
    return InlineKeyboardButton(text=label, callback_data=data.pack())


async def subscribe(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/subscribe`: the user's subscriptions (with Cancel or Resume), and the plans as
    payment links when none renews; `/subscribe cancel` stops every renewal."""
    now = utc_now()
    current = await deps.subscriptions.current(user_id)
    if (command.args or "").strip().lower() == "cancel":
        renewing = [s for s in current if s.state(now) == "active"]
        lines = [await _set_renewal(bot, deps, s, renews=False) for s in renewing]
        reply = "\n".join(lines) or _("You have no subscription that renews.")
        await say_privately(message, user_id, bot, reply)
        return
    plans = deps.settings.subscription_plans
    if not plans and not current:
        await message.answer(_("Subscriptions are not offered by this bot."))
        return
    lines = [subscription_line(s, now) for s in current]
    rows = [[_renewal_button(s, s.state(now) == "active")] for s in current]
    renews = any(s.state(now) == "active" for s in current)
    if plans and not renews:
        limits, _spent = await deps.accounts.budget(user_id)
        if not limits.has_budget:
            lines.append(_(NO_BUDGET))
        else:
            lines.append(
                _(
                    "Subscribe to get tokens every month, paid in Telegram Stars. They are "
                    "spent after your daily and monthly allowance and do not expire; cancel "
                    "the renewal any time here. Terms: /terms. Help: /paysupport."
                )
            )
            for stars, tokens in plans:
                link = await _plan_link(bot, user_id, stars, tokens)
                rows.append([InlineKeyboardButton(text=plan_label(stars, tokens), url=link)])
    markup = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer("\n\n".join(lines), reply_markup=markup)

    await answer_privately(message, user_id, bot, deliver)


async def _set_renewal(
    bot: Bot, deps: Deps, subscription: SubscriptionRecord, *, renews: bool
) -> str:
    """Tell Telegram to stop (or resume) renewing, then record it; what the user is told."""
    try:
        await bot.edit_user_star_subscription(
            user_id=subscription.user_id,
            telegram_payment_charge_id=subscription.first_charge_id,
            is_canceled=not renews,
        )
    except TelegramBadRequest as exc:
        log.warning("editUserStarSubscription refused for user_id=%s", subscription.user_id)
        return _("Telegram refused to change the subscription: {reason}").format(reason=exc.message)
    done = await deps.subscriptions.set_renewal(
        subscription.user_id, subscription.id, renews=renews
    )
    if done is None:
        return texts.BUTTON_EXPIRED
    when = day(done.expires_at)
    if renews:
        return _("🔁 Your subscription renews again on {date}.").format(date=when)
    return _(
        "⏹ Your subscription was cancelled: it ends on {date}, and the tokens you have stay."
    ).format(date=when)


async def renewal(
    callback: CallbackQuery, callback_data: RenewalCallback, bot: Bot, deps: Deps
) -> None:
    """A Cancel or Resume button."""
    if callback.from_user.id != callback_data.user_id:
        await callback.answer(texts.BUTTON_NOT_YOURS, show_alert=True)
        return
    found = await deps.subscriptions.subscription(callback_data.subscription_id)
    if (
        found is None
        or found.user_id != callback_data.user_id
        or found.state(utc_now()) == "expired"
    ):
        await callback.answer(texts.BUTTON_EXPIRED, show_alert=True)
        return
    reply = await _set_renewal(bot, deps, found, renews=callback_data.renew)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(reply)
    else:
        await bot.send_message(callback.from_user.id, reply)


async def pre_checkout(query: PreCheckoutQuery, bot: Bot, deps: Deps) -> None:
    """Telegram asks before the first period's Stars are taken: yes only for a plan still
    offered, at its price, for the user the link was made for, who may use the bot
    (renewals are charged by Telegram without asking)."""
    user = query.from_user
    plan = parse_purchase(query.invoice_payload)
    reason: str | None = None
    if plan is None or not plan.plan or query.currency != STARS:
        reason = _("This invoice is not one of mine.")
    elif plan.user_id != user.id:
        reason = _("This link was made for someone else: send /subscribe for your own.")
    elif not plan.is_offered(deps.settings) or query.total_amount != plan.stars:
        reason = _("This offer has changed: send /subscribe for the current plans.")
    elif not deps.settings.is_allowed(user.id) or (
        (await deps.accounts.standing(user.id)).is_blocked and not deps.settings.is_admin(user.id)
    ):
        reason = _("You can't use this bot, so you can't subscribe to it.")
    elif not (await deps.accounts.budget(user.id))[0].has_budget:
        reason = _(NO_BUDGET)
    if reason is not None:
        log.info("subscription pre-checkout of user_id=%s refused", user.id)
        await bot.answer_pre_checkout_query(query.id, ok=False, error_message=reason)
        return
    await bot.answer_pre_checkout_query(query.id, ok=True)


def make_router() -> Router:
    """A fresh Router (before the payments router: it takes the plans' pre-checkouts)."""
    router = Router(name=__name__)
    router.message.register(subscribe, Command("subscribe"), F.from_user.id.as_("user_id"))
    router.callback_query.register(renewal, RenewalCallback.filter())
    router.pre_checkout_query.register(pre_checkout, F.invoice_payload.startswith("plan:"))
    return router

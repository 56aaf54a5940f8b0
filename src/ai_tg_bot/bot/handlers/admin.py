"""Operator commands: /setlimit, /user, /stats, /block, /unblock (ADMIN_USER_IDS only)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.budgets import render_budget, render_cost
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import say_privately, tell_operator
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import N_, _, moment, money, number
from ai_tg_bot.limits import LIMIT_BY_NAME, LIMIT_NAMES, LimitName
from ai_tg_bot.storage import AccountsStore, PaymentRecord, utc_now

ADMIN_COMMANDS = ("setlimit", "user", "stats", "block", "unblock", "refund")
_USAGE = {
    "setlimit": N_("Usage: /setlimit <user_id> <{names}> <n|default>"),
    "user": N_("Usage: /user <user_id>"),
    "block": N_("Usage: /block <user_id>"),
    "unblock": N_("Usage: /unblock <user_id>"),
}


def usage(command: str) -> str:
    """How to call an admin command, in the admin's language."""
    return _(_USAGE[command]).format(names="|".join(LIMIT_NAMES))


def out_of_bounds(name: LimitName) -> str:
    """A /setlimit value outside the limit's bounds."""
    limit = LIMIT_BY_NAME[name]
    if limit.minimum == 0:
        return _("The {name} limit must be 0 (unlimited) or a positive number.").format(name=name)
    return _("The {name} limit must be between {minimum} and {maximum}.").format(
        name=name, minimum=limit.minimum, maximum=limit.maximum
    )


def parse_user_id(raw: str) -> int | None:
    """A Telegram user id, or None when `raw` is not one."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None


async def set_limit(message: Message, command: CommandObject, bot: Bot, deps: Deps) -> None:
    """`/setlimit <user_id> <limit name> <n|default>` (names: limits.LIMITS)."""
    parts = (command.args or "").split()
    user_id = parse_user_id(parts[0]) if len(parts) == 3 else None
    raw = parts[2].lower() if len(parts) == 3 else ""
    if user_id is None or parts[1] not in LIMIT_NAMES or not (raw.isdigit() or raw == "default"):
        await tell_operator(message, bot, usage("setlimit"))
        return
    limit_name: LimitName = parts[1]
    value = None if raw == "default" else int(raw)
    try:
        await deps.accounts.set_limit(user_id, limit_name, value)
    except ValueError:
        await tell_operator(message, bot, out_of_bounds(limit_name) + " " + usage("setlimit"))
        return
    if value is None:
        done = _("The {name} limit of user {user_id} is now the default.")
    else:
        done = _("The {name} limit of user {user_id} is now {value}.")
    await tell_operator(
        message, bot, done.format(name=limit_name, user_id=user_id, value=number(value or 0))
    )


async def show_user(message: Message, command: CommandObject, bot: Bot, deps: Deps) -> None:
    """`/user <user_id>`: settings, usage, budget, cost and payments (to the admin's
    private chat)."""
    user_id = parse_user_id(command.args or "")
    if user_id is None:
        await message.answer(usage("user"))
        return
    profile = await deps.accounts.profile(user_id)
    if profile is None:
        await message.answer(
            _("User {user_id} has never written to the bot.").format(user_id=user_id)
        )
        return
    custom = ", ".join(f"{k}={v}" for k, v in profile.custom.items()) or _("none (all defaults)")
    totals = profile.usage
    who = _("👤 User {user_id} (blocked)") if profile.is_blocked else _("👤 User {user_id}")
    await say_privately(
        message,
        _asker(message),
        bot,
        "\n".join(
            [
                who.format(user_id=user_id),
                _("First seen: {when}").format(when=moment(profile.created_at)),
                texts.render_limits(profile.limits, totals.messages_today),
                _("Own settings: {custom}").format(custom=custom),
                _("Messages: {total} in total").format(total=number(totals.messages_total)),
                _("Tokens: {today} today, {total} in total").format(
                    today=number(totals.tokens_today), total=number(totals.tokens_total)
                ),
                *await money_lines(deps.accounts, deps.settings, user_id),
                *payment_lines(await deps.payments.payments_of(user_id)),
            ]
        ),
    )


async def stats(message: Message, bot: Bot, deps: Deps) -> None:
    """`/stats`: users, active today, messages and tokens today (privately)."""
    bot_stats = await deps.accounts.stats()
    totals = bot_stats.usage
    await say_privately(
        message,
        _asker(message),
        bot,
        "\n".join(
            [
                _("📈 Bot statistics (UTC day)"),
                _("Users: {count} ({blocked} blocked)").format(
                    count=number(bot_stats.users), blocked=number(bot_stats.blocked)
                ),
                _("Active today: {count}").format(count=number(bot_stats.active_today)),
                _("Messages today: {today} ({total} in total)").format(
                    today=number(totals.messages_today), total=number(totals.messages_total)
                ),
                _("Tokens today: {today} ({total} in total)").format(
                    today=number(totals.tokens_today), total=number(totals.tokens_total)
                ),
                *await cost_lines(deps.accounts, deps.settings, None),
            ]
        ),
    )


async def cost_lines(accounts: AccountsStore, settings: Settings, user_id: int | None) -> list[str]:
    """What the tokens cost at MODEL_PRICES, today and in total (nothing without prices)."""
    if not settings.model_prices:
        return []
    today = render_cost(await accounts.tokens_by_model(user_id, today=True), settings.model_prices)
    total = render_cost(await accounts.tokens_by_model(user_id), settings.model_prices)
    if total is None:
        return []
    return [_("Cost: {today} today, {total} in total").format(today=today or money(0), total=total)]


async def money_lines(accounts: AccountsStore, settings: Settings, user_id: int) -> list[str]:
    """A user's token budget, bought credit and cost."""
    own, spent = await accounts.budget(user_id)
    budget = render_budget(own, spent, utc_now(), can_buy=False, show_credit=True)
    return [budget, *await cost_lines(accounts, settings, user_id)]


def payment_lines(payments: list[PaymentRecord]) -> list[str]:
    """A user's recent payments, newest first, with their charge ids (for /refund)."""
    if not payments:
        return []
    lines = [_("Payments (newest first):")]
    for payment in payments:
        line = _("{when}: {stars} ⭐ for {tokens} tokens, charge {charge}").format(
            when=moment(payment.created_at),
            stars=number(payment.stars),
            tokens=number(payment.tokens),
            charge=payment.charge_id,
        )
        if payment.refunded_at is not None:
            line += " " + _("(refunded {when})").format(when=moment(payment.refunded_at))
        lines.append("• " + line)
    return lines


def _asker(message: Message) -> int:
    """The admin who asked (admin commands only pass the access check with a sender)."""
    return message.from_user.id if message.from_user else message.chat.id


async def block(message: Message, command: CommandObject, bot: Bot, deps: Deps) -> None:
    """`/block <user_id>` and `/unblock <user_id>`."""
    user_id = parse_user_id(command.args or "")
    blocking = command.command.lower() == "block"
    if user_id is None:
        await tell_operator(message, bot, usage("block" if blocking else "unblock"))
        return
    await deps.accounts.set_blocked(user_id, blocking)
    done = _("User {user_id} is blocked.") if blocking else _("User {user_id} is unblocked.")
    await tell_operator(message, bot, done.format(user_id=user_id))


async def refuse(message: Message) -> None:
    """Anyone but an admin: a clear refusal, nothing changes."""
    await message.answer(texts.ADMIN_ONLY)


def make_router(settings: Settings) -> Router:
    """A fresh Router; the admin filter reads ADMIN_USER_IDS from Settings."""
    router = Router(name=__name__)
    is_admin = F.from_user.id.in_(set(settings.admin_user_ids))
    router.message.register(set_limit, Command("setlimit"), is_admin)
    router.message.register(show_user, Command("user"), is_admin)
    router.message.register(stats, Command("stats"), is_admin)
    router.message.register(block, Command("block", "unblock"), is_admin)
    router.message.register(refuse, Command(*ADMIN_COMMANDS))
    return router

"""Operator commands: /setlimit, /user, /stats, /block, /unblock (ADMIN_USER_IDS only)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.private import say_privately
from ai_tg_bot.config import Settings
from ai_tg_bot.limits import LIMIT_NAMES, LimitName
from ai_tg_bot.storage.accounts import Accounts

ADMIN_COMMANDS = ("setlimit", "user", "stats", "block", "unblock")
USAGE = {
    "setlimit": f"Usage: /setlimit <user_id> <{'|'.join(LIMIT_NAMES)}> <n|default>",
    "user": "Usage: /user <user_id>",
    "block": "Usage: /block <user_id>",
    "unblock": "Usage: /unblock <user_id>",
}


def parse_user_id(raw: str) -> int | None:
    """A Telegram user id, or None when `raw` is not one."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None


async def set_limit(message: Message, command: CommandObject, accounts: Accounts) -> None:
    """`/setlimit <user_id> <limit name> <n|default>` (names: limits.LIMITS)."""
    parts = (command.args or "").split()
    user_id = parse_user_id(parts[0]) if len(parts) == 3 else None
    raw = parts[2].lower() if len(parts) == 3 else ""
    if user_id is None or parts[1] not in LIMIT_NAMES or not (raw.isdigit() or raw == "default"):
        await message.answer(USAGE["setlimit"])
        return
    limit_name: LimitName = parts[1]
    value = None if raw == "default" else int(raw)
    try:
        await accounts.set_limit(user_id, limit_name, value)
    except ValueError as exc:
        await message.answer(f"{str(exc).capitalize()}. {USAGE['setlimit']}")
        return
    shown = "the default" if value is None else f"{value:,}"
    await message.answer(f"The {limit_name} limit of user {user_id} is now {shown}.")


async def show_user(message: Message, command: CommandObject, accounts: Accounts, bot: Bot) -> None:
    """`/user <user_id>`: settings and usage (to the admin's private chat)."""
    user_id = parse_user_id(command.args or "")
    if user_id is None:
        await message.answer(USAGE["user"])
        return
    profile = await accounts.profile(user_id)
    if profile is None:
        await message.answer(f"User {user_id} has never written to the bot.")
        return
    custom = ", ".join(f"{k}={v}" for k, v in profile.custom.items()) or "none (all defaults)"
    usage = profile.usage
    await say_privately(
        message,
        _asker(message),
        bot,
        "\n".join(
            [
                f"👤 User {user_id}{' (blocked)' if profile.is_blocked else ''}",
                f"First seen: {profile.created_at:%Y-%m-%d %H:%M} UTC",
                texts.render_limits(profile.limits, usage.messages_today),
                f"Own settings: {custom}",
                f"Messages: {usage.messages_total:,} in total",
                f"Tokens: {usage.tokens_today:,} today, {usage.tokens_total:,} in total",
            ]
        ),
    )


async def stats(message: Message, accounts: Accounts, bot: Bot) -> None:
    """`/stats`: users, active today, messages and tokens today (privately)."""
    bot_stats = await accounts.stats()
    usage = bot_stats.usage
    await say_privately(
        message,
        _asker(message),
        bot,
        "\n".join(
            [
                "📈 Bot statistics (UTC day)",
                f"Users: {bot_stats.users:,} ({bot_stats.blocked:,} blocked)",
                f"Active today: {bot_stats.active_today:,}",
                f"Messages today: {usage.messages_today:,} ({usage.messages_total:,} in total)",
                f"Tokens today: {usage.tokens_today:,} ({usage.tokens_total:,} in total)",
            ]
        ),
    )


def _asker(message: Message) -> int:
    """The admin who asked (admin commands only pass the access check with a sender)."""
    return message.from_user.id if message.from_user else message.chat.id


async def block(message: Message, command: CommandObject, accounts: Accounts) -> None:
    """`/block <user_id>` and `/unblock <user_id>`."""
    user_id = parse_user_id(command.args or "")
    blocking = command.command.lower() == "block"
    if user_id is None:
        await message.answer(USAGE["block" if blocking else "unblock"])
        return
    await accounts.set_blocked(user_id, blocking)
    await message.answer(f"User {user_id} is {'blocked' if blocking else 'unblocked'}.")


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

"""/role: show, set or restore the system prompt.

The prompt is shown only in the private chat. Setting or restoring it from a group is
confirmed there, without echoing the prompt (the user typed it there themselves).
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.private import PrivateChat, answer_privately
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import _
from ai_tg_bot.storage.accounts import Accounts
from ai_tg_bot.storage.records import without_nul

PREVIEW_CHARS = 3000


async def role(
    message: Message,
    user_id: int,
    command: CommandObject,
    accounts: Accounts,
    settings: Settings,
    bot: Bot,
) -> None:
    """`/role` shows the prompt; `/role <text>` sets it; `/role default` restores it."""
    args = without_nul(command.args or "").strip()
    if not args:
        prompt = await accounts.system_prompt(user_id)
        shown = prompt if len(prompt) <= PREVIEW_CHARS else prompt[:PREVIEW_CHARS] + " …"

        async def deliver(chat: PrivateChat) -> None:
            await chat.answer(
                _(
                    "My current role:\n\n{role}\n\n"
                    "Change it with /role <text> (this starts a new dialogue), "
                    "or restore the default with /role default."
                ).format(role=shown)
            )

        await answer_privately(message, user_id, bot, deliver)
        return
    if args.lower() == "default":
        await accounts.set_system_prompt(user_id, None)
        await message.answer(_("Role restored to the default. Our dialogue starts afresh."))
        return
    if len(args) > settings.system_prompt_max_chars:
        await message.answer(texts.role_too_long(len(args), settings.system_prompt_max_chars))
        return
    await accounts.set_system_prompt(user_id, args)
    await message.answer(_("Role set. Our dialogue starts afresh with it."))


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(role, Command("role"), F.from_user.id.as_("user_id"))
    return router

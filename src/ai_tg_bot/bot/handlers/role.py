"""/role: show, set or restore the system prompt of the current conversation.

Each conversation has its own role (ADR 0014); new conversations start with the user's
default (`user_settings.system_prompt`, else DEFAULT_SYSTEM_PROMPT). The prompt is shown
only in the private chat. Setting or restoring it from a group is confirmed there,
without echoing the prompt (the user typed it there themselves).
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.asking import asking, is_group
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.group_admins import GroupAdmins
from ai_tg_bot.bot.private import PrivateChat, answer_privately, topic_of
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import _
from ai_tg_bot.storage import DialogueStore, without_nul

PREVIEW_CHARS = 3000


async def role(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/role` shows the conversation's prompt; `/role <text>` sets it; `/role default`
    goes back to the user's default. In a group: the group's conversation's prompt, set
    by its administrators only."""
    args = without_nul(command.args or "").strip()
    if is_group(message):
        await group_role(
            message, user_id, args, deps.storage, deps.settings, bot, deps.group_admins
        )
        return
    topic = topic_of(message)
    if not args:
        prompt = await deps.storage.conversation_role(user_id, topic)
        shown = prompt if len(prompt) <= PREVIEW_CHARS else prompt[:PREVIEW_CHARS] + " …"

        async def deliver(chat: PrivateChat) -> None:
            await chat.answer(
                _(
                    "My current role in this conversation:\n\n{role}\n\n"
                    "Change it with /role <text> (this conversation starts afresh), "
                    "or restore the default with /role default. New conversations "
                    "start with the default role."
                ).format(role=shown)
            )

        await answer_privately(message, user_id, bot, deliver)
        return
    if args.lower() == "default":
        await deps.storage.set_conversation_role(user_id, None, topic)
        await message.answer(_("Role restored to the default. This conversation starts afresh."))
        return
    if len(args) > deps.settings.system_prompt_max_chars:
        await message.answer(texts.role_too_long(len(args), deps.settings.system_prompt_max_chars))
        return
    await deps.storage.set_conversation_role(user_id, args, topic)
    await message.answer(
        _("Role set for this conversation. It starts afresh with it; /new ones use the default.")
    )


async def group_role(
    message: Message,
    user_id: int,
    args: str,
    store: DialogueStore,
    settings: Settings,
    bot: Bot,
    group_admins: GroupAdmins,
) -> None:
    """/role in a group: the group's shared conversation's prompt (the forum topic's).
    Shown to the group (it is the group's, not a member's); changed by its admins."""
    where = asking(message, user_id)
    if not args:
        prompt = await store.conversation_role(where.owner_id, where.thread_id)
        shown = prompt if len(prompt) <= PREVIEW_CHARS else prompt[:PREVIEW_CHARS] + " …"
        await message.answer(_("My role in this group:\n\n{role}").format(role=shown))
        return
    if not await group_admins.is_admin(bot, message.chat.id, user_id):
        await message.answer(texts.GROUP_ADMINS_ONLY)
        return
    if len(args) > settings.system_prompt_max_chars:
        await message.answer(texts.role_too_long(len(args), settings.system_prompt_max_chars))
        return
    chosen = None if args.lower() == "default" else args
    await store.set_conversation_role(where.owner_id, chosen, where.thread_id)
    await message.answer(
        _("Role set for this group's conversation; it starts afresh with it.")
        if chosen
        else _("This group's role is back to the default; its conversation starts afresh.")
    )


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(role, Command("role"), F.from_user.id.as_("user_id"))
    return router

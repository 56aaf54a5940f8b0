"""/start (with a deep link's payload) and /help.

`t.me/<bot>?start=role_<name>` opens the chat with /start role_<name>: a conversation
with that ROLE_PRESETS role begins (the one before it is kept, as with /new), so a role
can be shared as a link.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.filters.command import Command
from aiogram.types import Message

from ai_tg_bot.bot import menus
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import topic_of
from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import _
from ai_tg_bot.storage import DialogueStore

ROLE_LINK = "role_"


async def start(message: Message, user_id: int, command: CommandObject, deps: Deps) -> None:
    """Register the user and greet them; a role link starts a conversation with its role."""
    await deps.storage.ensure_user(user_id)
    payload = (command.args or "").strip()
    if payload.startswith(ROLE_LINK):
        await _start_with_role(
            message, user_id, payload.removeprefix(ROLE_LINK), deps.storage, deps.settings
        )
        return
    await message.answer(menus.greeting(menus.Offered.by(deps.settings)))


async def _start_with_role(
    message: Message, user_id: int, name: str, store: DialogueStore, settings: Settings
) -> None:
    prompt = settings.role_presets.get(name)
    if prompt is None:
        await message.answer(
            _("This link's role “{name}” is not offered here (any more).").format(name=name[:59])
            + "\n\n"
            + menus.greeting(menus.Offered.by(settings))
        )
        return
    topic = topic_of(message)
    if topic is None:
        await store.start_conversation(user_id)  # the current one is kept, as with /new
    await store.set_conversation_role(user_id, prompt, topic)
    await message.answer(
        _("A new conversation with the role “{name}”: {prompt}\n\nWrite to begin.").format(
            name=name, prompt=prompt if len(prompt) <= 300 else prompt[:300] + " …"
        )
    )


async def help_(message: Message, deps: Deps) -> None:
    """List every command."""
    await message.answer(menus.help_text(menus.Offered.by(deps.settings)))


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(start, CommandStart(), F.from_user.id.as_("user_id"))
    router.message.register(help_, Command("help"))
    return router

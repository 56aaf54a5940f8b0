"""/voice on|off: the user's answers also spoken, as voice messages (bot.speaking).

The choice is the user's own (`user_settings.voice_replies`, cleared by /forget), so it
is shown and confirmed in their private chat, where the voice messages come too.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import say_privately
from ai_tg_bot.i18n import _

_ON = frozenset({"on", "yes", "1", "true"})
_OFF = frozenset({"off", "no", "0", "false"})


async def voice(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/voice` shows the choice; `/voice on` and `/voice off` change it."""
    if deps.settings.tts_model is None:
        await message.answer(_("🔇 Spoken answers are not available here."))
        return
    wanted = (command.args or "").strip().lower()
    if wanted in _ON:
        await deps.accounts.set_voice_replies(user_id, True)
        reply = _(
            "🔊 Spoken answers on: each answer also comes as a voice message here. "
            "/voice off stops them."
        )
    elif wanted in _OFF:
        await deps.accounts.set_voice_replies(user_id, False)
        reply = _("🔇 Spoken answers off. /voice on brings them back.")
    elif wanted:
        reply = _("Usage: /voice on, /voice off (or /voice to see which it is).")
    elif await deps.outputs.voice_replies(user_id):
        reply = _(
            "🔊 Spoken answers are on: each answer also comes as a voice message. "
            "/voice off stops them."
        )
    else:
        reply = _(
            "🔇 Spoken answers are off. /voice on: each answer also comes as a voice "
            "message (in this private chat)."
        )
    await say_privately(message, user_id, bot, reply)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(voice, Command("voice"), F.from_user.id.as_("user_id"))
    return router

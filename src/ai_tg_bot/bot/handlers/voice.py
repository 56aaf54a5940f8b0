"""/voice on|auto|off: the user's answers also spoken, as voice messages (bot.speaking):
every answer (on), or the answers to their voice messages (auto).

The choice is the user's own (`user_settings.voice_replies` and `voice_auto`, cleared by
/forget), so it is shown and confirmed in their private chat, where the voice messages
come too.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import say_privately
from ai_tg_bot.i18n import _

# The words /voice and /memory take for on and off.
ON_WORDS = frozenset({"on", "yes", "1", "true"})
OFF_WORDS = frozenset({"off", "no", "0", "false"})
_AUTO = frozenset({"auto"})


async def voice(
    message: Message, user_id: int, command: CommandObject, bot: Bot, deps: Deps
) -> None:
    """`/voice` shows the choice; `/voice on`, `/voice auto` and `/voice off` change it."""
    if deps.settings.tts_model is None:
        await message.answer(_("🔇 Spoken answers are not available here."))
        return
    wanted = (command.args or "").strip().lower()
    if wanted in ON_WORDS:
        await deps.accounts.set_voice_mode(user_id, "on")
        reply = _(
            "🔊 Spoken answers on: each answer also comes as a voice message here. "
            "/voice off stops them."
        )
    elif wanted in _AUTO:
        await deps.accounts.set_voice_mode(user_id, "auto")
        reply = _(
            "🔊 Spoken answers auto: the answers to your voice messages also come as "
            "voice messages here; answers to texts stay text. /voice off stops them."
        )
    elif wanted in OFF_WORDS:
        await deps.accounts.set_voice_mode(user_id, "off")
        reply = _("🔇 Spoken answers off. /voice on or /voice auto turns them back on.")
    elif wanted:
        reply = _("Usage: /voice on, /voice auto, /voice off (or /voice to see which it is).")
    else:
        reply = await _state(deps, user_id)
    await say_privately(message, user_id, bot, reply)


async def _state(deps: Deps, user_id: int) -> str:
    """Which of the three is in force, in one read."""
    mode = await deps.outputs.voice_mode(user_id)
    if mode == "on":
        return _(
            "🔊 Spoken answers are on: each answer also comes as a voice message. "
            "/voice off stops them."
        )
    if mode == "auto":
        return _(
            "🔊 Spoken answers are auto: the answers to your voice messages also come "
            "as voice messages. /voice off stops them."
        )
    return _(
        "🔇 Spoken answers are off. /voice on: each answer also comes as a voice "
        "message (in this private chat); /voice auto: only the answers to your voice "
        "messages."
    )


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(voice, Command("voice"), F.from_user.id.as_("user_id"))
    return router

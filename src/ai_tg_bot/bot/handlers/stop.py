"""Stop an answer being written: Telegram's Stop button on a draft, or /stop.

Pressing Stop on a draft sends `stopped_message_generation` (the private chat and the
draft's id, which is the question's slot). Either way the model's stream is cancelled at
once (its HTTP stream closed, so the provider stops generating), what had arrived is
sent and stored as the answer, marked stopped, and the user's next question is answered.
The instance that gets the stop need not be the one writing the answer (turns.stops).
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message, MessageGenerationStopped

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.asking import asking
from ai_tg_bot.bot.deps import Deps

log = logging.getLogger(__name__)


async def stop_button(event: MessageGenerationStopped, deps: Deps) -> None:
    """The Stop button of a draft: only a private chat has drafts, its id is the user's."""
    stopped = await deps.turns.stops.stop(event.chat.id, event.draft_id)
    log.info("stop button user_id=%s draft=%s stopped=%s", event.chat.id, event.draft_id, stopped)


async def stop_command(message: Message, user_id: int, deps: Deps) -> None:
    """`/stop`: the same, wherever the answer streams (groups stream with edits; in a
    group, the answer being written in the group's conversation)."""
    if not await deps.turns.stops.stop(asking(message, user_id).owner_id):
        await message.answer(texts.NOTHING_TO_STOP)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.stopped_message_generation.register(stop_button)
    router.message.register(stop_command, Command("stop"), F.from_user.id.as_("user_id"))
    return router

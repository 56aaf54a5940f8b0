"""The buttons under an answer in a private chat (bot.answer_buttons).

🔄 Regenerate does exactly what /retry does (bot.handlers.history: counted like a
message, the same refusal over a limit); a suggested question (FOLLOWUPS=on) is asked as
if typed (bot.handlers.text: a turn, counted). Either acts only for the user it was made
for, and only while its answer is the newest of its conversation: else the press
answers "expired" and asks nothing. The pressed buttons go at once (the new answer
brings its own). The question goes in with the answer message's id as its Telegram
message, so a press delivered twice (a webhook retry) asks once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.answer_buttons import FollowupCallback, RegenerateCallback, drop_keyboard
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.handlers.history import retry
from ai_tg_bot.bot.handlers.text import turn
from ai_tg_bot.bot.private import topic_of

log = logging.getLogger(__name__)


async def regenerate(
    callback: CallbackQuery,
    callback_data: RegenerateCallback,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """Answer the newest answer's question again, as /retry does."""
    pressed = await _pressed(callback, callback_data.user_id, callback_data.seq, bot, deps)
    if pressed is not None:
        message, _ = pressed
        log.info("regenerate user_id=%s seq=%s", callback_data.user_id, callback_data.seq)
        await retry(message, callback_data.user_id, bot, deps, on_stored)


async def follow_up(
    callback: CallbackQuery,
    callback_data: FollowupCallback,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """Ask the suggested question, as if the user had typed it (shown first, as theirs)."""
    user_id, index = callback_data.user_id, callback_data.index
    pressed = await _pressed(callback, user_id, callback_data.seq, bot, deps, index)
    if pressed is None:
        return
    message, question = pressed
    assert question is not None
    await bot.send_message(message.chat.id, f"💬 {question}", message_thread_id=topic_of(message))
    log.info("follow-up user_id=%s seq=%s index=%s", user_id, callback_data.seq, index)
    await turn(message, user_id, question, bot, deps, on_stored)


async def _pressed(
    callback: CallbackQuery,
    user_id: int,
    seq: int,
    bot: Bot,
    deps: Deps,
    index: int | None = None,
) -> tuple[Message, str | None] | None:
    """The answer's message (and its suggested question `index`), while the press is its
    user's and the answer the newest of its conversation; None when the press was
    refused (and answered so). An accepted press is answered and its buttons go."""
    if callback.from_user.id != user_id:
        await callback.answer(texts.BUTTON_NOT_YOURS, show_alert=True)
        return None
    message = callback.message
    if not isinstance(message, Message):  # too old for Telegram to show it to the bot
        await callback.answer(texts.BUTTON_EXPIRED, show_alert=True)
        return None
    thread_id = topic_of(message)
    newest = await deps.storage.newest_answer(user_id, thread_id)
    current = newest is not None and newest.seq == seq
    question = None
    if current and newest is not None and index is not None:
        question = newest.followups[index] if index < len(newest.followups) else None
        current = question is not None
    await callback.answer(None if current else texts.BUTTON_EXPIRED, show_alert=not current)
    # Pressed (or stale): these buttons are done with either way.
    await drop_keyboard(bot, message.chat.id, message.message_id)
    return (message, question) if current else None


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.callback_query.register(regenerate, RegenerateCallback.filter())
    router.callback_query.register(follow_up, FollowupCallback.filter())
    return router

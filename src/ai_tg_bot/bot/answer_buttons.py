"""The buttons under an answer in a private chat (issue 33).

🔄 Regenerate asks the question again, exactly as /retry does (counted the same way);
with FOLLOWUPS=on, up to three questions the model suggested (turns.followups) each ask
theirs, as if typed. They sit on the final answer's last message (the rich message, or
the last entity message), only of a complete answer: a stopped, cut or failed one has
its own line naming /retry. A button's data names the user, the answer's slot and, for
a question, its index (the question itself is stored on the answer). Only the newest
answer of its conversation has working buttons: a press checks that in the database
(bot.handlers.answers) and takes the pressed buttons away; an older answer's stay shown
until pressed, then say they expired.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Annotated

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.middlewares.retry import best_effort
from ai_tg_bot.i18n import _
from ai_tg_bot.turns import MAX_FOLLOWUPS

log = logging.getLogger(__name__)


class RegenerateCallback(CallbackData, prefix="regen"):
    """`regen:<user_id>:<seq>`: answer the question of answer `seq` again."""

    user_id: PositiveId
    seq: PositiveId


class FollowupCallback(CallbackData, prefix="ask"):
    """`ask:<user_id>:<seq>:<index>`: ask the answer's suggested question `index`."""

    user_id: PositiveId
    seq: PositiveId
    index: Annotated[int, Field(ge=0, lt=MAX_FOLLOWUPS)]


def answer_keyboard(user_id: int, seq: int, questions: Sequence[str] = ()) -> InlineKeyboardMarkup:
    """The suggested questions, one a row, then Regenerate."""
    rows = [
        [
            InlineKeyboardButton(
                text=question,
                callback_data=FollowupCallback(user_id=user_id, seq=seq, index=index).pack(),
            )
        ]
        for index, question in enumerate(questions[:MAX_FOLLOWUPS])
    ]
    regenerate = RegenerateCallback(user_id=user_id, seq=seq).pack()
    rows.append([InlineKeyboardButton(text=_("🔄 Regenerate"), callback_data=regenerate)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def drop_keyboard(bot: Bot, chat_id: int, message_id: int) -> None:
    """Take a message's buttons away (best effort: flood control or a deleted message
    leave them; a press still finds them expired)."""
    with best_effort(), contextlib.suppress(TelegramAPIError):
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)


class AnswerButtons:
    """One answer's buttons in a private chat: a view's `buttons` (turns.views.Suggestions).

    `seq` is the answer's slot (its question's plus one); `followups` whether FOLLOWUPS'
    questions are wanted (a setting). The view puts `keyboard()` on the answer's last
    message and reports it (`shown`); suggested questions are added to it (`suggest`)."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        seq: int,
        *,
        followups: bool,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id  # a private chat's id is its user's
        self.seq = seq
        self.followups = followups
        self.message_id: int | None = None  # the message carrying them, once sent

    def keyboard(self) -> InlineKeyboardMarkup:
        """Regenerate alone (the questions come later, if at all)."""
        return answer_keyboard(self.chat_id, self.seq)

    async def shown(self, message_id: int) -> None:
        """The buttons are on `message_id` now. An older answer's are left as they are
        (taking them away would cost every answer a Telegram call): pressed, they say
        they expired."""
        self.message_id = message_id

    async def suggest(self, questions: list[str]) -> None:
        """Add the suggested questions above Regenerate (best effort)."""
        if self.message_id is None or not questions:
            return
        markup = answer_keyboard(self.chat_id, self.seq, questions)
        try:
            with best_effort():
                await self.bot.edit_message_reply_markup(
                    chat_id=self.chat_id, message_id=self.message_id, reply_markup=markup
                )
        except TelegramAPIError as exc:
            log.info("follow-up buttons not shown in chat %s: %s", self.chat_id, exc)

"""/status: what the bot remembers and the user's settings."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.private import PrivateChat, answer_privately, topic_of
from ai_tg_bot.i18n import _, moment, number
from ai_tg_bot.storage import DialogInfo

PROMPT_PREVIEW_CHARS = 200


def _when(value: datetime | None) -> str:
    return moment(value) if value else "—"


def render_status(info: DialogInfo) -> str:
    """The /status text."""
    today = texts.used_today(info.messages_today, info.limits.daily_message_limit)
    prompt = info.system_prompt.replace("\n", " ")
    if len(prompt) > PROMPT_PREVIEW_CHARS:
        prompt = prompt[:PROMPT_PREVIEW_CHARS] + " …"
    role = _("Role (default): {prompt}") if info.is_default_prompt else _("Role: {prompt}")
    title = info.conversation_title or _("New conversation")
    return "\n".join(
        [
            _("📊 Status"),
            _("Messages in history: {count} of {limit}").format(
                count=number(info.active_count), limit=number(info.max_history_messages)
            ),
            _("Characters in history: {count}").format(count=number(info.total_characters)),
            _("First message: {when}").format(when=_when(info.first_message_at)),
            _("Last message: {when}").format(when=_when(info.last_message_at)),
            _("Older or cleared messages (not sent to the model): {count}").format(
                count=number(info.deleted_count)
            ),
            _("Messages today: {today}").format(today=today),
            _("Tokens used: {count}").format(count=number(info.total_tokens)),
            _("Model: {model}").format(model=info.limits.model),
            role.format(prompt=prompt),
            _("Conversation: {title} ({count} in all)").format(
                title=title, count=number(max(info.conversations, 1))
            ),
        ]
    )


async def status(message: Message, user_id: int, bot: Bot, deps: Deps) -> None:
    """Show the current conversation's size, times and role, and the model (privately)."""
    info = await deps.storage.get_dialog_info(user_id, topic_of(message))

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(render_status(info))

    await answer_privately(message, user_id, bot, deliver)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(status, Command("status"), F.from_user.id.as_("user_id"))
    return router

"""/status: what the bot remembers and the user's settings."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message

from ai_tg_bot.bot.private import PrivateChat, answer_privately
from ai_tg_bot.storage import DialogInfo, Storage

PROMPT_PREVIEW_CHARS = 200


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def render_status(info: DialogInfo) -> str:
    """The /status text."""
    daily = info.limits.daily_message_limit
    today = f"{info.messages_today:,}" + (f" of {daily:,}" if daily else "")
    prompt = info.system_prompt.replace("\n", " ")
    if len(prompt) > PROMPT_PREVIEW_CHARS:
        prompt = prompt[:PROMPT_PREVIEW_CHARS] + " …"
    return "\n".join(
        [
            "📊 Status",
            f"Messages in history: {info.active_count} of {info.max_history_messages}",
            f"Characters in history: {info.total_characters:,}",
            f"First message: {_when(info.first_message_at)}",
            f"Last message: {_when(info.last_message_at)}",
            f"Older or cleared messages (not sent to the model): {info.deleted_count}",
            f"Messages today: {today}",
            f"Tokens used: {info.total_tokens:,}",
            f"Model: {info.limits.model}",
            f"Role{' (default)' if info.is_default_prompt else ''}: {prompt}",
        ]
    )


async def status(message: Message, user_id: int, store: Storage, bot: Bot) -> None:
    """Show the dialogue's size, times, the role and the model (privately)."""
    info = await store.get_dialog_info(user_id)

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(render_status(info))

    await answer_privately(message, user_id, bot, deliver)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(status, Command("status"), F.from_user.id.as_("user_id"))
    return router

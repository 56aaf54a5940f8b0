"""/export and /forget: the user's data, taken away or erased (always in the private chat)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta
from typing import Literal

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
)

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.callback_ids import PositiveId
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.middlewares.retry import best_effort
from ai_tg_bot.bot.notices import tell_over_limit
from ai_tg_bot.bot.private import PrivateChat, answer_privately
from ai_tg_bot.i18n import _, ngettext, number
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.privacy import ExportFile, write_export
from ai_tg_bot.storage import STORAGE_ERRORS, ExportBusyError, utc_now

log = logging.getLogger(__name__)
# Bots may upload documents of up to 50 MB through the official Bot API server.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# A confirmation button pressed later than this asks for a fresh /forget.
FORGET_CONFIRM_WINDOW = timedelta(minutes=10)


class ForgetCallback(CallbackData, prefix="forget"):
    """`forget:<yes|no>:<user_id>`: only that user may press it."""

    action: Literal["yes", "no"]
    user_id: PositiveId


class SpooledInputFile(InputFile):
    """An export spilled to disk, uploaded in chunks instead of read into memory."""

    def __init__(self, file: ExportFile) -> None:
        super().__init__(filename=file.filename)
        self.file = file

    async def read(self, bot: Bot) -> AsyncGenerator[bytes, None]:
        self.file.content.seek(0)
        while chunk := self.file.content.read(self.chunk_size):
            yield chunk


def upload(file: ExportFile) -> InputFile:
    """Small exports (nearly all) go from memory; larger ones are streamed from disk."""
    if file.in_memory:
        return BufferedInputFile(file.content.read(), filename=file.filename)
    return SpooledInputFile(file)


async def export(
    message: Message,
    user_id: int,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """Send the user's history as Markdown and JSON documents, privately."""
    if on_stored is not None:
        # Nothing to store: acknowledge now (webhook mode), so a long upload is not taken
        # for a failure and the files sent twice. Losing the request costs a new /export.
        on_stored()

    async def deliver(chat: PrivateChat) -> None:
        with best_effort(), contextlib.suppress(TelegramAPIError):
            await bot.send_chat_action(chat.chat_id, ChatAction.UPLOAD_DOCUMENT)
        async with deps.privacy.export_history(user_id) as history:
            files = await write_export(history, utc_now())
        try:
            if files.empty:
                await chat.answer(texts.NOTHING_TO_EXPORT)
                return
            for file, what in ((files.markdown, "Markdown"), (files.json, "JSON")):
                if file.size > MAX_UPLOAD_BYTES:
                    await chat.answer(texts.export_too_large(what, file.size, MAX_UPLOAD_BYTES))
                    continue
                await chat.answer_document(
                    upload(file),
                    caption=ngettext(
                        "Your history as {format}: {count} message.",
                        "Your history as {format}: {count} messages.",
                        files.count,
                    ).format(format=what, count=number(files.count)),
                )
            log.info("export user_id=%s messages=%d", user_id, files.count)
        finally:
            files.close()

    try:
        # One export at a time per user, and counted by the per-minute guard: building
        # the files reads the whole history, so it is not free to repeat.
        async with deps.privacy.export_slot(user_id):
            await answer_privately(message, user_id, bot, deliver)
    except ExportBusyError:
        await message.answer(texts.EXPORT_RUNNING)
    except QuotaExceededError as exc:
        await tell_over_limit(message, user_id, bot, exc, deps.capabilities)


async def forget(message: Message, user_id: int, bot: Bot) -> None:
    """Ask, with buttons and in the private chat, before deleting everything."""
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("Yes, delete everything"),
                    callback_data=ForgetCallback(action="yes", user_id=user_id).pack(),
                )
            ],
            [
                InlineKeyboardButton(
                    text=_("Cancel"),
                    callback_data=ForgetCallback(action="no", user_id=user_id).pack(),
                )
            ],
        ]
    )

    async def deliver(chat: PrivateChat) -> None:
        await chat.answer(texts.FORGET_CONFIRM, reply_markup=keyboard)

    await answer_privately(message, user_id, bot, deliver)


async def confirm_forget(
    callback: CallbackQuery, callback_data: ForgetCallback, deps: Deps
) -> None:
    """A button of the /forget question: delete everything, or nothing."""
    shown = callback.message
    if callback.from_user.id != callback_data.user_id:
        await callback.answer(texts.FORGET_NOT_YOURS, show_alert=True)
        return
    if not isinstance(shown, Message) or utc_now() - shown.date > FORGET_CONFIRM_WINDOW:
        # Too old to act on: nobody should lose everything to a stray tap on an old message.
        await callback.answer(texts.FORGET_EXPIRED, show_alert=True)
        if isinstance(shown, Message):
            with contextlib.suppress(TelegramAPIError):
                await shown.edit_text(texts.FORGET_EXPIRED)
        return
    if callback_data.action == "no":
        await callback.answer()
        await shown.edit_text(texts.FORGET_CANCELLED)
        return
    try:
        deleted = await deps.privacy.forget_user(callback_data.user_id)
    except STORAGE_ERRORS:
        await callback.answer(texts.STORAGE_DOWN, show_alert=True)
        raise
    log.info("forget user_id=%s messages=%d", callback_data.user_id, deleted)
    await callback.answer()
    await shown.edit_text(texts.forgotten(deleted))


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(export, Command("export"), F.from_user.id.as_("user_id"))
    router.message.register(forget, Command("forget"), F.from_user.id.as_("user_id"))
    router.callback_query.register(confirm_forget, ForgetCallback.filter())
    return router

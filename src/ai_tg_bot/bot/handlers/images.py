"""/image <description>: a picture made by IMAGE_MODEL (/images/generations), sent as a photo.

Store first, then spend (ADR 0011): the image is reserved under the user's limits
before the image API is called (storage.outputs); a failed generation gives the
reservation back. The conversation keeps a text stand-in of the picture.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.notices import tell_over_limit
from ai_tg_bot.bot.private import topic_of
from ai_tg_bot.bot.speaking import KeepChatAction
from ai_tg_bot.i18n import _, ngettext, number
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.llm import GeneratedImage, LLMError, LLMErrorKind
from ai_tg_bot.media import PaidCall
from ai_tg_bot.observability import OUTPUTS
from ai_tg_bot.storage import (
    STORAGE_ERRORS,
    DuplicateMessageError,
    ImageMade,
    OutputsStore,
)

log = logging.getLogger(__name__)
# The longest description taken (DALL·E 3's limit; gpt-image models take more).
IMAGE_PROMPT_MAX_CHARS = 4000


async def image(
    message: Message,
    user_id: int,
    command: CommandObject,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """Make the picture the user described and send it, within their image limit."""
    model = deps.settings.image_model
    if model is None:
        await message.answer(_("🖼 Making pictures is not available here."))
        return
    prompt = (command.args or "").strip()
    if not prompt:
        await message.answer(_("Usage: /image <description>: I draw a picture of it."))
        return
    if len(prompt) > IMAGE_PROMPT_MAX_CHARS:
        text = ngettext(
            "✂️ That description is too long: {length} character, at most {limit}.",
            "✂️ That description is too long: {length} characters, at most {limit}.",
            len(prompt),
        )
        await message.answer(
            text.format(length=number(len(prompt)), limit=number(IMAGE_PROMPT_MAX_CHARS))
        )
        return
    try:
        reservation = await deps.outputs.reserve_image(user_id, message.chat.id, message.message_id)
    except QuotaExceededError as exc:
        log.info("image refused user_id=%s: %s limit", user_id, exc.kind)
        OUTPUTS.labels("image", "over_limit").inc()
        await tell_over_limit(message, user_id, bot, exc, deps.capabilities)
        return
    except DuplicateMessageError:
        log.info("duplicate /image ignored: user_id=%s", user_id)
        return
    if on_stored is not None:
        on_stored()  # reserved: the user's next messages need not wait for the picture
    thread_id = message.message_thread_id if message.is_topic_message else None
    paid = PaidCall(
        "image",
        finish=partial(_finish, deps.outputs, reservation, user_id),
        give_back=partial(_give_back, deps.outputs, reservation, user_id),
    )
    try:
        async with KeepChatAction(bot, message.chat.id, thread_id, ChatAction.UPLOAD_PHOTO):
            made = await paid.run(
                partial(deps.llm.generate_image, prompt, model=model, size=deps.settings.image_size)
            )
    except LLMError as exc:  # settled by PaidCall: a timeout counted, else given back
        log.warning(
            "image failed user_id=%s model=%s kind=%s status=%s error=%s",
            user_id, model, exc.kind.value, exc.status or "-", exc.error_type or "-",
        )  # fmt: skip
        if exc.kind is LLMErrorKind.TIMEOUT:
            text = _("⚠️ {reason} No picture arrived; the request was sent, so it counts.")
        else:
            text = _("⚠️ {reason} No picture was made, and it is not counted.")
        await message.answer(text.format(reason=exc.reason))
        return
    if not await _send(message, made, user_id):
        await paid.finish()  # made and paid for, so counted
        return
    paid.made()
    log.info("image made user_id=%s model=%s", user_id, model)
    stand_in = ImageMade(
        user_id,
        prompt,
        made.revised_prompt or prompt,
        model,
        telegram_chat_id=message.chat.id,
        telegram_message_id=message.message_id,
        telegram_thread_id=topic_of(message),
    )
    try:
        await deps.outputs.finish_image(reservation, stand_in)
    except DuplicateMessageError:
        log.info("duplicate /image stored once: user_id=%s", user_id)
        await _finish(deps.outputs, reservation, user_id)
    except STORAGE_ERRORS as exc:  # the picture was sent: only its stand-in is missing
        log.warning("image stand-in of user_id=%s not stored: %s", user_id, type(exc).__name__)
        await _finish(deps.outputs, reservation, user_id)


async def _send(message: Message, made: GeneratedImage, user_id: int) -> bool:
    """Send the picture as a photo; False (the user told) when Telegram refused it."""
    photo = BufferedInputFile(made.data, filename="image.png") if made.data else made.url
    assert photo is not None  # generate_image gives data or a URL
    try:
        await message.answer_photo(photo)
    except TelegramAPIError as exc:
        OUTPUTS.labels("image", "not_sent").inc()
        log.warning("image not sent user_id=%s: %s", user_id, type(exc).__name__)
        with contextlib.suppress(TelegramAPIError):
            await message.answer(_("⚠️ The picture was made but Telegram would not take it."))
        return False
    return True


async def _finish(outputs: OutputsStore, reservation: int, user_id: int) -> None:
    """Count the image made (its reservation finished), best effort: a database outage
    here leaves it unfinished, and it stops counting after STALE_AFTER."""
    try:
        await outputs.finish_image(reservation)
    except STORAGE_ERRORS as exc:
        log.warning("image of user_id=%s not counted: %s", user_id, type(exc).__name__)


async def _give_back(outputs: OutputsStore, reservation: int, user_id: int) -> None:
    try:
        await outputs.cancel_image(reservation)
    except STORAGE_ERRORS as exc:  # it stays counted: the safe side
        log.warning("image reservation of user_id=%s kept: %s", user_id, type(exc).__name__)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    router.message.register(image, Command("image"), F.from_user.id.as_("user_id"))
    return router

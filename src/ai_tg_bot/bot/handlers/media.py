"""Photos and voice messages: checked here, then one chat turn each (voice via its transcript)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiogram import Bot, F, Router
from aiogram.types import Document, Message, PhotoSize, Voice

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.handlers.text import turn
from ai_tg_bot.bot.private import say_privately
from ai_tg_bot.config import Settings
from ai_tg_bot.media import (
    IMAGE_MIME,
    MediaPolicy,
    image_attachment,
    voice_attachment,
)
from ai_tg_bot.storage import AccountsStore, Attachment

log = logging.getLogger(__name__)
# Pictures a vision model reads when sent as a file (OpenAI's image inputs).
IMAGE_FILE_MIMES = ("image/jpeg", "image/png", "image/webp", "image/gif")


def pick_photo(sizes: Sequence[PhotoSize], max_bytes: int) -> PhotoSize | None:
    """The largest rendition within `max_bytes`; None if even the smallest is over it.

    Telegram sends every photo in several sizes; a smaller one is as good to a vision
    model as an over-size original. A size Telegram did not state is capped at download.
    """
    fitting = [s for s in sizes if s.file_size is None or s.file_size <= max_bytes]
    return max(fitting, key=lambda s: s.width * s.height, default=None)


async def photo_turn(
    message: Message,
    user_id: int,
    sizes: list[PhotoSize],
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """A photo, captioned or not: refused for a model that cannot see, else one turn."""
    if not await sees(message, user_id, bot, deps.accounts, deps.media, deps.settings):
        return
    chosen = pick_photo(sizes, deps.settings.max_image_bytes)
    if chosen is None:
        log.info("photo refused user_id=%s: over MAX_IMAGE_BYTES", user_id)
        await message.answer(texts.image_too_large(deps.settings.max_image_bytes))
        return
    attachment = photo_attachment(chosen)
    caption = message.caption or ""
    await turn(
        message, user_id, caption, bot, deps, on_stored, kind="photo", attachments=[attachment]
    )


async def sees(
    message: Message,
    user_id: int,
    bot: Bot,
    accounts: AccountsStore,
    media: MediaPolicy,
    settings: Settings,
) -> bool:
    """Whether the user's model can see images; if not, they are told which can."""
    model = (await accounts.limits(user_id)).model
    if media.can_see_images(model):
        return True
    seeing = [m for m in settings.llm_models if media.can_see_images(m)]
    log.info("image refused user_id=%s: model %s cannot see images", user_id, model)
    await say_privately(message, user_id, bot, texts.no_vision(model, seeing))
    return False


async def image_file_turn(
    message: Message,
    user_id: int,
    document: Document,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """A picture sent as a file (uncompressed): a photo of one rendition, the file."""
    if not await sees(message, user_id, bot, deps.accounts, deps.media, deps.settings):
        return
    if document.file_size is not None and document.file_size > deps.settings.max_image_bytes:
        log.info("image file refused user_id=%s: over MAX_IMAGE_BYTES", user_id)
        await message.answer(texts.image_too_large(deps.settings.max_image_bytes))
        return
    await turn(
        message,
        user_id,
        message.caption or "",
        bot,
        deps,
        on_stored,
        kind="photo",
        attachments=[image_file_attachment(document)],
    )


def photo_attachment(chosen: PhotoSize) -> Attachment:
    """What is stored about a photo: the rendition chosen (`pick_photo`)."""
    return image_attachment(
        chosen.file_id, chosen.file_unique_id, chosen.file_size, chosen.width, chosen.height
    )


def image_file_attachment(document: Document) -> Attachment:
    """What is stored about a picture sent as a file: a photo of one rendition, with its
    type and name."""
    attachment = image_attachment(
        document.file_id, document.file_unique_id, document.file_size, 0, 0
    )
    return attachment | {"mime": document.mime_type or IMAGE_MIME, "file_name": document.file_name}


async def voice_turn(
    message: Message,
    user_id: int,
    voice: Voice,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """A voice message: stored and counted first, then transcribed and answered.

    Nothing is downloaded or transcribed before the question is stored under the
    user's limits: a user over a limit costs nothing. The turn that answers it fetches
    the audio, shows the transcript, and answers that (TurnService).
    """
    limit = deps.settings.max_voice_bytes
    if voice.file_size is not None and voice.file_size > limit:
        await message.answer(texts.voice_too_large(limit))
        return
    attachment = voice_attachment(
        voice.file_id, voice.file_unique_id, voice.file_size, voice.duration, voice.mime_type
    )
    await turn(message, user_id, "", bot, deps, on_stored, kind="voice", attachments=[attachment])


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    user = F.from_user.id.as_("user_id")
    router.message.register(photo_turn, F.photo.as_("sizes"), user)
    router.message.register(voice_turn, F.voice.as_("voice"), user)
    # A picture sent as a file; other files are documents (bot.handlers.documents).
    router.message.register(
        image_file_turn,
        F.document.mime_type.in_(IMAGE_FILE_MIMES),
        ~F.animation,
        F.document.as_("document"),
        user,
    )
    return router

"""Albums (media groups) of photos, pictures sent as files, and documents: one question.

Each part is stored as it comes and collected (bot.albums); once the album is complete,
`ask_album` makes one turn of it: every image an attachment, every document's text in
the question, the album's caption after them. The checks that cost nothing (a model
that cannot see, an image or a file too large, a file type the bot does not read) and
the limits before downloading documents refuse the album once, not once per part; the
turn is counted once (`turn`, the one gate for spending).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.types import Document, Message, PhotoSize

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.albums import Asker, Part
from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.handlers.documents import (
    ReadDocument,
    document_read,
    document_refusal,
    read_file,
    turn_with_notice,
    within_limits,
)
from ai_tg_bot.bot.handlers.media import (
    IMAGE_FILE_MIMES,
    image_file_attachment,
    photo_attachment,
    pick_photo,
    sees,
)
from ai_tg_bot.bot.handlers.text import turn
from ai_tg_bot.media import document_content
from ai_tg_bot.storage import Attachment

log = logging.getLogger(__name__)
PHOTO, DOCUMENT = "photo", "document"


def asker_for(bot: Bot, deps: Deps) -> Asker:
    """Asks a complete album with this bot and these dependencies."""

    async def ask(parts: list[Part]) -> None:
        await ask_album(parts, bot, deps)

    return ask


async def photo_part(
    message: Message,
    user_id: int,
    sizes: list[PhotoSize],
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """A photo of an album: its largest rendition within MAX_IMAGE_BYTES (none: too large)."""
    chosen = pick_photo(sizes, deps.settings.max_image_bytes)
    attachment = None if chosen is None else photo_attachment(chosen)
    details = {"kind": PHOTO, "caption": message.caption or "", "attachment": attachment}
    await deps.albums.add(message, user_id, details, bot, asker_for(bot, deps), on_stored)


async def image_file_part(
    message: Message,
    user_id: int,
    document: Document,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """A picture sent as a file in an album: seen like a photo (none: too large)."""
    attachment: Attachment | None = None
    size = document.file_size
    if size is None or size <= deps.settings.max_image_bytes:
        attachment = image_file_attachment(document)
    details = {"kind": PHOTO, "caption": message.caption or "", "attachment": attachment}
    await deps.albums.add(message, user_id, details, bot, asker_for(bot, deps), on_stored)


async def document_part(
    message: Message,
    user_id: int,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """A document of an album: read once the album is complete (its file is in the
    stored message)."""
    details = {"kind": DOCUMENT, "caption": message.caption or ""}
    await deps.albums.add(message, user_id, details, bot, asker_for(bot, deps), on_stored)


async def ask_album(parts: list[Part], bot: Bot, deps: Deps) -> None:
    """One question of a complete album (parts in message order), or one refusal."""
    first = parts[0].message
    user_id = parts[0].user_id
    images = [p for p in parts if p.details.get("kind") == PHOTO]
    documents = [p.message.document for p in parts if p.details.get("kind") == DOCUMENT]
    if images:
        if not await sees(first, user_id, bot, deps.accounts, deps.media, deps.settings):
            return
        if any(p.details.get("attachment") is None for p in images):
            log.info("album refused user_id=%s: an image over MAX_IMAGE_BYTES", user_id)
            await first.answer(texts.image_too_large(deps.settings.max_image_bytes))
            return
    read = await _read_documents(first, user_id, [d for d in documents if d], bot, deps)
    if read is None:
        return
    captions = [str(p.details.get("caption") or "").strip() for p in parts]
    caption = "\n\n".join(c for c in captions if c)
    attachments: list[Attachment] = [_attachment(p.details) for p in images]
    attachments += [r.attachment for r in read]
    if not read:
        await turn(first, user_id, caption, bot, deps, kind=PHOTO, attachments=attachments)
        return
    texts_read = [document_content(r.name, r.extracted, "") for r in read]
    content = "\n\n".join([*texts_read, caption] if caption else texts_read)
    notice = "\n".join(document_read(r.name, r.extracted) for r in read)
    kind = PHOTO if images else DOCUMENT
    await turn_with_notice(
        first, user_id, content, bot, deps, None, notice, kind=kind, attachments=attachments
    )


async def _read_documents(
    first: Message, user_id: int, documents: list[Document], bot: Bot, deps: Deps
) -> list[ReadDocument] | None:
    """The album's documents read, in order; None when the album was refused (told once)."""
    if not documents:
        return []
    limit = deps.settings.max_document_bytes
    for document in documents:
        refusal = document_refusal(user_id, document, limit)
        if refusal is not None:
            await first.answer(refusal)
            return None
    if not await within_limits(first, user_id, bot, deps):
        return None
    read: list[ReadDocument] = []
    for document in documents:
        done = await read_file(user_id, document, bot, deps)
        if isinstance(done, str):
            await first.answer(done)
            return None
        read.append(done)
    return read


def _attachment(details: dict[str, Any]) -> Attachment:
    attachment: Attachment = details["attachment"]
    return attachment


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher): before the
    photo and document handlers, which take the parts of no album."""
    router = Router(name=__name__)
    user = F.from_user.id.as_("user_id")
    album = F.media_group_id
    router.message.register(photo_part, album, F.photo.as_("sizes"), user)
    router.message.register(
        image_file_part,
        album,
        F.document.mime_type.in_(IMAGE_FILE_MIMES),
        ~F.animation,
        F.document.as_("document"),
        user,
    )
    router.message.register(document_part, album, F.document, ~F.animation, user)
    return router

"""Documents (PDF, DOCX, text and code files): read here, then one chat turn with their text.

Checks that cost nothing come first: a type the bot does not read, or a size over
MAX_DOCUMENT_BYTES (as Telegram states it, then as getFile does), is refused before any
download, and so is a document from a user over a limit (daily, per minute, token
budget): no getFile, no download, no extraction slot. The text is extracted off the
event loop, in a bounded child process (media.documents). Downloading and reading
spend no money; the question (the file's text, then the caption) then goes through
`turn`, the one gate for spending: over a limit nothing is stored and the LLM is not
called.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Document, Message

from ai_tg_bot.bot.deps import Deps
from ai_tg_bot.bot.files import TelegramFiles
from ai_tg_bot.bot.handlers.text import turn
from ai_tg_bot.bot.notices import tell_over_limit
from ai_tg_bot.i18n import N_, _, ngettext, number
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.media import (
    DocumentError,
    DocumentProblem,
    Extracted,
    FileTooLargeError,
    MediaError,
    display_name,
    document_attachment,
    document_content,
    document_format,
    read_document,
)
from ai_tg_bot.storage import Attachment

log = logging.getLogger(__name__)

UNSUPPORTED_DOCUMENT = N_(
    "📄 I can't read this kind of file. Send a PDF, a DOCX, or a text file "
    "(TXT, Markdown, CSV, JSON, code)."
)
DOWNLOAD_FAILED = N_("📄 I couldn't download that file from Telegram. Please send it again.")
PROBLEMS = {
    DocumentProblem.UNSUPPORTED: UNSUPPORTED_DOCUMENT,
    DocumentProblem.ENCRYPTED: N_(
        "📄 That document is protected with a password, so I can't read it. "
        "Please send it without one."
    ),
    DocumentProblem.NO_TEXT: N_(
        "📄 I found no text in that document (is it a scan, or only pictures?). "
        "Please send its text instead."
    ),
    DocumentProblem.BINARY: N_("📄 That file isn't text, so I can't read it."),
    DocumentProblem.UNREADABLE: N_(
        "📄 I couldn't read that document: it seems damaged or too complex. "
        "Please check it, or send its text instead."
    ),
}


def document_too_large(limit_bytes: int) -> str:
    """A document over MAX_DOCUMENT_BYTES."""
    size = _("{size} MB").format(size=number(float(f"{limit_bytes / (1024 * 1024):.3g}")))
    return _(
        "📄 That file is too large for me (the limit is {size}). Please send a smaller one."
    ).format(size=size)


def document_read(name: str, extracted: Extracted) -> str:
    """Shown once the question is stored: the file was read (and whether all of it)."""
    count = len(extracted.text)
    if extracted.truncated:
        line = ngettext(
            "📄 {name} is long: I read only its first {count} character.",
            "📄 {name} is long: I read only its first {count} characters.",
            count,
        )
    else:
        line = ngettext(
            "📄 Read {name}: {count} character.", "📄 Read {name}: {count} characters.", count
        )
    return line.format(name=name, count=number(count))


@dataclass(frozen=True, slots=True)
class ReadDocument:
    """A document's text as read, and what is stored about the file."""

    name: str
    extracted: Extracted
    attachment: Attachment


def document_refusal(user_id: int, document: Document, limit: int) -> str | None:
    """Why the document is refused before any download (a type the bot does not read,
    or over `limit` bytes as Telegram states it); None: it may be read."""
    if document_format(document.file_name, document.mime_type) is None:
        log.info("document refused user_id=%s: type %s", user_id, document.mime_type)
        return _(UNSUPPORTED_DOCUMENT)
    if document.file_size is not None and document.file_size > limit:
        log.info("document refused user_id=%s: over MAX_DOCUMENT_BYTES", user_id)
        return document_too_large(limit)
    return None


async def read_file(user_id: int, document: Document, bot: Bot, deps: Deps) -> ReadDocument | str:
    """Download the document and read its text in the bounded child; on failure, what
    the user is told instead. (Call `document_refusal` first.)"""
    name = display_name(document.file_name)
    fmt = document_format(document.file_name, document.mime_type)
    if fmt is None:
        return _(UNSUPPORTED_DOCUMENT)
    limit = deps.settings.max_document_bytes
    fetch = deps.turns.fetch_file or TelegramFiles(bot)
    try:
        data = await fetch(document.file_id, max_bytes=limit)
        extracted = await read_document(data, fmt, max_chars=deps.settings.max_document_chars)
    except FileTooLargeError as exc:
        log.info("document refused user_id=%s: %s", user_id, exc)
        return document_too_large(limit)
    except MediaError as exc:
        log.warning("document download failed user_id=%s: %s", user_id, exc)
        return _(DOWNLOAD_FAILED)
    except DocumentError as exc:
        # The problem only: a parser's message may quote the file (the user's words).
        log.info(
            "document unreadable user_id=%s format=%s problem=%s",
            user_id, fmt.value, exc.problem.value,
        )  # fmt: skip
        return _(PROBLEMS[exc.problem])
    size = document.file_size if document.file_size is not None else len(data)
    del data
    attachment = document_attachment(
        document.file_id, document.file_unique_id, name, document.mime_type, size, extracted
    )
    return ReadDocument(name, extracted, attachment)


async def document_turn(
    message: Message,
    user_id: int,
    document: Document,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None = None,
) -> None:
    """A document, captioned or not: its text and the caption make one question."""
    refusal = document_refusal(user_id, document, deps.settings.max_document_bytes)
    if refusal is not None:
        await message.answer(refusal)
        return
    if not await within_limits(message, user_id, bot, deps):
        return
    read = await read_file(user_id, document, bot, deps)
    if isinstance(read, str):
        await message.answer(read)
        return
    content = document_content(read.name, read.extracted, message.caption or "")
    await turn_with_notice(
        message,
        user_id,
        content,
        bot,
        deps,
        on_stored,
        document_read(read.name, read.extracted),
        attachments=[read.attachment],
    )


async def within_limits(message: Message, user_id: int, bot: Bot, deps: Deps) -> bool:
    """The limits first: a user over one costs no getFile, download or extraction (they
    are told which limit, privately)."""
    try:
        await deps.accounts.precheck(user_id)
    except QuotaExceededError as exc:
        log.info("document refused user_id=%s: %s limit", user_id, exc.kind)
        await tell_over_limit(message, user_id, bot, exc, deps.capabilities)
        return False
    return True


async def turn_with_notice(
    message: Message,
    user_id: int,
    content: str,
    bot: Bot,
    deps: Deps,
    on_stored: Callable[[], None] | None,
    notice: str,
    *,
    kind: str = "document",
    attachments: list[Attachment],
) -> None:
    """One turn; once its question is stored, `notice` (the file was read) is shown."""
    shown: list[asyncio.Task[Message]] = []

    async def show_read() -> Message:
        return await message.answer(notice)

    def stored() -> None:
        # Only a stored question says it was read (over a limit, the refusal alone).
        if on_stored is not None:
            on_stored()
        shown.append(asyncio.create_task(show_read()))

    try:
        await turn(message, user_id, content, bot, deps, stored, kind=kind, attachments=attachments)
    finally:
        for task in shown:
            try:
                await task
            except TelegramAPIError as exc:
                log.warning("document notice not shown user_id=%s: %s", user_id, exc)


def make_router() -> Router:
    """A fresh Router with this feature's handlers (one per Dispatcher)."""
    router = Router(name=__name__)
    user = F.from_user.id.as_("user_id")
    # A GIF comes with `document` set too (for old clients): left to the fallback.
    router.message.register(document_turn, F.document.as_("document"), ~F.animation, user)
    return router

"""The Mini App's API for the signed-in user: who they are, their conversations, search,
and their export (docs/webapp.md). Each endpoint is the bot command's twin: the same
store methods and checks (/chats, /reset, /search, /export, /memory)."""

from __future__ import annotations

from aiohttp import web

from ai_tg_bot.bot import texts
from ai_tg_bot.bot.webapp.auth import (
    NO_STORE,
    ApiError,
    Call,
    Json,
    bad_request,
    iso,
    not_found,
    path_id,
)
from ai_tg_bot.bot.webapp.rendering import message_html
from ai_tg_bot.bot.webapp.texts import page_texts
from ai_tg_bot.i18n import _
from ai_tg_bot.limits import QuotaExceededError
from ai_tg_bot.privacy import ExportFile, write_export
from ai_tg_bot.storage import ExportBusyError, search_words, utc_now

# How many conversations the list holds (the most recent), and search hits per page.
LISTED_CONVERSATIONS = 100
SEARCH_PAGE = 20
MAX_SEARCH_PAGE = 10_000
EXPORT_CHUNK_BYTES = 64 * 1024
EXPORT_TYPES = {
    "json": "application/json; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
}


async def me(call: Call) -> Json:
    """The user, whether they are an admin, the page's texts in their language, and
    what this bot offers."""
    visitor, settings = call.visitor, call.settings
    return {
        "user": {
            "id": visitor.user_id,
            "first_name": visitor.first_name,
            "language": visitor.language,
        },
        "admin": visitor.admin,
        "texts": page_texts(),
        "features": {
            "voice": settings.tts_model is not None,
            "payments": bool(settings.stars_packs or settings.subscription_plans),
            "memory_tool": settings.memory_tool,
        },
    }


async def conversations(call: Call) -> Json:
    """The user's conversations outside topics, most recent first (what /chats lists)."""
    listed = await call.deps.storage.recent_conversations(call.user_id, LISTED_CONVERSATIONS)
    return {
        "conversations": [
            {
                "id": summary.id,
                "title": summary.title,
                "messages": summary.messages,
                "last_active_at": iso(summary.last_active_at),
                "current": summary.is_current,
            }
            for summary in listed
        ]
    }


async def conversation(call: Call) -> Json:
    """One of the user's conversations with its messages as safe HTML."""
    view = await call.deps.storage.conversation(call.user_id, path_id(call.request))
    if view is None:
        raise not_found()
    return {
        "id": view.id,
        "title": view.title,
        "current": view.is_current,
        "role": view.system_prompt,
        "topic": view.topic,
        "omitted": view.omitted,
        "messages": [
            {
                "role": message.role,
                "html": message_html(message.role, message.content),
                "created_at": iso(message.created_at),
                "in_context": message.in_context,
                "kind": message.kind,
            }
            for message in view.messages
        ],
    }


async def delete_conversation(call: Call) -> Json:
    """Clear one of the user's conversations (as /reset) and take it off the list."""
    if not await call.deps.storage.delete_conversation(call.user_id, path_id(call.request)):
        raise not_found()
    return {"deleted": True}


async def make_current(call: Call) -> Json:
    """Continue one of the user's conversations (as a /chats button)."""
    conversation_id = path_id(call.request)
    title = await call.deps.storage.switch_conversation(call.user_id, conversation_id)
    if title is None:
        raise not_found()
    return {"current": conversation_id, "title": title or None}


async def search(call: Call) -> Json:
    """A page of the user's messages that hold every word, ranked as /search ranks them."""
    query = call.request.query
    words = search_words(query.get("q", ""))
    if not words:
        raise bad_request("empty_query", _("Type the words to find."))
    raw = query.get("page", "1").strip()
    page = int(raw) if raw.isdigit() and len(raw) < 6 else 0
    if not 1 <= page <= MAX_SEARCH_PAGE:
        raise bad_request("bad_page", _("The page must be a number from 1."))
    found = await call.deps.search.search(
        call.user_id, " ".join(words), limit=SEARCH_PAGE, offset=(page - 1) * SEARCH_PAGE
    )
    return {
        "query": " ".join(words),
        "page": page,
        "total": found.total,
        "more": (page - 1) * SEARCH_PAGE + len(found.hits) < found.total,
        "results": [
            {
                "conversation_id": hit.conversation_id,
                "role": hit.role,
                "snippet": hit.snippet,
                "created_at": iso(hit.created_at),
            }
            for hit in found.hits
        ],
    }


async def delete_fact(call: Call) -> Json:
    """Forget one of the user's memory facts (a /memory button)."""
    if await call.deps.memory.delete_fact(call.user_id, path_id(call.request)) is None:
        raise not_found()
    return {"deleted": True}


async def export(call: Call) -> web.StreamResponse:
    """The /export file (JSON, or Markdown with ?format=markdown) as a download: one
    export at a time, counted by the per-minute guard like /export."""
    kind = call.request.query.get("format", "json")
    if kind not in EXPORT_TYPES:
        raise bad_request("bad_format", _("The format must be json or markdown."))
    privacy = call.deps.privacy
    try:
        async with privacy.export_slot(call.user_id):
            async with privacy.export_history(call.user_id) as history:
                files = await write_export(history, utc_now())
            try:
                if files.empty:
                    raise ApiError(404, "nothing_to_export", texts.NOTHING_TO_EXPORT)
                chosen = files.json if kind == "json" else files.markdown
                return await _send(call.request, chosen, EXPORT_TYPES[kind])
            finally:
                files.close()
    except ExportBusyError:
        raise ApiError(409, "export_running", texts.EXPORT_RUNNING) from None
    except QuotaExceededError as exc:
        raise ApiError(429, "rate_limited", exc.user_message(utc_now())) from None


async def _send(request: web.Request, file: ExportFile, content_type: str) -> web.StreamResponse:
    """Stream a written export (in memory, or spilled to disk) as an attachment."""
    response = web.StreamResponse(
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            **NO_STORE,
        }
    )
    response.content_length = file.size
    await response.prepare(request)
    file.content.seek(0)
    while chunk := file.content.read(EXPORT_CHUNK_BYTES):
        await response.write(chunk)
    await response.write_eof()
    return response

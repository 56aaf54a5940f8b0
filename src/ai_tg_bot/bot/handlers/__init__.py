"""One Router per feature; `routers()` gives fresh ones in the order they must be tried."""

from __future__ import annotations

from aiogram import Router

from ai_tg_bot.bot.handlers import (
    account,
    admin,
    albums,
    answers,
    conversations,
    documents,
    edits,
    errors,
    fallback,
    history,
    images,
    inline,
    language,
    media,
    memory,
    mini_app,
    payments,
    privacy,
    role,
    search,
    start,
    status,
    stop,
    subscriptions,
    text,
    tools,
    voice,
)
from ai_tg_bot.config import Settings


def routers(settings: Settings) -> list[Router]:
    """Errors, commands, then unknown commands and plain text, then everything else."""
    features = [
        start,
        stop,
        role,
        conversations,
        history,
        answers,
        status,
        account,
        language,
        search,
        memory,
        mini_app,
        privacy,
        edits,
        tools,
        images,
        voice,
        inline,
    ]
    return [
        errors.make_router(settings),
        *(module.make_router() for module in features),
        subscriptions.make_router(),  # before payments: it takes the plans' pre-checkouts
        payments.make_router(settings),  # before admin: its /refund is an admin command
        admin.make_router(settings),
        text.make_router(),
        albums.make_router(),  # before media and documents: an album's parts
        media.make_router(),
        documents.make_router(),
        fallback.make_router(),
    ]

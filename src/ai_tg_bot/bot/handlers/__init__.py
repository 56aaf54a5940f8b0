"""One Router per feature; `routers()` gives fresh ones in the order they must be tried."""

from __future__ import annotations

from aiogram import Router

from ai_tg_bot.bot.handlers import chat, errors, fallback, history, role, start, status


def routers() -> list[Router]:
    """Errors, commands, then unknown commands and plain text, then everything else."""
    return [
        module.make_router() for module in (errors, start, role, history, status, chat, fallback)
    ]

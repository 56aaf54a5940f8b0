"""bot.inline_filters: the bot's synchronous filters run on the loop, never in a thread."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

from aiogram import F, Router

from ai_tg_bot.bot.inline_filters import check_filters_inline


async def test_sync_filters_run_on_the_event_loop_thread() -> None:
    seen: list[str] = []

    def sync_filter(event: object, answer: str) -> bool:
        seen.append(threading.current_thread().name)
        return answer == "yes"

    router, inner = Router(), Router()
    router.include_router(inner)

    async def handler(answer: str) -> None:
        return None

    inner.message.register(handler, sync_filter, F.text)
    assert check_filters_inline(router) == 2
    handler_object = inner.message.handlers[0]
    message = SimpleNamespace(text="hi")
    assert await handler_object.check(message, answer="yes") == (True, {"answer": "yes"})
    assert (await handler_object.check(message, answer="no"))[0] is False
    assert seen == [threading.current_thread().name] * 2, "no worker thread ran them"
    assert check_filters_inline(router) == 0, "each filter wrapped once"
    await asyncio.sleep(0)

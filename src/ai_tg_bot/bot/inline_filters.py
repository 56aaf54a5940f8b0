"""Filters checked on the event loop, not in a thread (issue 30).

aiogram calls every callback that is not a coroutine function through
`asyncio.to_thread`: each magic filter (`F.text`, `F.chat.type == ...`) of each handler it
tries costs a hop to the default thread pool and a wake-up of the loop (py-spy: a tenth
of the dispatch's samples were `ThreadPoolExecutor.submit`). The filters here are
attribute reads and comparisons that never block, so once the routers are built each
synchronous filter is wrapped in a coroutine function that calls it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject


def check_filters_inline(router: Router) -> int:
    """Make every synchronous filter of `router` and the routers under it run inline;
    how many were changed."""
    changed = 0
    for each in router.chain_tail:
        for observer in each.observers.values():
            handlers = [*observer.handlers, observer._handler]
            for handler in handlers:
                for event_filter in handler.filters or ():
                    changed += _inline(event_filter)
    return changed


def _inline(event_filter: FilterObject) -> int:
    if event_filter.awaitable:
        return 0
    event_filter.callback = _awaitable(event_filter.callback)
    event_filter.awaitable = True
    return 1


def _awaitable(check: Callable[..., Any]) -> Callable[..., Any]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    return inline

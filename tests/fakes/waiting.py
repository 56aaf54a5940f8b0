"""Polling for a condition in tests, with a useful message when it never comes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def poll_until(
    predicate: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109
    explain: Callable[[], str],
) -> None:
    """Poll `predicate` every 10 ms; after `timeout` seconds fail with `explain()`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s: {explain()}")
        await asyncio.sleep(0.01)


async def poll_until_async(
    predicate: Callable[[], Awaitable[bool]],
    timeout: float,  # noqa: ASYNC109
    explain: Callable[[], str],
) -> None:
    """`poll_until` for a condition that must be awaited (a database query, an HTTP probe)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s: {explain()}")
        await asyncio.sleep(0.01)

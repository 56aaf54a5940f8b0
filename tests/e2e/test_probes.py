"""/healthz and /readyz on the real bot over HTTP, on both database backends.

Liveness never touches the database; readiness asks it at most once a second, however
many probes come at once (counted as the statements the database actually received).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from sqlalchemy import event

from tests.e2e.conftest import HarnessFactory

PROBES = 30


async def probe(http: aiohttp.ClientSession, port: int, path: str) -> tuple[int, Any]:
    async with http.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.json()


async def test_liveness_needs_no_database_and_readiness_asks_it_sparingly(
    make_bot: HarnessFactory, unused_tcp_port: int
) -> None:
    bot = await make_bot(health_port=unused_tcp_port, webhook_listen_host="127.0.0.1")
    assert bot.app is not None
    pings: list[float] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement == "SELECT 1":
            pings.append(time.monotonic())

    engine = bot.app.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with aiohttp.ClientSession() as http:
            lively = [probe(http, unused_tcp_port, "/healthz") for _ in range(PROBES)]
            assert await asyncio.gather(*lively) == [(200, {"status": "ok"})] * PROBES
            assert pings == [], "liveness took a database connection"

            started = time.monotonic()
            ready = [probe(http, unused_tcp_port, "/readyz") for _ in range(PROBES)]
            assert await asyncio.gather(*ready) == [(200, {"status": "ready"})] * PROBES
            elapsed = time.monotonic() - started
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # At most one check per started second, however slow this machine is today.
    assert 1 <= len(pings) <= 1 + int(elapsed), (len(pings), elapsed)

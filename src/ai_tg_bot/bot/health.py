"""Probes: /healthz (the process serves) and /readyz (and its database answers)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)
# However often probes come, the database is asked at most this often...
READINESS_MAX_AGE_SECONDS = 1.0
# ...and a database that does not answer within this is "not ready".
READINESS_TIMEOUT_SECONDS = 5.0


class Readiness:
    """The database check behind /readyz: at most one a second, shared by concurrent probes.

    Every probe used to take a pooled connection; a busy balancer (or an attacker) could
    then compete with users for the pool. Now a result younger than `max_age` is answered
    from memory, and probes arriving while a check runs wait for that same check.
    """

    def __init__(
        self,
        ping: Callable[[], Awaitable[bool]],
        *,
        max_age: float = READINESS_MAX_AGE_SECONDS,
        timeout: float = READINESS_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ping = ping
        self.max_age = max_age
        self.timeout = timeout
        self._clock = clock
        self._ready = False
        self._started_at = -math.inf
        self._running: asyncio.Task[bool] | None = None

    async def check(self) -> bool:
        """Whether the database answered, as of at most `max_age` seconds ago."""
        if self._running is None:
            if self._clock() - self._started_at < self.max_age:
                return self._ready
            self._started_at = self._clock()
            self._running = asyncio.create_task(self._run())
        # Shielded: a probe that hangs up must not cancel the check others wait for.
        return await asyncio.shield(self._running)

    async def _run(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                self._ready = await self._ping()
        except TimeoutError:
            log.debug("database readiness check timed out after %.0fs", self.timeout)
            self._ready = False
        except Exception as exc:  # a probe answers 503, never 500
            log.debug("database readiness check failed: %r", exc)
            self._ready = False
        finally:
            self._running = None
        return self._ready


READINESS: web.AppKey[Readiness] = web.AppKey("readiness", Readiness)
# This process's index under WEBHOOK_WORKERS > 1 (absent: the one process).
WORKER: web.AppKey[int] = web.AppKey("worker", int)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves requests; never touches the database.
    A worker names itself (index and pid): workers share a port, and a probe reaches one."""
    worker = request.app.get(WORKER)
    if worker is None:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "ok", "worker": worker, "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when the database answers, 503 when not (checked at most once a second)."""
    if await request.app[READINESS].check():
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "database unavailable"}, status=503)


def add_probes(
    web_app: web.Application, ping: Callable[[], Awaitable[bool]], worker: int | None = None
) -> None:
    """Serve GET /healthz and GET /readyz on `web_app` (`worker`: this process's index)."""
    web_app[READINESS] = Readiness(ping)
    if worker is not None:
        web_app[WORKER] = worker
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)

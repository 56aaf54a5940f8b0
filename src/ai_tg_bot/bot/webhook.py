"""Webhook mode: acknowledge an update only once its message is stored; the probes."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from ai_tg_bot.bot.health import add_probes
from ai_tg_bot.bot.webapp import add_webapp
from ai_tg_bot.errors import StartupError
from ai_tg_bot.observability import add_metrics

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from ai_tg_bot.bot.deps import Deps
    from ai_tg_bot.config import Settings
    from ai_tg_bot.db import Database


class Served(Protocol):
    """What the web server needs of the running application (bot.app.Application)."""

    settings: Settings
    database: Database
    bot: Bot
    dispatcher: Dispatcher
    worker: int | None
    # The handlers' components, which the Mini App's API uses too (bot.webapp).
    deps: Deps


log = logging.getLogger(__name__)
APPLICATION: web.AppKey[Served] = web.AppKey("application")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 4 * 1024 * 1024


class WebhookHandler:
    """Serves Telegram's POSTs: 401 without the secret, 200 once the update is safe.

    aiogram's default handler answers 200 before handling, so a crash loses the update.
    Here the update runs as a task and the response waits until either the user's
    message is stored (`on_stored`) or the task ends. If it ends with an error (the
    database is down, say), the answer is 500 and Telegram delivers the update again;
    a delivery that arrives twice is recognised in the database and answered once.
    """

    def __init__(self, app: Served) -> None:
        self.app = app
        self._tasks: set[asyncio.Task[Any]] = set()
        secret = app.settings.webhook_secret
        self._secret = secret.get_secret_value().encode() if secret else b""

    async def handle(self, request: web.Request) -> web.Response:
        """One update from Telegram."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not self._secret or not hmac.compare_digest(given, self._secret):
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.app.bot})
        except (ValueError, ValidationError):
            return web.json_response({"ok": False, "error": "malformed update"}, status=400)
        stored = asyncio.get_running_loop().create_future()

        def on_stored() -> None:
            if not stored.done():
                stored.set_result(None)

        task = asyncio.create_task(
            self.app.dispatcher.feed_update(
                self.app.bot, update, on_stored=on_stored, redeliverable=True
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        await asyncio.wait({task, stored}, return_when=asyncio.FIRST_COMPLETED)
        if stored.done() or (task.done() and task.exception() is None):
            return web.json_response({"ok": True})
        log.warning("update %s not stored; asking Telegram to send it again", update.update_id)
        return web.json_response({"ok": False}, status=500)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("update task ended with %r", task.exception())


def build_web_app(app: Served, *, webhook: bool) -> web.Application:
    """The aiohttp app: /healthz, /readyz and /metrics always, the Mini App (/app and
    its API: bot.webapp) always, the webhook path in webhook mode."""
    web_app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    web_app[APPLICATION] = app
    add_probes(web_app, app.database.ping, app.worker)
    add_metrics(web_app)
    add_webapp(web_app, app)
    if webhook:
        web_app.router.add_post(app.settings.webhook_path, WebhookHandler(app).handle)
    return web_app


async def start_site(
    web_app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> web.AppRunner:
    """Serve `web_app` on host:port; the caller cleans the runner up. `reuse_port`
    (SO_REUSEPORT): several worker processes listen on the port, the kernel spreads the
    connections across them."""
    runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
    except OSError as exc:  # the port is taken, or the host is not this machine's
        await runner.cleanup()
        reason = exc.strerror or type(exc).__name__
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from exc
    return runner

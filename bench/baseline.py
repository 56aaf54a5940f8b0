"""The no-history baseline bot of benchmarks 5 and 6: what any aiogram bot in front of
the same LLM costs, with nothing of the real bot's (no database, no history, no ordering,
no drafts).

A Dispatcher as aiogram makes it by default, with one text handler: stream the LLM's
reply (the same `LLMClient`) to the system prompt and this message alone, then answer
with `message.answer`. Served by polling (`Dispatcher.start_polling`) or by webhook
(aiogram's `SimpleRequestHandler` on aiohttp, answering Telegram at once and handling
the update in the background, with the secret header checked).

Imports nothing of the real bot beyond its settings and LLM client: benchmark 6 runs it
in a process of its own (bench/load_bot.py) and compares the two processes' memory.
"""

from __future__ import annotations

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.llm.client import LLMClient


def plain_bot(settings: Settings) -> Bot:
    """A Bot on the configured Bot API server, nothing added."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    api = TelegramAPIServer.from_base(settings.telegram_api_url or "https://api.telegram.org")
    return Bot(settings.telegram_bot_token.get_secret_value(), session=AiohttpSession(api=api))


class NoHistoryBot:
    """The baseline: answer each text with the LLM's reply to it alone."""

    def __init__(self, settings: Settings, bot: Bot | None = None) -> None:
        self.settings = settings
        self.bot = bot if bot is not None else plain_bot(settings)
        self.llm = LLMClient(settings)
        self.dispatcher = Dispatcher()
        self.dispatcher.message.register(self.answer, F.text)
        self.handled = 0
        self._site: web.AppRunner | None = None

    async def answer(self, message: Message) -> None:
        """Ask the LLM with the system prompt and this message; reply with the answer."""
        prompt = {"role": "system", "content": self.settings.default_system_prompt}
        messages = [prompt, {"role": "user", "content": message.text or ""}]
        reply = "".join([piece async for piece in self.llm.stream(messages)])
        await message.answer(reply)
        self.handled += 1

    async def run_polling(self, *, polling_timeout: int = 1) -> None:
        """Long-poll until `stop_polling`; then close the sessions."""
        try:
            await self.dispatcher.start_polling(
                self.bot,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=polling_timeout,
            )
        finally:
            await self.close()

    async def start_webhook(self) -> None:
        """Serve the webhook (WEBHOOK_PATH on WEBHOOK_LISTEN_HOST:PORT) and register it."""
        endpoint, secret = self.settings.webhook_endpoint, self.settings.webhook_secret
        if endpoint is None or secret is None:
            raise ValueError("webhook mode needs WEBHOOK_URL and WEBHOOK_SECRET")
        app = web.Application()
        handler = SimpleRequestHandler(
            self.dispatcher, self.bot, secret_token=secret.get_secret_value()
        )
        handler.register(app, path=self.settings.webhook_path)
        self._site = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._site.setup()
        host, port = self.settings.webhook_listen_host, self.settings.webhook_listen_port
        await web.TCPSite(self._site, host, port).start()
        await self.bot.set_webhook(endpoint, secret_token=secret.get_secret_value())

    async def close(self) -> None:
        """Stop serving the webhook (if it was) and close the Telegram and LLM sessions."""
        if self._site is not None:
            await self._site.cleanup()
            self._site = None
        await self.bot.session.close()
        await self.llm.close()

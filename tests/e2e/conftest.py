"""The real bot (aiogram Dispatcher and Bot over HTTP) against loopback Telegram and LLM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ai_tg_bot.bot.app import Application
from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram, SentMessage

TOKEN = "123456:TEST-token"


class BotHarness:
    """Runs one bot process's worth of components and talks to it like a user would."""

    def __init__(self, tg: FakeTelegram, llm: FakeLLM, settings: Settings) -> None:
        self.tg = tg
        self.llm = llm
        self.settings = settings
        self.app: Application | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Build a fresh Application (as a new process would) and start polling."""
        self.app = Application.create(self.settings)
        self._task = asyncio.create_task(
            self.app.run_polling(handle_signals=False, polling_timeout=1)
        )
        await self.tg.wait_for(lambda: bool(self.tg.method_calls("getUpdates")), what="polling")

    async def stop(self) -> None:
        """Stop polling and shut down like on SIGTERM."""
        if self.app is not None and self._task is not None:
            await self.settle()
            await self.app.stop()
            await self._task
        self.app, self._task = None, None

    async def restart(self) -> None:
        """Stop and start again on the same database: nothing may be forgotten."""
        await self.stop()
        await self.start()

    async def settle(self, timeout: float = 15) -> None:  # noqa: ASYNC109
        """Wait until every queued update was taken and fully handled."""
        app = self.app
        assert app is not None

        def idle() -> bool:
            return self.tg.updates_pending() == 0 and app.ordering.in_flight == 0

        for _ in range(2):  # twice: an update may be taken between the two checks
            await self.tg.wait_for(idle, timeout, "the bot to handle every update")
            await asyncio.sleep(0.05)

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to a chat, as they look now."""
        return [m for m in self.tg.sent if m.chat_id == chat_id and not m.deleted]

    async def say(self, user_id: int, text: str, *, language_code: str | None = None) -> list[str]:
        """Send a text as the user; return the texts of the messages the bot sent in reply.

        ``language_code`` is the language of the user's Telegram app (none: not sent)."""
        before = len(self.messages(user_id))
        self.tg.push_text(user_id, text, language_code=language_code)
        await self.settle()
        return [m.text for m in self.messages(user_id)[before:]]

    async def push(self, user_id: int, **fields: Any) -> list[str]:
        """Send any kind of message (sticker, photo, ...) and return the bot's replies."""
        before = len(self.messages(user_id))
        self.tg.push_update({"message": self.tg.make_message(user_id, **fields)})
        await self.settle()
        return [m.text for m in self.messages(user_id)[before:]]


HarnessFactory = Callable[..., Awaitable[BotHarness]]


def harness_settings(
    tg: FakeTelegram, llm: FakeLLM, database_url: str, **overrides: Any
) -> Settings:
    """Settings for a bot on the test database, talking to these fakes."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "telegram_bot_token": TOKEN,
        "telegram_api_url": tg.base_url,
        "openai_api_key": "test-key",
        "openai_base_url": llm.base_url,
        "llm_model": "fake-model",
        "llm_timeout_seconds": 10,
        "llm_max_retries": 0,
        "stream_edit_interval_seconds": 0.05,
        "shutdown_grace_seconds": 10,
        "auto_migrate": False,
    }
    return Settings(_env_file=None, **(values | overrides))


@pytest.fixture
async def make_bot(
    database: Database, database_url: str, tmp_path: Path
) -> AsyncIterator[HarnessFactory]:
    """Start a bot on the test database with optional setting overrides (its payments
    spool in the test's own directory)."""
    started: list[tuple[BotHarness, FakeTelegram, FakeLLM]] = []

    async def factory(**overrides: Any) -> BotHarness:
        tg = await FakeTelegram().start()
        llm = await FakeLLM(chunk_size=overrides.pop("chunk_size", 20)).start()
        overrides.setdefault("payments_spool_dir", str(tmp_path / "payments-spool"))
        settings = harness_settings(tg, llm, database_url, **overrides)
        harness = BotHarness(tg, llm, settings)
        started.append((harness, tg, llm))
        await harness.start()
        return harness

    yield factory
    for harness, tg, llm in started:
        await harness.stop()
        await tg.close()
        await llm.close()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeLLM]]:
    """A fake Telegram and a fake LLM for a bot started as a real process."""
    async with FakeTelegram() as tg, FakeLLM() as llm:
        yield tg, llm


@pytest.fixture
async def bot(make_bot: HarnessFactory) -> BotHarness:
    """A bot with the default test settings."""
    return await make_bot()

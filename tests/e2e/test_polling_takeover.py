"""A polling start never silently deletes the webhook other instances serve.

Telegram refuses getUpdates while a webhook is set, so a polling start used to delete
it unasked, and every update went from the webhook deployment to this process. Now it
stops with one line unless POLLING_TAKEOVER=true.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError

from ai_tg_bot.bot.app import Application
from ai_tg_bot.bot.polling import WebhookRegisteredError
from ai_tg_bot.db.database import Database
from tests.e2e.conftest import TOKEN, BotHarness, harness_settings
from tests.e2e.test_process import bot_env, run_bot
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

USER = 6060
SECRET = "other-Deployment_secret"
WEBHOOK = "https://bot.example.test:8443/telegram/hook-path-token"
REFUSAL = (
    "a webhook is registered at bot.example.test:8443 (another deployment may be serving "
    "it); set WEBHOOK_URL to serve it, or POLLING_TAKEOVER=true to delete it and poll"
)


@pytest.fixture
async def api(fakes: tuple[FakeTelegram, FakeLLM]) -> AsyncIterator[Bot]:
    """The Bot API as another deployment (or an operator) uses it."""
    tg, _ = fakes
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    yield bot
    await bot.session.close()


async def test_a_registered_webhook_stops_a_polling_start(
    database: Database, database_url: str, fakes: tuple[FakeTelegram, FakeLLM], api: Bot
) -> None:
    tg, llm = fakes
    await api.set_webhook(WEBHOOK, secret_token=SECRET)
    tg.push_text(USER, "for the webhook deployment")

    app = Application.create(harness_settings(tg, llm, database_url))
    with pytest.raises(WebhookRegisteredError) as refused:
        await app.run_polling(handle_signals=False, polling_timeout=1)

    assert str(refused.value) == REFUSAL
    # Untouched: the webhook deployment keeps its webhook, its secret and its update.
    info = await api.get_webhook_info()
    assert (info.url, info.pending_update_count) == (WEBHOOK, 1)
    assert tg.webhook_secret == SECRET
    assert tg.method_calls("deleteWebhook") == []
    assert tg.method_calls("getUpdates") == []
    assert llm.calls == 0


async def test_polling_takeover_deletes_the_webhook_and_polls(
    database: Database, database_url: str, fakes: tuple[FakeTelegram, FakeLLM], api: Bot
) -> None:
    tg, llm = fakes
    await api.set_webhook(WEBHOOK, secret_token=SECRET)
    tg.push_text(USER, "sent before the takeover")

    harness = BotHarness(tg, llm, harness_settings(tg, llm, database_url, polling_takeover=True))
    await harness.start()
    try:
        await harness.settle()
        (deleted,) = tg.method_calls("deleteWebhook")
        assert str(deleted.params.get("drop_pending_updates")).lower() != "true"
        assert (await api.get_webhook_info()).url == ""
        # Nothing was dropped: the update waiting for the webhook is answered here.
        assert tg.texts(USER) == ["Echo: sent before the takeover"]
        assert await harness.say(USER, "and now") == ["Echo: and now"]
    finally:
        await harness.stop()


async def test_without_a_webhook_nothing_is_deleted(
    database: Database, database_url: str, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    tg, llm = fakes
    harness = BotHarness(tg, llm, harness_settings(tg, llm, database_url))
    await harness.start()
    try:
        assert await harness.say(USER, "hello") == ["Echo: hello"]
        assert len(tg.method_calls("getWebhookInfo")) == 1
        assert tg.method_calls("deleteWebhook") == []
    finally:
        await harness.stop()


async def test_the_process_refuses_with_one_line_and_exit_code_2(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM], api: Bot
) -> None:
    tg, llm = fakes
    await api.set_webhook(WEBHOOK, secret_token=SECRET)
    env = bot_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=tg.base_url,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=llm.base_url,
        LLM_MODEL="fake-model",
    )
    env.pop("WEBHOOK_URL", None)
    env.pop("POLLING_TAKEOVER", None)
    process = await run_bot(tmp_path, env)  # the default SQLite file, migrated first
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = stderr.decode() + stdout.decode()
    assert process.returncode == 2, output[-3000:]
    assert stderr.decode().strip().splitlines()[-1] == f"ai-tg-bot: {REFUSAL}"
    assert output.count("webhook is registered") == 1
    assert "Traceback" not in output
    assert "hook-path-token" not in output, "the webhook's path may carry a secret"
    assert SECRET not in output
    assert tg.webhook_url == WEBHOOK
    assert tg.method_calls("deleteWebhook") == []


# ---- the fake keeps the webhook the way Telegram does ----------------------------------
async def test_the_fake_keeps_webhook_state_like_telegram(
    fakes: tuple[FakeTelegram, FakeLLM], api: Bot
) -> None:
    tg, _ = fakes
    assert (await api.get_webhook_info()).url == ""
    with pytest.raises(TelegramBadRequest, match="An HTTPS URL must be provided for webhook"):
        await api.set_webhook("http://bot.example.test/hook")
    await api.set_webhook(WEBHOOK, secret_token=SECRET, allowed_updates=["message"])
    info = await api.get_webhook_info()
    assert (info.url, info.allowed_updates, info.max_connections) == (WEBHOOK, ["message"], 40)
    with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook"):
        await api.get_updates()

    assert await api.delete_webhook()
    assert (await api.get_webhook_info()).url == ""
    assert tg.webhook_secret is None
    assert await api.get_updates(timeout=0) == []

    # setWebhook with an empty URL removes it too, as documented.
    await api.set_webhook(WEBHOOK)
    await api.set_webhook("")
    assert (await api.get_webhook_info()).url == ""


async def test_a_webhook_set_during_a_long_poll_ends_it(
    fakes: tuple[FakeTelegram, FakeLLM], api: Bot
) -> None:
    tg, _ = fakes
    tg.max_poll_seconds = 60
    poll = asyncio.create_task(api.get_updates(timeout=60))
    await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), what="the long poll")
    await api.set_webhook(WEBHOOK)
    assert await asyncio.wait_for(poll, 10) == []
    tg.push_text(USER, "for the webhook now")
    assert (await api.get_webhook_info()).pending_update_count == 1

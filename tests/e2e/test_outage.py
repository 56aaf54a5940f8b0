"""PostgreSQL going away under a running bot, and coming back: no restart needed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from ai_tg_bot.bot import texts
from ai_tg_bot.config.settings import Settings
from tests.e2e.conftest import TOKEN, BotHarness
from tests.fakes.llm import FakeLLM
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram import FakeTelegram
from tests.fakes.waiting import poll_until, poll_until_async

USER = 31337
# The tests here share one PostgreSQL database, never emptied: a user each.
BLIP_USER = 31338


@pytest.fixture
async def proxied_bot(
    pg_url: str, unused_tcp_port: int
) -> AsyncIterator[tuple[BotHarness, TcpProxy]]:
    """The real bot whose PostgreSQL connections all pass through a proxy we can cut."""
    target = make_url(pg_url)
    async with (
        TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy,
        FakeTelegram() as tg,
        FakeLLM() as llm,
    ):
        settings = Settings(
            _env_file=None,
            database_url=target.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            telegram_bot_token=TOKEN,
            telegram_api_url=tg.base_url,
            openai_api_key="test-key",
            openai_base_url=llm.base_url,
            llm_model="fake-model",
            llm_max_retries=0,
            stream_edit_interval_seconds=0.05,
            auto_migrate=False,
            health_port=unused_tcp_port,
            webhook_listen_host="127.0.0.1",
        )
        harness = BotHarness(tg, llm, settings)
        await harness.start()
        try:
            yield harness, proxy
        finally:
            proxy.restore()
            await harness.stop()


async def health(port: int, path: str = "/healthz") -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status


async def wait_ready(port: int, expected: int) -> None:
    """Until /readyz answers `expected`: it may repeat a result up to a second old."""

    async def answers() -> bool:
        return await health(port, "/readyz") == expected

    await poll_until_async(answers, 15, lambda: f"/readyz never answered {expected}")


async def test_the_bot_survives_a_database_outage_and_recovers_by_itself(
    proxied_bot: tuple[BotHarness, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    bot, proxy = proxied_bot
    port = bot.settings.health_port
    assert port is not None
    assert await bot.say(USER, "before the outage") == ["Echo: before the outage"]
    assert await health(port) == 200
    await wait_ready(port, 200)

    proxy.cut()
    assert bot.app is not None
    assert bot.app.redeliver is not None
    bot.app.redeliver.patience_seconds = 0.5  # polling mode's patience, shortened
    for attempt in range(3):
        # Each question is handled again for a while, then the user is told once.
        assert await bot.say(USER, f"during the outage {attempt}") == [texts.STORAGE_DOWN]
    await wait_ready(port, 503)
    assert await health(port) == 200, "the process is alive: no restart wanted"
    assert bot.llm.calls == 1, "no LLM call without a stored question"
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelname == "ERROR"]
    assert not tracebacks, "storage errors are one line each, not tracebacks"

    proxy.restore()
    assert await bot.say(USER, "after the outage") == ["Echo: after the outage"]
    await wait_ready(port, 200)
    assert await health(port) == 200
    history = [m["content"] for m in bot.llm.last_request["messages"][1:]]
    assert history == ["before the outage", "Echo: before the outage", "after the outage"]


async def test_a_question_sent_during_a_blip_is_answered_with_no_error_line(
    proxied_bot: tuple[BotHarness, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    """Polling mode handles a question again while the database is down (as Telegram
    redelivers a webhook update): stored and answered once it is back, and the user,
    who lost nothing, sees no error line (issue 34)."""
    bot, proxy = proxied_bot
    assert await bot.say(BLIP_USER, "before") == ["Echo: before"]
    proxy.cut()
    bot.tg.push_text(BLIP_USER, "during the blip")
    await poll_until(
        lambda: any("handling it again" in r.getMessage() for r in caplog.records),
        15,
        lambda: "the update was not handled again",
    )
    proxy.restore()
    await bot.settle(timeout=30)
    assert bot.tg.texts(BLIP_USER)[-1] == "Echo: during the blip"
    assert texts.STORAGE_DOWN not in bot.tg.texts(BLIP_USER)

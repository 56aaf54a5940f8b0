"""No secret in any log: the real bot, every record captured at DEBUG, searched for secrets.

A failed file download (aiohttp's error text carries `/file/bot<token>/`) and LLM calls
through a base URL with credentials (`http://user:pass@host/v1?api_key=...`, which the
HTTP client logs at INFO) are the two leaks reproduced here; the bot's own process is
checked too, since `main()` installs the redactor before anything logs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from ai_tg_bot.bot import texts
from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.llm.client import LLMError, LLMErrorKind
from tests.e2e.conftest import BotHarness, HarnessFactory
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

ALICE = 111
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
API_KEY = "sk-proj-test-0123456789abcdef"
PROXY_USER, PROXY_PASSWORD = "user", "secretpass"
GATEWAY_KEY = "gw-key-0123456789"
SECRETS = {
    "the bot token": TOKEN,
    "the token's secret half": TOKEN.partition(":")[2],
    "OPENAI_API_KEY": API_KEY,
    "the proxy password": PROXY_PASSWORD,
    "the gateway key": GATEWAY_KEY,
    "the Basic auth header": base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode(),
}
OGG = b"OggS\x00\x02" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
VOICE = {"file_id": "v1", "file_unique_id": "uv1", "duration": 3, "mime_type": "audio/ogg"}
PHOTO = [{"file_id": "p1", "file_unique_id": "up1", "width": 1280, "height": 960}]


def guarded_llm() -> FakeLLM:
    """An LLM behind a proxy that wants Basic auth and a gateway key in the query."""
    return FakeLLM(basic_auth=(PROXY_USER, PROXY_PASSWORD), required_query={"api_key": GATEWAY_KEY})


def base_url_with_credentials(llm: FakeLLM) -> str:
    with_userinfo = llm.base_url.replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@", 1)
    return f"{with_userinfo}?api_key={GATEWAY_KEY}"


def leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as a handler prints it (with exception and stack), msg, args."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    parts = [caplog.text]
    for record in caplog.records:
        parts += [formatter.format(record), str(record.msg), repr(record.args)]
    return "\n".join(parts)


@contextlib.asynccontextmanager
async def guarded_bot(database_url: str, **overrides: Any) -> AsyncIterator[BotHarness]:
    """The real bot with secrets worth stealing, started and stopped in the test body."""
    async with FakeTelegram() as tg, guarded_llm() as llm:
        values: dict[str, Any] = {
            "database_url": database_url,
            "telegram_bot_token": TOKEN,
            "telegram_api_url": tg.base_url,
            "openai_api_key": API_KEY,
            "openai_base_url": base_url_with_credentials(llm),
            "llm_model": "fake-model",
            "vision_models": "fake-model",
            "llm_timeout_seconds": 10,
            "llm_max_retries": 0,
            "stream_edit_interval_seconds": 0.05,
            "shutdown_grace_seconds": 10,
            "auto_migrate": False,
        }
        harness = BotHarness(tg, llm, Settings(_env_file=None, **(values | overrides)))
        await harness.start()
        try:
            yield harness
        finally:
            await harness.stop()


async def test_no_token_or_credential_reaches_any_log(
    database: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with guarded_bot(database_url, log_http_requests=True) as bot:
        # An LLM call through the credentials (the HTTP client logs its URL at INFO).
        assert await bot.say(ALICE, "hello") == ["Echo: hello"]
        # A voice message whose download fails: aiohttp's error text has the file URL.
        bot.tg.add_file("v1", OGG, "voice/file_1.oga")
        bot.tg.fail_next_download(404)
        assert await bot.push(ALICE, voice=VOICE) == [texts.TRANSCRIPTION_FAILED]
        # A photo whose download fails while its turn is answered.
        bot.tg.add_file("p1", JPEG, "photos/file_1.jpg")
        bot.tg.fail_next_download(500)
        replies = await bot.push(ALICE, photo=PHOTO, caption="what is this?")
        assert replies == [LLMError(LLMErrorKind.ATTACHMENT).user_message]
        assert bot.tg.failed_downloads == ["voice/file_1.oga", "photos/file_1.jpg"]
        assert bot.tg.downloads == []
        assert bot.llm.calls == 1, "the text turn only"

    logged = everything_logged(caplog)
    assert leaks(logged) == [], "secrets in the log"
    # The leaky lines were there, redacted: the test looked where the secrets would be.
    assert "HTTP Request: POST http://***@127.0.0.1:" in logged
    assert "/v1/chat/completions?api_key=***" in logged
    assert "not transcribed: MediaError: download: ClientResponseError status=404" in logged
    assert "download: ClientResponseError status=500" in logged


async def test_http_request_lines_are_off_by_default(
    make_bot: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await make_bot()
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


async def test_the_bot_process_logs_no_secret_at_debug(tmp_path: Path) -> None:
    """`python -m ai_tg_bot` at LOG_LEVEL=DEBUG, with the same two leaks provoked."""
    async with FakeTelegram() as tg, guarded_llm() as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "OPENAI_"))}
        env.pop("DATABASE_URL", None)
        env |= {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": tg.base_url,
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": base_url_with_credentials(llm),
            "LLM_MODEL": "fake-model",
            "LLM_MAX_RETRIES": "0",
            "LOG_LEVEL": "DEBUG",
            "LOG_HTTP_REQUESTS": "true",
        }
        log_path = tmp_path / "bot.log"
        # A file, not a pipe: a DEBUG log would fill a pipe nobody reads until the end.
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ai_tg_bot", cwd=tmp_path, env=env,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), 60, "polling")
                tg.add_file("v1", OGG, "voice/file_1.oga")
                tg.fail_next_download(404)
                tg.push_update({"message": tg.make_message(ALICE, voice=VOICE)})
                await tg.wait_for(lambda: tg.texts(ALICE) == [texts.TRANSCRIPTION_FAILED], 30)
                tg.push_text(ALICE, "hello")
                await tg.wait_for(lambda: tg.texts(ALICE)[-1:] == ["Echo: hello"], 30)
                process.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(process.wait(), 30) == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    logged = log_path.read_text()
    assert leaks(logged) == [], "secrets in the process's log"
    assert "HTTP Request: POST http://***@127.0.0.1:" in logged
    assert "not transcribed: MediaError: download: ClientResponseError status=404" in logged


# ---- the fakes' side of it: credentials checked strictly, downloads failed on purpose ----


async def test_the_fake_llm_wants_the_proxy_credentials_and_the_gateway_key() -> None:
    async with guarded_llm() as llm:
        host = llm.base_url.removeprefix("http://")
        tries = {
            "right": (f"http://{PROXY_USER}:{PROXY_PASSWORD}@{host}", GATEWAY_KEY),
            "wrong password": (f"http://{PROXY_USER}:nope@{host}", GATEWAY_KEY),
            "no userinfo (Bearer only)": (llm.base_url, GATEWAY_KEY),
            "no gateway key": (f"http://{PROXY_USER}:{PROXY_PASSWORD}@{host}", None),
        }
        outcomes = {}
        for name, (base_url, key) in tries.items():
            query = {"api_key": key} if key else None
            async with openai.AsyncOpenAI(
                base_url=base_url, api_key=API_KEY, default_query=query, max_retries=0
            ) as client:
                try:
                    await client.chat.completions.create(
                        model="fake-model", messages=[{"role": "user", "content": "hi"}]
                    )
                    outcomes[name] = "ok"
                except openai.AuthenticationError:
                    outcomes[name] = "401"
    assert outcomes == {
        "right": "ok",
        "wrong password": "401",
        "no userinfo (Bearer only)": "401",
        "no gateway key": "401",
    }


async def test_a_download_failed_on_purpose_fails_once() -> None:
    async with FakeTelegram() as tg:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        try:
            tg.add_file("v1", OGG, "voice/file_1.oga")
            tg.fail_next_download(404)
            with pytest.raises(aiohttp.ClientResponseError) as failed:
                await bot.download_file("voice/file_1.oga", io.BytesIO())
            assert failed.value.status == 404
            assert TOKEN in str(failed.value), "why the bot must not log this text"
            again = io.BytesIO()
            await bot.download_file("voice/file_1.oga", again)
            assert again.getvalue() == OGG
            with pytest.raises(aiohttp.ClientResponseError):  # an unknown path stays a 404
                await bot.download_file("voice/nope.oga", io.BytesIO())
        finally:
            await bot.session.close()
    assert (tg.failed_downloads, tg.downloads) == (["voice/file_1.oga"], ["voice/file_1.oga"])

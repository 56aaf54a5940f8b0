"""`python -m ai_tg_bot` as a user runs it: start-up checks, migrations, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

USER = 777


def bot_env(**values: str) -> dict[str, str]:
    """The environment minus any bot setting inherited from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "OPENAI_"))}
    env.pop("DATABASE_URL", None)
    return env | values


async def run_bot(cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ai_tg_bot",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("", "TELEGRAM_BOT_TOKEN is not set"),
        ("not-a-token", "Invalid setting TELEGRAM_BOT_TOKEN"),
    ],
)
async def test_a_missing_or_malformed_token_stops_start_up_with_one_line(
    tmp_path: Path, token: str, expected: str
) -> None:
    process = await run_bot(tmp_path, bot_env(TELEGRAM_BOT_TOKEN=token))
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert "Traceback" not in stderr.decode() + stdout.decode()


async def test_an_invalid_setting_is_named(tmp_path: Path) -> None:
    env = bot_env(TELEGRAM_BOT_TOKEN="123:abc", DEFAULT_MAX_HISTORY_MESSAGES="zero")
    process = await run_bot(tmp_path, env)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "DEFAULT_MAX_HISTORY_MESSAGES" in stderr.decode()


async def test_the_process_migrates_answers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    tg, llm = fakes
    env = bot_env(
        TELEGRAM_BOT_TOKEN="123456:PROCESS-test",
        TELEGRAM_API_URL=tg.base_url,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=llm.base_url,
        LLM_MODEL="fake-model",
        LLM_MAX_RETRIES="0",
        SHUTDOWN_GRACE_SECONDS="20",
    )
    # The default DATABASE_URL: ./data/bot.db, created on first start.
    process = await run_bot(tmp_path, env)
    try:
        await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), 60, "polling")
        tg.push_text(USER, "hello from a process")
        await tg.wait_for(lambda: tg.texts(USER) == ["Echo: hello from a process"], 30)
        assert (tmp_path / "data" / "bot.db").exists()

        # SIGTERM during a slow answer: it is finished and delivered, then exit 0.
        llm.stall_next(1.5, after_chunks=1)
        tg.push_text(USER, "slow one")
        await llm.wait_for_requests(2)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()[-2000:]
        assert tg.texts(USER)[-1] == "Echo: slow one"
        assert "Traceback" not in stderr.decode()
        assert "hello from a process" not in stderr.decode(), "message text logged at INFO"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

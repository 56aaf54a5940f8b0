"""Start-up (issue 28): the time from starting the process to its first getUpdates, the
real bot (`ai-tg-bot run`, SQLite, migrated) against a bare aiogram bot started the same
way in the same run; and the light commands (`--version`, `health`) the healthcheck runs.

Each is a real process against the loopback Telegram (and LLM) stand-ins; the median of
`repeats` starts is reported. Target: real / bare <= 1.5.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.stats import Result, Target, median
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

SCRIPT = str(Path(sys.executable).with_name("ai-tg-bot"))
TOKEN = "123456:STARTUP-bench"
BARE_BOT = """
import asyncio, sys
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(sys.argv[1]))
    bot = Bot(sys.argv[2], session=session)
    dispatcher = Dispatcher()
    await dispatcher.start_polling(bot, handle_signals=True, polling_timeout=1)

asyncio.run(main())
"""


@dataclass(frozen=True, slots=True)
class Config:
    repeats: int = 3


async def _first_poll(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawning `command` to the first getUpdates it sends."""
    async with FakeTelegram() as tg, FakeLLM() as llm:
        environment = env | {"TELEGRAM_API_URL": tg.base_url, "OPENAI_BASE_URL": llm.base_url}
        arguments = [a.replace("{telegram}", tg.base_url) for a in command]
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *arguments, cwd=cwd, env=environment,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), 120, "getUpdates")
            seconds = time.perf_counter() - started
        finally:
            process.terminate()
            await process.wait()
        return seconds


async def _wall(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await process.wait()
    return time.perf_counter() - started


async def run(config: Config, backends: tuple[str, ...]) -> Result:
    """Measure both starts `repeats` times, alternating, after one warm-up each."""
    del backends  # SQLite, the default a new user starts with
    folder = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOG_")}
    env |= {
        "TELEGRAM_BOT_TOKEN": TOKEN, "OPENAI_API_KEY": "bench", "LLM_MODEL": "fake-model",
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bot.db'}", "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    real = [SCRIPT, "run"]
    bare = [sys.executable, "-c", BARE_BOT, "{telegram}", TOKEN]
    first = await _first_poll(real, env, folder)  # migrates the fresh database
    await _first_poll(bare, env, folder)
    real_times, bare_times = [], []
    for _ in range(config.repeats):
        real_times.append(await _first_poll(real, env, folder))
        bare_times.append(await _first_poll(bare, env, folder))
    version = median([await _wall([SCRIPT, "--version"], env, folder) for _ in range(5)])
    health = median(
        [await _wall([SCRIPT, "health"], env | {"HEALTH_PORT": "1"}, folder) for _ in range(5)]
    )
    ratio = median(real_times) / median(bare_times)
    result = Result(
        name="startup",
        title="Start-up: process start to the first getUpdates, real bot vs bare aiogram",
        columns=["figure", "seconds"],
        params={"repeats": config.repeats},
    )
    result.rows += [
        ["real bot, first start (migrating a new SQLite file)", round(first, 2)],
        ["real bot, restart (median)", round(median(real_times), 2)],
        ["bare aiogram bot (median)", round(median(bare_times), 2)],
        ["real / bare", round(ratio, 2)],
        ["`ai-tg-bot --version` wall (median of 5)", round(version, 3)],
        ["`ai-tg-bot health` wall (median of 5)", round(health, 3)],
    ]
    result.targets.append(Target("real / bare aiogram time to first getUpdates", ratio, 1.5))
    result.targets.append(Target("`ai-tg-bot health` wall seconds", health, 0.3))
    result.targets.append(Target("`ai-tg-bot --version` wall seconds", version, 0.3))
    return result

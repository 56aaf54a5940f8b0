"""Benchmark 5: turns per second through the real bot against a bot with no history.

Both run aiogram over HTTP against the loopback Telegram stand-in, with an instant LLM
stand-in (both stand-ins in this process, costing both bots alike). The real bot is
`Application.create(settings)`; the baseline is bench/baseline.py's no-history bot (a
Dispatcher with one text handler that calls the same LLM client and replies with
`message.answer`). A burst of messages is queued, and the time until every one is
answered is measured; the two bots alternate burst by burst, and a repeat's figure is the
sum of its `bursts` bursts per bot, so that a scheduler hiccup is a small share of it.
The bursts run with the heap settled as `ai-tg-bot run` settles it before serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from ai_tg_bot.bot.app import Application
from ai_tg_bot.config.settings import Settings
from ai_tg_bot.process.runtime import settle_heap
from bench.baseline import NoHistoryBot
from bench.dbs import active_counts, bench_database, bench_settings, seed
from bench.stats import Result, Target, median
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:BENCH-token"
FIRST_USER = 1
EDIT_INTERVAL_SECONDS = 60.0  # the most Settings allows: one preview, then the final text


@dataclass(frozen=True, slots=True)
class Config:
    users: int = 20
    messages_per_user: int = 5
    repeats: int = 5  # the ratio is their median
    bursts: int = 3  # per bot in each repeat, the bots alternating burst by burst


def _settings(url: str, tg: FakeTelegram, llm: FakeLLM) -> Settings:
    return bench_settings(
        url, telegram_bot_token=TOKEN, telegram_api_url=tg.base_url, openai_api_key="bench",
        openai_base_url=llm.base_url, llm_model="fake-model", llm_timeout_seconds=30,
        llm_max_retries=0, stream_edit_interval_seconds=EDIT_INTERVAL_SECONDS,
        shutdown_grace_seconds=10, auto_migrate=False,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeLLM]]:
    tg = await FakeTelegram().start()
    llm = await FakeLLM(chunk_size=40).start()
    try:
        yield tg, llm
    finally:
        await tg.close()
        await llm.close()


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """The heap settled as `ai-tg-bot run` settles it before serving (frozen, rare full
    collections), until the block ends. This process holds both bots, both stand-ins and
    what earlier benchmarks imported: a full collection of all that paused a burst (half a
    second for the baseline's) for up to 0.3 s, whichever bot it fell on."""
    thresholds = gc.get_threshold()
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _polled(tg: FakeTelegram) -> bool:
    return bool(tg.method_calls("getUpdates"))


async def burst(tg: FakeTelegram, config: Config, done: Callable[[int], bool]) -> float:
    """Queue every user's messages at once; seconds until `done(messages)` holds."""
    total = config.users * config.messages_per_user
    started = time.perf_counter()
    for index in range(config.messages_per_user):
        for user_id in range(FIRST_USER, FIRST_USER + config.users):
            tg.push_text(user_id, f"Question {index} from {user_id}: what should I read next?")
    await tg.wait_for(lambda: done(total), timeout=300, what=f"{total} answers")
    return time.perf_counter() - started


async def measure(backend: str, config: Config) -> dict[str, Any]:
    async with (
        bench_database(backend) as url,
        fakes() as (real_tg, real_llm),
        fakes() as (base_tg, base_llm),
    ):
        await seed(url, FIRST_USER, config.users, messages_per_user=60, active=50)
        app = Application.create(_settings(url, real_tg, real_llm))
        baseline = NoHistoryBot(_settings(url, base_tg, base_llm))
        tasks = [
            asyncio.create_task(app.run_polling(handle_signals=False, polling_timeout=1)),
            asyncio.create_task(baseline.run_polling()),
        ]
        for tg in (real_tg, base_tg):
            await tg.wait_for(partial(_polled, tg), what="polling")

        before = {"real": 0, "baseline": 0}

        def real_done(expected: int) -> bool:
            return (real_llm.calls >= before["real"] + expected
                    and real_tg.updates_pending() == 0 and app.ordering.in_flight == 0)  # fmt: skip

        def base_done(expected: int) -> bool:
            return baseline.handled >= before["baseline"] + expected

        async def one(name: str) -> float:
            before.update(real=real_llm.calls, baseline=baseline.handled)
            tg, done = (real_tg, real_done) if name == "real" else (base_tg, base_done)
            return await burst(tg, config, done)

        seconds: dict[str, list[float]] = {"real": [], "baseline": []}
        try:
            for name in ("baseline", "real"):  # a warm-up burst each
                await one(name)
            with settled_heap():
                for repeat in range(config.repeats):
                    spent = {"real": 0.0, "baseline": 0.0}
                    for index in range(config.bursts):
                        first = (repeat * config.bursts + index) % 2
                        for name in ("real", "baseline") if first else ("baseline", "real"):
                            spent[name] += await one(name)
                    for name, total in spent.items():
                        seconds[name].append(total)
        finally:
            await app.stop()
            await baseline.dispatcher.stop_polling()
            await asyncio.gather(*tasks)
        active = await active_counts(url, FIRST_USER, config.users)
    turns = config.users * config.messages_per_user
    per_repeat = turns * config.bursts
    bursts = 1 + config.repeats * config.bursts  # per bot, the warm-up's included
    ratios = [b / r for r, b in zip(seconds["real"], seconds["baseline"], strict=True)]
    return {
        "turns_per_burst": turns,
        "real_turns_per_second": median([per_repeat / s for s in seconds["real"]]),
        "baseline_turns_per_second": median([per_repeat / s for s in seconds["baseline"]]),
        "ratio": median(ratios),
        "ratios": [round(r, 3) for r in ratios],
        "baseline_turns_per_second_each": [round(per_repeat / s, 1) for s in seconds["baseline"]],
        "real_turns_per_second_each": [round(per_repeat / s, 1) for s in seconds["real"]],
        "llm_calls": {"real": real_llm.calls, "baseline": base_llm.calls},
        "history_ok": len(active) == config.users and set(active.values()) == {50},
        "telegram_calls_per_turn": {
            "real": round(len(real_tg.calls) / (turns * bursts), 2),
            "baseline": round(len(base_tg.calls) / (turns * bursts), 2),
        },
    }


async def run(config: Config, backends: tuple[str, ...]) -> Result:
    """Benchmark 5 on each backend."""
    result = Result(
        name="end_to_end",
        title="End to end through aiogram: real bot vs a bot with no history (benchmark 5)",
        columns=["backend", "turns per burst", "real bot turns/s", "no-history turns/s",
                 "ratio", "ratio min-max", "Telegram calls/turn (real, baseline)"],
        params={"users": config.users, "messages_per_user": config.messages_per_user,
                "repeats": config.repeats, "bursts": config.bursts,
                "stream_edit_interval_seconds": EDIT_INTERVAL_SECONDS},
    )  # fmt: skip
    for backend in backends:
        found = await measure(backend, config)
        result.raw[backend] = found
        calls = found["telegram_calls_per_turn"]
        result.rows.append([backend, found["turns_per_burst"], found["real_turns_per_second"],
                            found["baseline_turns_per_second"], found["ratio"],
                            f"{min(found['ratios']):.2f}-{max(found['ratios']):.2f}",
                            f"{calls['real']:g}, {calls['baseline']:g}"])  # fmt: skip
        result.targets.append(Target(f"{backend}: real bot / no-history bot turns per second",
                                     found["ratio"], 0.6, higher_is_better=True))  # fmt: skip
    result.notes.append(
        f"stream_edit_interval_seconds={EDIT_INTERVAL_SECONDS:g}, so streaming edits do not "
        "dominate: the real bot still shows a typing action, one preview message and the final "
        "edit. Users start with a full history (50 messages). Telegram calls per turn include "
        "getUpdates. Both stand-ins run in this process. A repeat times "
        f"{config.bursts} bursts per bot, the bots alternating burst by burst; ratio = the "
        f"median over {config.repeats} repeats of (no-history seconds / real seconds), "
        "min-max its spread; turns/s are medians too. A warm-up burst each first, then "
        "the heap settled as `ai-tg-bot run` does."
    )
    return result

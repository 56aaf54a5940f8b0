"""Benchmark 4: many users mid-answer at once with a slow LLM and a pool of 10.

Every user sends a message at the same moment (`turns_per_user` times in a row) through
TurnService.turn: store the question, load the context, stream the answer from an LLM
stand-in that pauses `delay` seconds mid-answer (no session held meanwhile), store the
answer. The stand-in runs in its own process so its CPU and memory are not the bot's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ai_tg_bot.db.database import Database
from ai_tg_bot.llm.client import LLMClient
from ai_tg_bot.storage import DialogueStore, Question
from ai_tg_bot.turns.service import TurnService
from ai_tg_bot.turns.views import TurnResult
from bench.dbs import active_counts, bench_database, bench_settings, seed
from bench.floor import open_floor
from bench.machine import reset_peak_rss, stop_child
from bench.probe import rss_mb
from bench.stats import Result, Target, median, percentile

FIRST_USER = 1
QUESTION = "Tell me something about the history of Paris, briefly please."
_turn_storage: ContextVar[list[float]] = ContextVar("bench_turn_storage")


@dataclass(frozen=True, slots=True)
class Config:
    users: int = 1_000
    delay_seconds: float = 2.0
    turns_per_user: int = 1
    pool_size: int = 10
    repeats: int = 3


class _View:
    """Shows nothing; remembers how the answer ended."""

    def __init__(self, outcomes: list[bool]) -> None:
        self.outcomes = outcomes

    async def heard(self, transcript: str) -> None:
        """Nothing to show."""

    async def think(self, piece: str) -> None:
        return None

    async def halt(self) -> None:
        return None

    async def feed(self, piece: str) -> None:
        return None

    async def tool_used(self, name: str) -> None:
        return None

    async def show(self, result: TurnResult) -> None:
        self.outcomes.append(result.ok)


class NullPresenter:
    """A TurnService presenter for a bot with no screen: counts answers and failures."""

    def __init__(self) -> None:
        self.outcomes: list[bool] = []

    @contextlib.asynccontextmanager
    async def view(self, question: Question) -> AsyncIterator[_View]:
        yield _View(self.outcomes)


class Instruments:
    """Times every DialogueStore coroutine (per call and per turn) and counts turns mid-answer."""

    def __init__(self, storage: DialogueStore, llm: LLMClient) -> None:
        self.calls: list[float] = []
        self.in_llm = 0
        self.peak_in_llm = 0
        for name, method in inspect.getmembers(storage, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                setattr(storage, name, self._timed(method))
        stream = llm.stream

        async def counted(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
            self.in_llm += 1
            self.peak_in_llm = max(self.peak_in_llm, self.in_llm)
            try:
                async for piece in stream(*args, **kwargs):
                    yield piece
            finally:
                self.in_llm -= 1

        llm.stream = counted  # type: ignore[method-assign]

    def _timed(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self.calls.append(elapsed)
                with contextlib.suppress(LookupError):
                    _turn_storage.get().append(elapsed)

        return timed


@contextlib.asynccontextmanager
async def llm_process(delay: float, stalls: int) -> AsyncIterator[str]:
    """The LLM stand-in in a child process; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.llm_server", "--delay", str(delay), "--stalls", str(stalls),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line.startswith(b"http"):
            raise RuntimeError(f"the LLM stand-in did not start: {line!r}")
        yield line.decode().strip()
    finally:
        await stop_child(process)


async def one_run(chat: TurnService, config: Config) -> dict[str, Any]:
    """All users at once; returns per-turn storage time, outcomes and the wall time."""
    per_turn: list[float] = []
    turn_seconds: list[float] = []
    errors: Counter[str] = Counter()
    presenter = NullPresenter()

    async def user(user_id: int) -> None:
        for _ in range(config.turns_per_user):
            spent: list[float] = []
            _turn_storage.set(spent)
            started = time.perf_counter()
            try:
                await chat.turn(user_id, QUESTION, presenter)
            except Exception as exc:  # what a real user would get: counted, not fatal
                errors[type(exc).__name__] += 1
                continue
            turn_seconds.append(time.perf_counter() - started)
            per_turn.append(sum(spent))

    started = time.perf_counter()
    await asyncio.gather(*(user(FIRST_USER + n) for n in range(config.users)))
    failed = config.users * config.turns_per_user - sum(presenter.outcomes)
    return {"wall": time.perf_counter() - started, "storage": per_turn,
            "turn_seconds": turn_seconds, "failed": failed, "errors": dict(errors)}  # fmt: skip


async def measure(backend: str, config: Config) -> dict[str, Any]:
    turns = config.users * config.turns_per_user
    async with bench_database(backend) as url, llm_process(
        config.delay_seconds, turns * (config.repeats + 1)
    ) as llm_url:  # fmt: skip
        await seed(url, FIRST_USER, config.users, messages_per_user=60, active=50)
        settings = bench_settings(
            url, openai_base_url=llm_url, openai_api_key="bench", llm_model="fake-model",
            llm_timeout_seconds=120, llm_max_retries=0, db_pool_size=config.pool_size,
            db_max_overflow=0,
        )  # fmt: skip
        database = Database(url, pool_size=config.pool_size, max_overflow=0)
        llm = LLMClient(settings)
        storage = DialogueStore(database, settings)
        instruments = Instruments(storage, llm)
        chat = TurnService(storage, llm)
        runs = []
        try:
            # Connections opened, statements prepared.
            await chat.turn(FIRST_USER, "warm up", NullPresenter())
            baseline_mb = rss_mb()
            reset = reset_peak_rss()
            peak_sampled = baseline_mb
            for _ in range(config.repeats):
                instruments.peak_in_llm = 0
                task = asyncio.create_task(one_run(chat, config))
                while not task.done():
                    peak_sampled = max(peak_sampled, rss_mb())
                    await asyncio.sleep(0.05)
                runs.append(task.result() | {"peak_in_llm": instruments.peak_in_llm})
            peak_mb = max(peak_sampled, rss_mb("VmHWM") if reset else 0.0)
        finally:
            await llm.close()
            await database.close()
        active = await active_counts(url, FIRST_USER, config.users)
    storage_p99 = [1000 * percentile(r["storage"], 0.99) for r in runs]
    return {
        "turns_per_run": turns,
        "completed": [turns - r["failed"] for r in runs],
        "all_completed": all(r["failed"] == 0 and len(r["storage"]) == turns for r in runs),
        "errors": [r["errors"] for r in runs],
        "history_ok": len(active) == config.users and set(active.values()) == {50},
        "active_messages": sum(active.values()),
        "peak_in_llm": [r["peak_in_llm"] for r in runs],
        "storage_p50_ms": median([1000 * percentile(r["storage"], 0.5) for r in runs]),
        "storage_p99_ms": median(storage_p99),
        "storage_call_p99_ms": 1000 * percentile(instruments.calls, 0.99),
        "turn_p50_s": median([percentile(r["turn_seconds"], 0.5) for r in runs]),
        "turn_p99_s": median([percentile(r["turn_seconds"], 0.99) for r in runs]),
        "wall_s": median([r["wall"] for r in runs]),
        "rss_baseline_mb": baseline_mb,
        "rss_peak_mb": peak_mb,
    }


async def floor_herd(backend: str, config: Config) -> dict[str, Any]:
    """The same herd on the raw drivers: storage with nothing else in the process.

    Every user at once: store the question and read the context (the turn's first
    transaction), wait `delay` seconds (no LLM client, so no CPU spent meanwhile), store
    the answer, over `pool_size` connections. The best any design that gives each turn
    its own transactions can do; the project's herd figures are read against it.
    """
    async with bench_database(backend) as url:
        await seed(url, FIRST_USER, config.users, messages_per_user=60, active=50)
        settings = bench_settings(url)
        async with open_floor(url, settings, config.pool_size) as floor:

            async def user(user_id: int) -> list[float]:
                per_turn = []
                for _ in range(config.turns_per_user):
                    started = time.perf_counter()
                    asked = await floor.add_message(user_id, "user", QUESTION, quota=True)
                    await floor.load_context(user_id, asked)
                    spent = time.perf_counter() - started
                    await asyncio.sleep(config.delay_seconds)
                    started = time.perf_counter()
                    await floor.add_message(user_id, "assistant", "An answer.",
                                            usage=("m", 1, 1), conversation_id=asked)  # fmt: skip
                    per_turn.append(spent + time.perf_counter() - started)
                return per_turn

            runs = []
            for _ in range(config.repeats):
                users = range(FIRST_USER, FIRST_USER + config.users)
                turns = await asyncio.gather(*(user(n) for n in users))
                runs.append([seconds for one in turns for seconds in one])
    return {
        "storage_p50_ms": median([1000 * percentile(r, 0.5) for r in runs]),
        "storage_p99_ms": median([1000 * percentile(r, 0.99) for r in runs]),
    }


def _ratio(found: dict[str, Any]) -> float:
    floor = found["floor"]["storage_p99_ms"]
    return round(found["storage_p99_ms"] / floor, 3) if floor else 0.0


def _in_fresh_process(backend: str, config: Config) -> dict[str, Any]:
    """Benchmark 4 for one backend, in a process of its own: its peak RSS is its own."""
    logging.basicConfig(level=logging.WARNING)
    found = asyncio.run(measure(backend, config))
    return found | {"floor": asyncio.run(floor_herd(backend, config))}


async def run(config: Config, backends: tuple[str, ...]) -> Result:
    """Benchmark 4 on each backend (each in a fresh process)."""
    result = Result(
        name="slow_llm",
        title=f"{config.users:,} users mid-answer, LLM {config.delay_seconds:g} s, "
        f"pool of {config.pool_size} (benchmark 4)",
        columns=["backend", "turns", "completed", "peak mid-answer", "storage p50 ms",
                 "storage p99 ms", "floor p99 ms", "turn p99 s", "wall s", "peak RSS MB"],
        params={"users": config.users, "delay_seconds": config.delay_seconds,
                "turns_per_user": config.turns_per_user, "pool_size": config.pool_size,
                "repeats": config.repeats},
    )  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    for backend in backends:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            found = await asyncio.get_running_loop().run_in_executor(
                pool, _in_fresh_process, backend, config
            )
        result.raw[backend] = found
        result.rows.append([
            backend, found["turns_per_run"], min(found["completed"]), max(found["peak_in_llm"]),
            found["storage_p50_ms"], found["storage_p99_ms"], found["floor"]["storage_p99_ms"],
            found["turn_p99_s"],
            found["wall_s"], found["rss_peak_mb"],
        ])  # fmt: skip
        if any(found["errors"]):
            result.notes.append(f"{backend}: turns that raised, per run: {found['errors']}")
        result.targets += [
            Target(f"{backend}: turns not completed", found["turns_per_run"]
                   - min(found["completed"]), 0),
            Target(f"{backend}: storage p99 / raw-driver floor p99", _ratio(found), 3),
            Target(f"{backend}: peak RSS, MB", found["rss_peak_mb"], 300),
        ]  # fmt: skip
    result.notes.append(
        "DialogueStore time per turn = the time spent inside DialogueStore calls during that turn "
        "(waiting for a pooled connection included), summed over the turns that completed; "
        "a turn that raised (e.g. the pool's 30 s checkout timeout) counts as not completed. "
        "The LLM stand-in runs in a separate process and pauses mid-answer. Peak RSS is this "
        "process's VmHWM, reset before the runs; each backend runs in a fresh process. "
        "floor p99 = the same herd on the raw drivers (bench/floor.py) with no LLM client "
        "in the process: what per-turn transactions cost at best when every user arrives "
        "at the same instant (on SQLite: the standard library's sqlite3 on the loop, as "
        "the bot's driver since ADR 0017)."
    )
    return result

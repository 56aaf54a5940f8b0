"""Benchmark 7: webhook turns per second with 1 and 2 worker processes (WEBHOOK_WORKERS).

The real thing, in processes: `python -m ai_tg_bot run` in webhook mode (WEBHOOK_WORKERS=1:
the one process; 2: a supervisor and two workers sharing the port with SO_REUSEPORT), a
Telegram stand-in (`python -m bench.workers telegram`, this module) and an instant LLM
stand-in (bench/llm_server.py), each in its own process so their CPU is not the bot's, on
a fresh database per run. This process posts webhook updates as Telegram does: every user
at once, each user's messages in order (a POST returns once the message is stored), and
times a burst from its first POST until the Telegram stand-in has received every answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.engine import make_url

from bench.dbs import active_counts, bench_database, seed
from bench.machine import ROOT, stop_child
from bench.stats import Result, Target, median
from tests.fakes.telegram import FakeTelegram
from tests.ports import free_port

TOKEN = "123456:BENCH-workers"
SECRET = "bench-workers-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"
FIRST_USER = 1
START_TIMEOUT = 180.0  # three interpreters importing aiogram at once on a busy machine
BURST_TIMEOUT = 300.0
# Log lines of answered turns: "[worker 1] ai_tg_bot.answering: turn user_id=..." (two
# workers), without the tag for one process.
TURN_LINE = re.compile(r"(?:\[worker (\d+)\] )?ai_tg_bot\.answering: turn user_id=")
SPEEDUP_TARGET = 1.3


@dataclass(frozen=True, slots=True)
class Config:
    workers: tuple[int, ...] = (1, 2)
    users: int = 40
    messages_per_user: int = 10
    repeats: int = 5


# ---- the Telegram stand-in, in a process of its own --------------------------------------


async def serve_telegram(first_user: int, users: int) -> None:
    """FakeTelegram, and a control server: GET /wait?answers=N returns once N answers
    ("Echo: ..." messages) were sent, GET /state the counts. Prints both base URLs on one
    line; serves until stdin closes."""
    async with FakeTelegram() as tg:
        tg.start_private_chat(*range(first_user, first_user + users))  # the users wrote
        seen = {"scanned": 0, "answers": 0}

        def answers() -> int:
            for message in tg.sent[seen["scanned"] :]:
                seen["answers"] += message.text.startswith("Echo: ")
            seen["scanned"] = len(tg.sent)
            return seen["answers"]

        def state() -> dict[str, int]:
            return {"answers": answers(), "sent": len(tg.sent), "calls": len(tg.calls),
                    "webhooks": len(tg.method_calls("setWebhook"))}  # fmt: skip

        async def wait(request: web.Request) -> web.Response:
            wanted = int(request.query["answers"])
            timeout = float(request.query.get("timeout", BURST_TIMEOUT))
            await tg.wait_for(lambda: answers() >= wanted, timeout, f"{wanted} answers")
            return web.json_response(state())

        async def get_state(request: web.Request) -> web.Response:
            return web.json_response(state())

        control = web.Application()
        control.router.add_get("/wait", wait)
        control.router.add_get("/state", get_state)
        runner = web.AppRunner(control, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            print(tg.base_url, f"http://127.0.0.1:{port}", flush=True)
            await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
        finally:
            await runner.cleanup()


@asynccontextmanager
async def telegram_process(users: int) -> AsyncIterator[tuple[str, str, int]]:
    """The Telegram stand-in in a child process; yields its base URL, its control URL and
    its pid."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.workers", "telegram", "--first-user", str(FIRST_USER),
        "--users", str(users), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        urls = line.decode().split()
        if len(urls) != 2 or not all(u.startswith("http") for u in urls):
            raise RuntimeError(f"the Telegram stand-in did not start: {line!r}")
        yield urls[0], urls[1], process.pid
    finally:
        await stop_child(process)


# ---- the bot ------------------------------------------------------------------------------


def bot_env(url: str, telegram: str, llm: str, port: int, workers: int) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("TELEGRAM_", "OPENAI_", "WEBHOOK_", "LLM_", "LOG_", "DB_"))
                 and k not in {"DATABASE_URL", "HEALTH_PORT"}}  # fmt: skip
    return inherited | {
        "DATABASE_URL": url, "AUTO_MIGRATE": "false", "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram, "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": llm,
        "LLM_MODEL": "fake-model", "LLM_MAX_RETRIES": "0", "LLM_TIMEOUT_SECONDS": "60",
        "WEBHOOK_URL": "https://bench.example.test", "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_PATH": WEBHOOK_PATH, "WEBHOOK_LISTEN_HOST": "127.0.0.1",
        "WEBHOOK_LISTEN_PORT": str(port), "WEBHOOK_WORKERS": str(workers),
        # As benchmark 5: one message per answer, no per-minute limit, a daily one that
        # never bites but is still checked.
        "STREAM_EDIT_INTERVAL_SECONDS": "60", "RATE_LIMIT_PER_MINUTE": "0",
        "DAILY_MESSAGE_LIMIT": "1000000", "SHUTDOWN_GRACE_SECONDS": "10", "LOG_LEVEL": "INFO",
    }  # fmt: skip


@dataclass
class Bot:
    """The bot's processes, the clients the bench talks to them with, and its log."""

    process: asyncio.subprocess.Process
    port: int
    control: str
    http: aiohttp.ClientSession
    log_path: Path
    before: dict[str, int]  # the Telegram stand-in's counts before this bot started

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def state(self) -> dict[str, int]:
        """The Telegram stand-in's counts since this bot started."""
        now = await telegram_state(self.http, self.control)
        return {k: v - self.before[k] for k, v in now.items()}

    async def wait_ready(self, workers: int) -> None:
        """Until every worker answers /healthz (each probe on a new connection), /readyz
        answers 200 and the webhook is registered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        seen: set[Any] = set()
        wanted = set(range(workers)) if workers > 1 else {None}
        base = f"http://127.0.0.1:{self.port}"
        while True:
            if self.process.returncode is not None:
                raise RuntimeError(f"the bot exited with {self.process.returncode}:\n"
                                   f"{self.log()[-3000:]}")  # fmt: skip
            with contextlib.suppress(aiohttp.ClientError):
                async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(force_close=True)
                ) as probe:
                    async with probe.get(base + "/healthz") as response:
                        if response.status == 200:
                            seen.add((await response.json()).get("worker"))
                    async with probe.get(base + "/readyz") as response:
                        ready = response.status == 200
                    if seen >= wanted and ready and (await self.state())["webhooks"]:
                        return
            if loop.time() >= deadline:
                raise RuntimeError(f"the bot was not ready in {START_TIMEOUT:.0f}s "
                                   f"(workers seen: {seen}):\n{self.log()[-3000:]}")  # fmt: skip
            await asyncio.sleep(0.1)

    async def stop(self) -> int:
        """SIGTERM, and its exit code (killed after a minute)."""
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode

    def turns_by_worker(self) -> dict[str, int]:
        counts = Counter(worker or "-" for worker in TURN_LINE.findall(self.log()))
        return dict(sorted(counts.items()))


async def telegram_state(http: aiohttp.ClientSession, control: str) -> dict[str, int]:
    """The Telegram stand-in's counts: answers, messages sent, calls, setWebhook calls."""
    async with http.get(control + "/state") as response:
        return {k: int(v) for k, v in (await response.json()).items()}


@asynccontextmanager
async def bot_process(env: dict[str, str], control: str, folder: Path) -> AsyncIterator[Bot]:
    port = int(env["WEBHOOK_LISTEN_PORT"])
    log_path = folder / "bot.log"
    # Keep-alive connections, as Telegram keeps them: one per user at most.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=BURST_TIMEOUT + 60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        before = await telegram_state(http, control)
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ai_tg_bot", "run", cwd=folder, env=env,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            bot = Bot(process, port, control, http, log_path, before)
            try:
                yield bot
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()


# ---- the load -----------------------------------------------------------------------------

_update_ids = itertools.count(1)


def update(user_id: int, text: str) -> dict[str, Any]:
    """A private text message as Telegram delivers it to a webhook."""
    number = next(_update_ids)
    person = {"id": user_id, "is_bot": False, "first_name": "User", "language_code": "en"}
    chat = {"id": user_id, "type": "private", "first_name": "User"}
    message = {"message_id": 1_000_000 + number, "from": person, "chat": chat,
               "date": int(time.time()), "text": text}  # fmt: skip
    return {"update_id": number, "message": message}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """The whole machine's CPU time so far, busy and in all, from /proc/stat (Linux)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, first[1:9])
    except (OSError, ValueError):
        return 0, 0
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return total - idle - iowait, total


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used so far (0 once it is gone), from /proc (Linux)."""
    try:  # utime and stime: fields 14 and 15, counted after the ")" closing the name
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except (OSError, ValueError):
        return []


def database_backends(name: str) -> list[int]:
    """The PostgreSQL server processes serving database `name` (their title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes()
                if title.startswith(b"postgres: ") and f" {name} ".encode() in title:
                    found.append(int(entry.name))
    return found


@dataclass(frozen=True, slots=True)
class CpuMeter:
    """CPU seconds of everything a turn costs, by whom: the bot's processes, PostgreSQL
    (this database's server processes), the stand-ins, and this process (the poster)."""

    bot: int
    stand_ins: tuple[int, ...]
    database: str | None  # a PostgreSQL database's name; None: SQLite (in the bot)

    def read(self) -> dict[str, dict[int, float]]:
        backends = database_backends(self.database) if self.database else []
        return {
            "bot": {pid: process_cpu(pid) for pid in [self.bot, *children(self.bot)]},
            "postgresql": {pid: process_cpu(pid) for pid in backends},
            "stand-ins": {pid: process_cpu(pid) for pid in self.stand_ins},
            "poster": {0: time.process_time()},
        }

    @staticmethod
    def spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
              ) -> dict[str, float]:  # fmt: skip
        """Seconds used between two readings (a process born meanwhile: all of its own)."""
        return {who: sum(t - before[who].get(pid, 0.0) for pid, t in now.items())
                for who, now in after.items()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Burst:
    seconds: float
    cpu: dict[str, float]  # CPU seconds by whom (CpuMeter)
    machine_busy: float  # the fraction of all cores busy (anything at all)


async def burst(bot: Bot, meter: CpuMeter, users: int, per_user: int, label: str) -> Burst:
    """Every user posts `per_user` messages in order, all users at once; timed from the
    first POST until every answer has reached the Telegram stand-in."""
    url = f"http://127.0.0.1:{bot.port}{WEBHOOK_PATH}"
    headers = {SECRET_HEADER: SECRET}
    answered = (await telegram_state(bot.http, bot.control))["answers"]  # all runs

    async def user(user_id: int) -> None:
        for n in range(per_user):
            text = f"Question {label}.{n} from {user_id}: what should I read next?"
            async with bot.http.post(url, json=update(user_id, text), headers=headers) as got:
                if got.status != 200:
                    raise RuntimeError(f"the webhook answered {got.status}: {await got.text()}")

    cpu, (busy, total) = meter.read(), machine_jiffies()
    started = time.perf_counter()
    await asyncio.gather(*(user(FIRST_USER + u) for u in range(users)))
    wanted = answered + users * per_user
    params = {"answers": str(wanted), "timeout": str(BURST_TIMEOUT)}
    async with bot.http.get(bot.control + "/wait", params=params) as response:
        if response.status != 200:
            raise RuntimeError(f"not every answer arrived: {await response.text()}")
    seconds = time.perf_counter() - started
    busy_after, total_after = machine_jiffies()
    busy_share = (busy_after - busy) / (total_after - total) if total_after > total else 0.0
    return Burst(seconds, CpuMeter.spent(cpu, meter.read()), busy_share)


@dataclass(frozen=True, slots=True)
class StandIns:
    llm_url: str
    telegram_url: str
    control: str
    pids: tuple[int, ...]


@asynccontextmanager
async def llm_stand_in() -> AsyncIterator[tuple[str, int]]:
    """The instant LLM stand-in (bench/llm_server.py) in a child process: URL and pid."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.llm_server", "--delay", "0", cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        if not line.startswith(b"http"):
            raise RuntimeError(f"the LLM stand-in did not start: {line!r}")
        yield line.decode().strip(), process.pid
    finally:
        await stop_child(process)


@asynccontextmanager
async def stand_ins(users: int) -> AsyncIterator[StandIns]:
    """The LLM and Telegram stand-ins, started together."""
    async with contextlib.AsyncExitStack() as stack:
        (llm_url, llm_pid), (telegram_url, control, telegram_pid) = await asyncio.gather(
            stack.enter_async_context(llm_stand_in()),
            stack.enter_async_context(telegram_process(users)),
        )
        yield StandIns(llm_url, telegram_url, control, (llm_pid, telegram_pid))


async def measure(backend: str, workers: int, config: Config, given: StandIns) -> dict[str, Any]:
    """One run on a fresh database: the bot with `workers` processes."""
    turns = config.users * config.messages_per_user
    async with bench_database(backend) as url:
        await seed(url, FIRST_USER, config.users, messages_per_user=60, active=50)
        with tempfile.TemporaryDirectory(prefix="ai_tg_bot_workers_") as folder:
            env = bot_env(url, given.telegram_url, given.llm_url, free_port(), workers)
            async with bot_process(env, given.control, Path(folder)) as bot:
                await bot.wait_ready(workers)
                database = make_url(url).database if backend == "postgresql" else None
                meter = CpuMeter(bot.process.pid, given.pids, database)
                # Connections opened, statements prepared, in every worker.
                await burst(bot, meter, config.users, 1, "warm-up")
                bursts = [await burst(bot, meter, config.users, config.messages_per_user,
                                      f"r{r}") for r in range(config.repeats)]  # fmt: skip
                exit_code = await bot.stop()
                state = await bot.state()
                by_worker = bot.turns_by_worker()
        active = await active_counts(url, FIRST_USER, config.users)
    asked = config.users * (1 + config.repeats * config.messages_per_user)
    return {
        "workers": workers,
        "turns_per_burst": turns,
        "seconds": [b.seconds for b in bursts],
        "turns_per_second": median([turns / b.seconds for b in bursts]),
        "cpu_ms_per_turn": {
            who: median([1000 * b.cpu[who] / turns for b in bursts]) for who in bursts[0].cpu
        },
        "machine_busy_percent": median([100 * b.machine_busy for b in bursts]),
        "answers": state["answers"],
        "asked": asked,
        "turns_by_worker": by_worker,
        "telegram_calls_per_turn": round(state["calls"] / asked, 2),
        "exit_code": exit_code,
        "history_ok": len(active) == config.users and set(active.values()) == {50},
    }


async def run(config: Config, backends: tuple[str, ...]) -> Result:
    """Benchmark 7 on each backend: one run per worker count."""
    result = Result(
        name="workers",
        title="Webhook turns per second with 1 and 2 worker processes, WEBHOOK_WORKERS "
        "(benchmark 7)",
        columns=["backend", "workers", "turns per burst", "turns/s", "speed-up",
                 "bot CPU ms/turn", "PostgreSQL, stand-ins, poster CPU ms/turn",
                 "machine CPU busy %", "turns per worker", "answers / asked", "exit code"],
        params={"workers": list(config.workers), "users": config.users,
                "messages_per_user": config.messages_per_user, "repeats": config.repeats,
                "cores": os.cpu_count()},
    )  # fmt: skip
    for backend in backends:
        async with stand_ins(config.users) as given:
            runs = {n: await measure(backend, n, config, given) for n in config.workers}
        base = runs[min(runs)]["turns_per_second"]
        for n, found in runs.items():
            speedup = found["turns_per_second"] / base if base else 0.0
            found["speedup"] = speedup
            spread = ", ".join(f"{w}: {c}" for w, c in found["turns_by_worker"].items())
            cpu = found["cpu_ms_per_turn"]
            others = ", ".join(f"{cpu[who]:.1f}" for who in ("postgresql", "stand-ins", "poster"))
            result.rows.append([backend, n, found["turns_per_burst"], found["turns_per_second"],
                                speedup, cpu["bot"], others, found["machine_busy_percent"],
                                spread,
                                f"{found['answers']} / {found['asked']}",
                                found["exit_code"]])  # fmt: skip
        result.raw[backend] = {str(n): found for n, found in runs.items()}
        if 1 in runs and 2 in runs:
            result.targets.append(Target(f"{backend}: 2 workers / 1 worker, turns per second",
                                         runs[2]["speedup"], SPEEDUP_TARGET,
                                         higher_is_better=True))  # fmt: skip
    result.notes.append(
        "Real processes: the bot (`python -m ai_tg_bot run`, webhook mode), a Telegram "
        "stand-in and an instant LLM stand-in, each in its own process (the stand-ins serve "
        "both runs), on a fresh database per run, on a "
        f"{os.cpu_count()}-core machine that also runs PostgreSQL and this process. Each "
        "user starts with a full history (50 messages); every user posts at once, each "
        "user's messages in order over keep-alive connections (the kernel spreads "
        "connections, not requests, over the workers); a burst is timed from its first POST "
        "to its last answer at the Telegram stand-in, after a warm-up burst. Turns per "
        f"worker: the workers' log lines. Bot CPU ms/turn: the CPU time of the bot's "
        "processes (supervisor and workers) during the bursts, per turn; machine CPU busy: "
        "the share of all cores busy meanwhile (PostgreSQL, the stand-ins and this process "
        f"included, from /proc/stat). The speed-up target ({SPEEDUP_TARGET:g}) is reported, "
        "not enforced: a second worker can only use a core the rest of the machine leaves "
        "idle."
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="benchmark 7's Telegram stand-in")
    parser.add_argument("role", choices=["telegram"])
    parser.add_argument("--first-user", type=int, default=FIRST_USER)
    parser.add_argument("--users", type=int, default=0, help="users who have started the bot")
    args = parser.parse_args()
    asyncio.run(serve_telegram(args.first_user, args.users))


if __name__ == "__main__":
    main()

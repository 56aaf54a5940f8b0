"""WEBHOOK_WORKERS=2: one `python -m ai_tg_bot` supervising two worker processes that
share one port (SO_REUSEPORT), on a fresh PostgreSQL, against loopback Telegram and LLM
stand-ins. Updates are posted over HTTP as Telegram does, each on a new connection, so
the kernel spreads them over the workers.

The tests share the processes and run in file order: answering across both workers,
a worker killed with SIGKILL and replaced, then SIGTERM to the supervisor (last).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.dbs import create_pg_database, drop_pg_database
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram
from tests.fakes.waiting import poll_until, poll_until_async
from tests.ports import free_port

Json = dict[str, Any]
SECRET = "workers-Secret_123"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_BASE = "https://bot.example.test"
WEBHOOK_PATH = "/telegram/webhook"
TIMEOUT = 60.0  # generous: a busy 2-core machine starts three interpreters at once
TURN_LINE = re.compile(r"\[worker (\d+)\] ai_tg_bot\.answering: turn user_id=(\d+)")

_update_ids = itertools.count(50_000)


def fresh_session() -> aiohttp.ClientSession:
    """A client whose every request opens a new connection."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


def parent_of(pid: int) -> int | None:
    """The parent pid of a live process, from /proc; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    found = re.search(r"^PPid:\s+(\d+)$", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def base_env(tg: FakeTelegram, llm: FakeLLM, database_url: str) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "OPENAI_", "WEBHOOK_", "LLM_"))
        and k not in {"DATABASE_URL", "HEALTH_PORT", "LOG_LEVEL", "LOG_FORMAT"}
    }
    return inherited | {
        "TELEGRAM_BOT_TOKEN": "123456:WORKERS-test",
        "TELEGRAM_API_URL": tg.base_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": llm.base_url,
        "LLM_MODEL": "fake-model",
        "LLM_MAX_RETRIES": "0",
        "DATABASE_URL": database_url,
        "STREAM_EDIT_INTERVAL_SECONDS": "0.2",
        "RATE_LIMIT_PER_MINUTE": "0",
        "SHUTDOWN_GRACE_SECONDS": "20",
    }


@dataclass
class Workers:
    """The supervisor process, its port and log, and the fakes it talks to."""

    tg: FakeTelegram
    llm: FakeLLM
    database_url: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str) -> tuple[int, Json]:
        """GET on a connection of its own (so the kernel picks a worker afresh)."""
        async with fresh_session() as http, http.get(self.base_url + path) as response:
            return response.status, await response.json()

    async def post(self, update: Json) -> int:
        """POST an update as Telegram does, on a connection of its own; a connection cut
        (a worker just killed) is retried, as Telegram delivers it again."""
        url, headers = self.base_url + WEBHOOK_PATH, {SECRET_HEADER: SECRET}
        for attempt in range(5):
            try:
                async with (
                    fresh_session() as http,
                    http.post(url, json=update, headers=headers) as response,
                ):
                    await response.read()
                    return response.status
            except aiohttp.ClientConnectionError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    def update(self, user_id: int, text: str) -> Json:
        return {"update_id": next(_update_ids), "message": self.tg.make_message(user_id, text)}

    async def wait_workers(
        self, done: Callable[[dict[int, int]], bool] = lambda seen: set(seen) == {0, 1}
    ) -> dict[int, int]:
        """Ask /healthz (each time on a new connection) until what the workers answered,
        index -> pid, satisfies `done` (by default: both workers answered)."""
        seen: dict[int, int] = {}

        async def check() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                status, body = await self.get("/healthz")
                if status == 200 and body.get("status") == "ok":
                    seen[int(body["worker"])] = int(body["pid"])
            return done(seen)

        await self.alive_while(poll_until_async(check, TIMEOUT, lambda: f"/healthz: {seen}"))
        return seen

    async def alive_while(self, waiting: Awaitable[Any]) -> None:
        """Await `waiting`, failing at once (with the log) if the supervisor exits."""
        task = asyncio.ensure_future(waiting)
        exited = asyncio.ensure_future(self.process.wait())
        done, _ = await asyncio.wait({task, exited}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            raise AssertionError(f"exited with {self.process.returncode}:\n{self.log()[-4000:]}")
        exited.cancel()
        task.result()

    async def count(self, query: str, *args: Any) -> int:
        dsn = make_url(self.database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=5)
        try:
            return int(await connection.fetchval(query, *args))
        finally:
            await connection.close()

    async def ask(self, users: range, per_user: int, label: str) -> None:
        """Each user posts `per_user` messages in order (all users at once); wait until
        every one is answered exactly once, in order."""

        async def user(user_id: int) -> None:
            for n in range(per_user):
                assert await self.post(self.update(user_id, f"{label} {n}")) == 200

        llm_calls = self.llm.calls
        await self.alive_while(asyncio.gather(*(user(u) for u in users)))
        expected = {u: [f"Echo: {label} {n}" for n in range(per_user)] for u in users}
        await self.alive_while(
            self.tg.wait_for(
                lambda: all(self.tg.texts(u) == expected[u] for u in users), TIMEOUT, label
            )
        )
        answered = "SELECT count(*) FROM messages WHERE user_id = ANY($1) AND status = 'answered'"
        total = len(users) * per_user
        await poll_until_async(
            lambda: self._equals(answered, total, list(users)), TIMEOUT, lambda: "answered"
        )
        await self.tg.wait_idle(quiet=0.5)
        assert self.llm.calls == llm_calls + total, "each question asked once"
        assert all(self.tg.texts(u) == expected[u] for u in users), "each answer sent once"
        rows = "SELECT count(*) FROM messages WHERE user_id = ANY($1)"
        assert await self.count(rows, list(users)) == 2 * total

    async def _equals(self, query: str, value: int, users: list[int]) -> bool:
        return await self.count(query, users) == value

    def turns_by_worker(self, users: range) -> dict[int, int]:
        """How many of these users' turns each worker answered (its log lines)."""
        found: dict[int, int] = {}
        for worker, user in TURN_LINE.findall(self.log()):
            if int(user) in users:
                found[int(worker)] = found.get(int(worker), 0) + 1
        return found


@pytest.fixture(scope="module")
async def workers(
    pg_server: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Workers]:
    """`python -m ai_tg_bot` with WEBHOOK_WORKERS=2 on a fresh, unmigrated database."""
    database_url = await create_pg_database("ai_tg_bot_workers")
    folder = tmp_path_factory.mktemp("workers")
    try:
        async with FakeTelegram() as tg, FakeLLM() as llm:
            port = free_port()
            env = base_env(tg, llm, database_url) | {
                "WEBHOOK_URL": WEBHOOK_BASE,
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_PATH": WEBHOOK_PATH,
                "WEBHOOK_LISTEN_HOST": "127.0.0.1",
                "WEBHOOK_LISTEN_PORT": str(port),
                "WEBHOOK_WORKERS": "2",
            }
            log_path = folder / "bot.log"
            log_file = log_path.open("wb")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ai_tg_bot", cwd=folder, env=env,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            running = Workers(tg, llm, database_url, port, process, log_path, log_file)
            try:
                yield running
            finally:
                if process.returncode is None:
                    process.kill()  # the workers notice their supervisor is gone
                    await process.wait()
                log_file.close()
    finally:
        await drop_pg_database(database_url)


async def test_two_workers_share_the_port_and_answer_each_update_once(workers: Workers) -> None:
    pids = await workers.wait_workers()
    assert pids[0] != pids[1]
    assert parent_of(pids[0]) == parent_of(pids[1]) == workers.process.pid
    status, body = await workers.get("/readyz")
    assert (status, body) == (200, {"status": "ready"})
    # Worker 0 alone registers the webhook (the supervisor migrated once, before them).
    await workers.alive_while(
        poll_until(lambda: bool(workers.tg.method_calls("setWebhook")), TIMEOUT, lambda: "")
    )
    assert len(workers.tg.method_calls("setWebhook")) == 1
    assert workers.tg.webhook_url == WEBHOOK_BASE + WEBHOOK_PATH
    assert not re.search(r"\[worker \d+\] alembic", workers.log()), "a worker migrated"

    users = range(7_001, 7_017)  # 16 users, 2 messages each, every POST a new connection
    await workers.ask(users, 2, "hello")
    by_worker = workers.turns_by_worker(users)
    assert set(by_worker) == {0, 1}, by_worker  # both workers answered turns
    assert sum(by_worker.values()) == 32
    assert "Traceback" not in workers.log(), workers.log()[-4000:]


async def test_a_worker_killed_with_sigkill_is_replaced_and_updates_are_answered(
    workers: Workers,
) -> None:
    before = await workers.wait_workers()
    webhooks = len(workers.tg.method_calls("setWebhook"))
    os.kill(before[0], signal.SIGKILL)
    # Meanwhile worker 1 serves alone: nothing is lost.
    await workers.ask(range(7_101, 7_105), 2, "during")

    dead = f"worker 0 pid={before[0]} was killed by SIGKILL"
    await workers.alive_while(poll_until(lambda: dead in workers.log(), TIMEOUT, workers.log))
    assert "restarting it in" in workers.log().split(dead, 1)[1].splitlines()[0]

    after = await workers.wait_workers(lambda seen: set(seen) == {0, 1})
    assert after[1] == before[1], "worker 1 was left alone"
    assert after[0] != before[0]
    assert parent_of(after[0]) == workers.process.pid
    assert parent_of(before[0]) is None
    # The new worker 0 registers the webhook again; worker 1 never did.
    registered = workers.tg.method_calls
    await workers.alive_while(
        poll_until(lambda: len(registered("setWebhook")) == webhooks + 1, TIMEOUT, str)
    )
    users = range(7_201, 7_217)
    await workers.ask(users, 2, "after")
    assert set(workers.turns_by_worker(users)) == {0, 1}
    assert "Traceback" not in workers.log(), workers.log()[-4000:]


async def test_sigterm_drains_every_worker_and_exits_0(workers: Workers) -> None:
    pids = await workers.wait_workers()
    user, requests = 7_301, len(workers.llm.requests)
    workers.llm.stall_next(1.0, after_chunks=1)
    assert await workers.post(workers.update(user, "slow one")) == 200
    await workers.alive_while(workers.llm.wait_for_requests(requests + 1, TIMEOUT))
    workers.process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(workers.process.wait(), TIMEOUT)
    log = workers.log()
    assert code == 0, log[-4000:]
    assert workers.tg.texts(user) == ["Echo: slow one"], "the answer in flight was finished"
    assert all(parent_of(pid) is None for pid in pids.values()), "no worker outlives it"
    assert "workers stopped (exit code 0)" in log
    assert "Traceback" not in log, log[-4000:]
    assert "slow one" not in log, "message text logged at INFO"
    assert SECRET not in log, "the webhook secret in the log"
    assert "WORKERS-test" not in log, "the token in the log"


async def test_polling_with_several_workers_is_refused_with_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "TELEGRAM_"))}
    database = tmp_path / "bot.db"
    env |= {
        "TELEGRAM_BOT_TOKEN": "123456:WORKERS-test",
        "OPENAI_API_KEY": "k",
        "WEBHOOK_WORKERS": "3",
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ai_tg_bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines == [
        "ai-tg-bot: Invalid settings: WEBHOOK_WORKERS=3 needs webhook mode (set WEBHOOK_URL):"
        " only one process may poll a bot's updates"
    ], err.decode()
    assert not database.exists(), "refused before touching the database"

"""The Telegram side of bench/telegram_load.py: the loopback stand-in, recording when each
update became available to the bot and when each final answer arrived, and the two ways
updates reach the bot (getUpdates batches, webhook POSTs). Also the child processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.load_llm import question, turn_of
from tests.fakes.telegram import FakeTelegram

Json = dict[str, Any]
SECRET = "bench-Secret_123"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_BASE = "https://bot.example.test"
WEBHOOK_PATH = "/telegram/webhook"
# What shows an answer for good (a draft is ephemeral: never the final message).
FINAL_METHODS = ("sendrichmessage", "sendmessage", "editmessagetext")
MAX_WEBHOOK_CONNECTIONS = 40  # Telegram's default max_connections


@dataclass
class Final:
    """The first message that showed a turn's whole answer (its token's end)."""

    at: float
    text: str
    method: str


class RecordingTelegram(FakeTelegram):
    """FakeTelegram, noting when each update was handed out and each answer shown."""

    def __init__(self, end_marker: Callable[[int], str]) -> None:
        super().__init__()
        self.end_marker = end_marker  # the text that ends turn N's whole answer
        self.available: dict[int, float] = {}  # update_id -> when a getUpdates carried it
        self.batches: list[int] = []  # sizes of non-empty getUpdates answers
        self.finals: dict[int, Final] = {}  # turn -> its final message
        self.counts: Counter[str] = Counter()  # Bot API calls by method
        for name, handler in list(self._methods.items()):
            self._methods[name] = self._recorded(name, handler)

    def _recorded(
        self, name: str, handler: Callable[[Json], Awaitable[Any]]
    ) -> Callable[[Json], Awaitable[Any]]:
        async def recorded(params: Json) -> Any:
            arrived = time.monotonic()
            self.counts[name] += 1
            result = await handler(params)
            if name == "getupdates" and result:
                sent = time.monotonic()
                self.batches.append(len(result))
                for update in result:
                    self.available.setdefault(update["update_id"], sent)
            elif name in FINAL_METHODS and isinstance(result, dict):
                text = str(result.get("text", ""))
                turn = turn_of(text)
                fresh = turn is not None and turn not in self.finals
                if fresh and turn is not None and text.endswith(self.end_marker(turn)):
                    self.finals[turn] = Final(arrived, text, name)
            return result

        return recorded

    def forget_traffic(self) -> None:
        """Drop the fake's call and draft logs (nothing here reads them): bounded memory."""
        self.calls.clear()
        self.drafts.clear()
        self.chat_actions.clear()
        self.actions.clear()


@dataclass
class Arrivals:
    """When each turn's update became available to the bot, and how its delivery went."""

    available: dict[int, float] = field(default_factory=dict)  # turn -> monotonic
    queued: dict[int, float] = field(default_factory=dict)  # polling: turn -> pushed at
    acked: list[float] = field(default_factory=list)  # webhook: seconds until 200
    refused: Counter[str] = field(default_factory=Counter)  # webhook: non-200 answers


class PollingFeed:
    """Updates queued at Telegram; the bot takes them in getUpdates batches (<= 100)."""

    def __init__(self, tg: RecordingTelegram) -> None:
        self.tg = tg
        self.update_ids: dict[int, int] = {}  # turn -> update_id
        self.queued: dict[int, float] = {}  # turn -> when it was queued at Telegram

    async def send(self, turn: int, user_id: int) -> None:
        self.queued[turn] = time.monotonic()
        self.update_ids[turn] = self.tg.push_text(user_id, question(turn))

    def arrivals(self) -> Arrivals:
        got = self.tg.available
        found = {t: got[u] for t, u in self.update_ids.items() if u in got}
        return Arrivals(available=found, queued=self.queued)

    async def close(self) -> None:
        return None


class WebhookFeed:
    """Each update POSTed to the bot's webhook as Telegram does (40 connections at most)."""

    def __init__(self, tg: RecordingTelegram, url: str) -> None:
        self.tg = tg
        self.url = url
        connector = aiohttp.TCPConnector(limit=MAX_WEBHOOK_CONNECTIONS)
        self.http = aiohttp.ClientSession(connector=connector)
        self.found = Arrivals()
        self.posts: set[asyncio.Task[None]] = set()
        self._next_update_id = 1

    async def send(self, turn: int, user_id: int) -> None:
        message = self.tg.make_message(user_id, question(turn))
        update = {"update_id": self._next_update_id, "message": message}
        self._next_update_id += 1
        task = asyncio.create_task(self._post(turn, update))
        self.posts.add(task)
        task.add_done_callback(self.posts.discard)

    async def _post(self, turn: int, update: Json) -> None:
        began = time.monotonic()
        self.found.available[turn] = began
        try:
            async with self.http.post(self.url, json=update,
                                      headers={SECRET_HEADER: SECRET}) as response:  # fmt: skip
                await response.read()
                status = str(response.status)
        except aiohttp.ClientError as exc:
            status = type(exc).__name__
        if status == "200":
            self.found.acked.append(time.monotonic() - began)
        else:
            self.found.refused[status] += 1

    def arrivals(self) -> Arrivals:
        return self.found

    async def close(self) -> None:
        if self.posts:
            await asyncio.wait(self.posts, timeout=30)
        await self.http.close()


async def pace(rate: float, count: int, send: Callable[[int], Awaitable[None]],
               tick: Callable[[], None]) -> float:  # fmt: skip
    """Call `send(i)` for i in 0..count-1 at a steady `rate` per second, on an absolute
    schedule (no drift); `tick` about once a second. Returns the start time."""
    started = time.monotonic()
    next_tick = started + 1
    for index in range(count):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(index)
        if time.monotonic() >= next_tick:
            tick()
            next_tick += 1
    return started


async def until(
    predicate: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109
    tick: Callable[[], None] | None = None,
) -> bool:
    """Wait until `predicate()` holds (True) or `timeout` passes (False), calling `tick`
    every 0.1 s meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        if tick is not None:
            tick()
        await asyncio.sleep(0.1)
    return True


@dataclass
class Child:
    """A `python -m <module>` child: its first stdout line, and its last one once ended."""

    process: asyncio.subprocess.Process
    first_line: str
    report: Json = field(default_factory=dict)


@contextlib.asynccontextmanager
async def child(module: str, *args: str, timeout: float = 60) -> AsyncIterator[Child]:  # noqa: ASYNC109
    """Run a bench module in its own process until the block ends (its stdin closes);
    `report` then holds the JSON line it printed last."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout)).decode().strip()
        if not line:
            raise RuntimeError(f"{module} did not start")
        running = Child(process, line)
        yield running
    finally:
        process.stdin.close()
        try:
            rest = await asyncio.wait_for(process.stdout.read(), timeout)
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            rest = b""
    lines = rest.decode().strip().splitlines()
    if not lines or process.returncode != 0:
        raise RuntimeError(f"{module} ended with {process.returncode} and no report")
    running.report = json.loads(lines[-1])

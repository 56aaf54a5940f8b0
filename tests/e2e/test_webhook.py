"""Webhook mode with real `python -m ai_tg_bot` processes on one PostgreSQL.

Two processes start together on a fresh database (so the migration lock is exercised
too) and serve Telegram's webhook; the tests post updates to them over HTTP as Telegram
does. Only Telegram and the LLM are stand-ins (loopback fakes).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.dbs import create_pg_database, drop_pg_database
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram
from tests.ports import free_port

pytestmark = pytest.mark.postgres

Json = dict[str, Any]
SECRET = "webhook-Secret_123"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_BASE = "https://bot.example.test"
WEBHOOK_PATH = "/telegram/webhook"
HISTORY_LIMIT = 6
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

INTRUDER_TARGET = 5001
DUPLICATE_USER = 5003
STREAM_USER = 5004
SIGTERM_USER = 5005

_update_ids = itertools.count(1000)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def last_user_text(request: Json) -> str:
    users = [m for m in request["messages"] if m["role"] == "user"]
    return str(users[-1]["content"]) if users else ""


def texts_are(tg: FakeTelegram, chat_id: int, expected: list[str]) -> Callable[[], bool]:
    return lambda: tg.texts(chat_id) == expected


@dataclass
class BotProcess:
    """One `python -m ai_tg_bot` in webhook mode, its port and its log file."""

    name: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait for it; kill it if it hangs."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log_file.close()
        assert self.process.returncode is not None
        return self.process.returncode

    async def kill(self) -> None:
        """Last resort in `finally` blocks."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if not self.log_file.closed:
            self.log_file.close()


@dataclass
class Cluster:
    """The fakes, the database and the bot processes the tests share."""

    tg: FakeTelegram
    llm: FakeLLM
    database_url: str
    http: aiohttp.ClientSession
    logs: Path
    bots: list[BotProcess] = field(default_factory=list)

    def env(self, port: int) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "OPENAI_", "WEBHOOK_", "LLM_"))
            and k not in {"DATABASE_URL", "HEALTH_PORT"}
        }
        return inherited | {
            "TELEGRAM_BOT_TOKEN": "123456:WEBHOOK-test",
            "TELEGRAM_API_URL": self.tg.base_url,
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": self.llm.base_url,
            "LLM_MODEL": "fake-model",
            "LLM_MAX_RETRIES": "0",
            "DATABASE_URL": self.database_url,
            "WEBHOOK_URL": WEBHOOK_BASE,
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_PATH": WEBHOOK_PATH,
            "WEBHOOK_LISTEN_HOST": "127.0.0.1",
            "WEBHOOK_LISTEN_PORT": str(port),
            "STREAM_EDIT_INTERVAL_SECONDS": "0.2",
            "RATE_LIMIT_PER_MINUTE": "0",
            "DEFAULT_MAX_HISTORY_MESSAGES": str(HISTORY_LIMIT),
            "SHUTDOWN_GRACE_SECONDS": "20",
        }

    async def spawn(self, name: str) -> BotProcess:
        """Start a bot process (not waiting for it to be ready)."""
        port = free_port()
        log_path = self.logs / f"{name}.log"
        log_file = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ai_tg_bot",
            cwd=self.logs,  # no developer .env in the way
            env=self.env(port),
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
        bot = BotProcess(name, port, process, log_path, log_file)
        self.bots.append(bot)
        return bot

    async def wait_ready(self, bot: BotProcess, webhooks_set: int) -> None:
        """Until /readyz answers 200 and Telegram has `webhooks_set` setWebhook calls."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            if bot.process.returncode is not None:
                raise AssertionError(
                    f"{bot.name} exited with {bot.process.returncode}:\n{bot.log()[-3000:]}"
                )
            with contextlib.suppress(aiohttp.ClientError):
                async with self.http.get(bot.base_url + "/readyz") as response:
                    if (
                        response.status == 200
                        and len(self.tg.method_calls("setWebhook")) >= webhooks_set
                    ):
                        return
            if loop.time() >= deadline:
                raise AssertionError(f"{bot.name} not ready in {START_TIMEOUT}s:\n{bot.log()}")
            await asyncio.sleep(0.1)

    async def post(self, bot: BotProcess, update: Json, secret: str | None = SECRET) -> int:
        """POST an update like Telegram does; the HTTP status."""
        headers = {} if secret is None else {SECRET_HEADER: secret}
        async with self.http.post(bot.webhook_url, json=update, headers=headers) as response:
            await response.read()
            return response.status

    def update(self, user_id: int, text: str, *, message_id: int | None = None) -> Json:
        """A Telegram update carrying a private text message."""
        message = self.tg.make_message(user_id, text, message_id=message_id)
        return {"update_id": next(_update_ids), "message": message}

    async def rows(self, query: str, *args: Any) -> list[Any]:
        connection = await asyncpg.connect(asyncpg_dsn(self.database_url), timeout=5)
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    async def count(self, query: str, *args: Any) -> int:
        rows = await self.rows(query, *args)
        return int(rows[0][0])

    async def wait_answered(self, user_id: int, questions: int) -> None:
        """Until `questions` of the user's messages are answered (replies show before that)."""
        query = "SELECT count(*) FROM messages WHERE user_id = $1 AND status = 'answered'"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while (answered := await self.count(query, user_id)) < questions:
            if loop.time() >= deadline:
                raise AssertionError(
                    f"{answered} of {questions} answered for user {user_id}:\n"
                    + await self.dump(user_id)
                )
            await asyncio.sleep(0.05)

    async def wait_settled(self, user_id: int) -> None:
        """Until no active question of the user waits and nobody holds their turn."""
        query = (
            "SELECT (SELECT count(*) FROM messages WHERE user_id = $1 AND status = 'pending'"
            " AND deleted_at IS NULL) + (SELECT count(*) FROM users WHERE id = $1"
            " AND turn_lease_owner IS NOT NULL)"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while await self.count(query, user_id):
            if loop.time() >= deadline:
                raise AssertionError(f"user {user_id} still busy:\n{await self.dump(user_id)}")
            await asyncio.sleep(0.05)
        await self.tg.wait_idle(quiet=0.5)

    async def dump(self, user_id: int) -> str:
        """The user's messages, for failure messages."""
        rows = await self.rows(
            "SELECT seq, role, content, status, deleted_at IS NOT NULL AS deleted"
            " FROM messages WHERE user_id = $1 ORDER BY seq",
            user_id,
        )
        return "\n".join(str(tuple(row)) for row in rows)

    def assert_clean_logs(self) -> None:
        for bot in self.bots:
            assert "Traceback" not in bot.log(), f"{bot.name}:\n{bot.log()[-3000:]}"


@pytest.fixture(scope="module")
async def cluster(
    pg_server: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    """Two webhook processes started together on one fresh, unmigrated PostgreSQL database."""
    database_url = await create_pg_database("ai_tg_bot_webhook")
    try:
        async with FakeTelegram() as tg, FakeLLM() as llm, aiohttp.ClientSession() as http:
            cluster = Cluster(tg, llm, database_url, http, tmp_path_factory.mktemp("webhook"))
            try:
                # Started at once: both migrate at start-up, one waits for the other's lock.
                first, second = await cluster.spawn("bot-a"), await cluster.spawn("bot-b")
                await cluster.wait_ready(first, 1)
                await cluster.wait_ready(second, 2)
                yield cluster
                codes = await asyncio.gather(*(bot.stop() for bot in cluster.bots))
                assert codes == [0] * len(codes), [bot.log()[-2000:] for bot in cluster.bots]
            finally:
                for bot in cluster.bots:
                    await bot.kill()
    finally:
        await drop_pg_database(database_url)


async def test_two_processes_migrated_together_and_registered_the_webhook(
    cluster: Cluster,
) -> None:
    assert cluster.tg.webhook_url == WEBHOOK_BASE + WEBHOOK_PATH
    for call in cluster.tg.method_calls("setWebhook"):
        assert call.params.get("secret_token") == SECRET
    versions = await cluster.rows("SELECT version_num FROM alembic_version")
    assert len(versions) == 1


async def test_updates_without_the_right_secret_get_401_and_store_nothing(
    cluster: Cluster,
) -> None:
    bot = cluster.bots[0]
    llm_calls = cluster.llm.calls
    attempts: list[str | None] = [None, "", "wrong-secret", SECRET.lower(), SECRET + "x"]
    for number, secret in enumerate(attempts):
        update = cluster.update(INTRUDER_TARGET, f"intruder {number}")
        assert await cluster.post(bot, update, secret=secret) == 401, secret
    # The right secret over a body that is no update: refused too, nothing stored.
    async with cluster.http.post(
        bot.webhook_url, data=b"{not json", headers={SECRET_HEADER: SECRET}
    ) as response:
        assert response.status == 400
    await asyncio.sleep(0.3)  # anything wrongly started in the background would show now
    assert await cluster.count("SELECT count(*) FROM users WHERE id = $1", INTRUDER_TARGET) == 0
    assert (
        await cluster.count("SELECT count(*) FROM messages WHERE user_id = $1", INTRUDER_TARGET)
        == 0
    )
    assert cluster.llm.calls == llm_calls
    assert cluster.tg.texts(INTRUDER_TARGET) == []

    # The same kind of update with the right secret is stored and answered.
    update = cluster.update(INTRUDER_TARGET, "let me in")
    assert await cluster.post(bot, update) == 200
    await cluster.tg.wait_for(
        lambda: cluster.tg.texts(INTRUDER_TARGET) == ["Echo: let me in"], 15, "the answer"
    )
    await cluster.wait_answered(INTRUDER_TARGET, 1)
    rows = await cluster.rows(
        "SELECT role, content FROM messages WHERE user_id = $1 ORDER BY seq", INTRUDER_TARGET
    )
    assert [(r["role"], r["content"]) for r in rows] == [
        ("user", "let me in"),
        ("assistant", "Echo: let me in"),
    ]
    assert cluster.llm.calls == llm_calls + 1


async def test_healthz_and_readyz_answer_200_on_every_process(cluster: Cluster) -> None:
    for bot in cluster.bots[:2]:
        async with cluster.http.get(bot.base_url + "/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok"}
        async with cluster.http.get(bot.base_url + "/readyz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ready"}
    # The probes need no secret, and the webhook path does not answer GET.
    async with cluster.http.get(cluster.bots[0].webhook_url) as response:
        assert response.status == 405


async def test_the_same_update_posted_to_both_processes_is_handled_once(
    cluster: Cluster,
) -> None:
    first, second = cluster.bots[:2]
    start = len(cluster.llm.requests)
    texts = [f"only once {n}" for n in range(3)]
    for number, text in enumerate(texts):
        # A new user first (both processes race to create them), then an existing one.
        update = cluster.update(DUPLICATE_USER, text)
        statuses = await asyncio.gather(cluster.post(first, update), cluster.post(second, update))
        assert list(statuses) == [200, 200]
        expected = [f"Echo: {t}" for t in texts[: number + 1]]
        await cluster.tg.wait_for(
            texts_are(cluster.tg, DUPLICATE_USER, expected), 15, f"the answer to {text!r}"
        )
        # Telegram redelivers it later, to either process: still handled once.
        assert await cluster.post(second if number % 2 else first, update) == 200

    await cluster.wait_answered(DUPLICATE_USER, len(texts))
    await cluster.tg.wait_idle(quiet=0.5)
    asked = [last_user_text(r) for r in cluster.llm.requests[start:]]
    assert sorted(asked) == sorted(texts), asked
    assert cluster.tg.texts(DUPLICATE_USER) == [f"Echo: {t}" for t in texts]
    rows = await cluster.rows(
        "SELECT role, content, status FROM messages WHERE user_id = $1 ORDER BY seq",
        DUPLICATE_USER,
    )
    user_rows = [r["content"] for r in rows if r["role"] == "user"]
    assert user_rows == texts
    assert all(r["status"] == "answered" for r in rows if r["role"] == "user")
    assert len(rows) == 2 * len(texts)
    cluster.assert_clean_logs()


async def test_one_users_stream_over_both_processes_is_answered_in_order_with_exact_limit(
    cluster: Cluster,
) -> None:
    first, second = cluster.bots[:2]
    start = len(cluster.llm.requests)
    count = 12
    questions = [f"m{k}" for k in range(count)]
    # The first answer is slow, so the rest queue up behind it (a user typing on).
    cluster.llm.stall_next(1.0, after_chunks=1)
    for k, text in enumerate(questions):
        # Each POST returns once the message is stored; answers are not awaited.
        update = cluster.update(STREAM_USER, text, message_id=k + 1)
        assert await cluster.post(first if k % 2 == 0 else second, update) == 200

    await cluster.wait_settled(STREAM_USER)
    expected = [f"Echo: {q}" for q in questions]
    assert cluster.tg.texts(STREAM_USER) == expected, await cluster.dump(STREAM_USER)

    # Each LLM request saw a contiguous, ordered tail of the dialogue ending at its question.
    requests = cluster.llm.requests[start:]
    assert [last_user_text(r) for r in requests] == questions
    transcript: list[tuple[str, str]] = []
    for k, request in enumerate(requests):
        transcript.append(("user", questions[k]))
        history = [(m["role"], m["content"]) for m in request["messages"]]
        assert history[0][0] == "system"
        dialogue = history[1:]
        assert 1 <= len(dialogue) <= HISTORY_LIMIT, (k, dialogue)
        assert dialogue == transcript[-len(dialogue) :], (k, dialogue)
        transcript.append(("assistant", expected[k]))

    active = await cluster.rows(
        "SELECT role, content FROM messages WHERE user_id = $1 AND deleted_at IS NULL ORDER BY seq",
        STREAM_USER,
    )
    assert [(r["role"], r["content"]) for r in active] == transcript[-HISTORY_LIMIT:]
    every = await cluster.rows(
        "SELECT role, content, status, telegram_message_id FROM messages"
        " WHERE user_id = $1 ORDER BY seq",
        STREAM_USER,
    )
    assert len(every) == 2 * count  # soft-deleted included: nothing lost
    assert [(r["role"], r["content"]) for r in every] == transcript
    user_rows = [r for r in every if r["role"] == "user"]
    assert [r["telegram_message_id"] for r in user_rows] == list(range(1, count + 1))
    assert all(r["status"] == "answered" for r in user_rows)
    cluster.assert_clean_logs()


async def test_retry_and_voice_are_acknowledged_before_any_llm_or_speech_work(
    cluster: Cluster,
) -> None:
    """The POST returns once the effect is stored; a slow LLM holds no webhook reply."""
    user, bot = 5_701, cluster.bots[0]
    assert await cluster.post(bot, cluster.update(user, "first question")) == 200
    await cluster.wait_answered(user, 1)
    await cluster.wait_settled(user)
    cluster.llm.hold()
    try:
        requests = len(cluster.llm.requests)
        retry = cluster.update(user, "/retry")
        # Answered while the LLM has not answered (held): no timeout, no redelivery.
        assert await asyncio.wait_for(cluster.post(bot, retry), 30) == 200
        await cluster.llm.wait_for_requests(requests + 1, 30)
        # Telegram delivers the /retry again (to the other process): asked once only.
        assert await asyncio.wait_for(cluster.post(cluster.bots[1], retry), 30) == 200

        cluster.tg.add_file("wv1", b"OggS\x00\x02" + bytes(range(100)), "voice/w1.oga")
        voice = {"file_id": "wv1", "file_unique_id": "uwv1", "duration": 2, "file_size": 106}
        message = cluster.tg.make_message(user, voice=voice)
        update = {"update_id": next(_update_ids), "message": message}
        transcriptions = len(cluster.llm.transcriptions)
        assert await asyncio.wait_for(cluster.post(bot, update), 30) == 200
    finally:
        cluster.llm.release()
    await cluster.wait_settled(user)
    assert len(cluster.llm.transcriptions) == transcriptions + 1
    said = cluster.llm.transcript
    expected = ["Echo: first question", "Echo: first question", f"🎤 {said}", f"Echo: {said}"]
    await cluster.tg.wait_for(texts_are(cluster.tg, user, expected), 30)
    assert len(cluster.llm.requests) == requests + 2, "the redelivered /retry asked nothing"
    cluster.assert_clean_logs()


async def test_an_album_posted_to_both_processes_is_one_question(cluster: Cluster) -> None:
    """Each part is acknowledged once stored; whichever process takes the album asks it,
    once, even with a part delivered again to the other process."""
    user, (first, second) = 5_702, cluster.bots[:2]
    start = len(cluster.llm.requests)
    updates = []
    for n, (name, text) in enumerate([("a.txt", "alpha"), ("b.txt", "beta")]):
        cluster.tg.add_file(f"wa{n}", text.encode(), f"documents/wa{n}.txt")
        document = {"file_id": f"wa{n}", "file_unique_id": f"uwa{n}", "file_name": name,
                    "mime_type": "text/plain", "file_size": len(text)}  # fmt: skip
        caption: dict[str, Any] = {"caption": "compare them"} if n else {}
        message = cluster.tg.make_message(user, document=document, media_group_id="wg", **caption)
        updates.append({"update_id": next(_update_ids), "message": message})
    posted = await asyncio.gather(cluster.post(first, updates[0]), cluster.post(second, updates[1]))
    assert list(posted) == [200, 200]
    assert await cluster.post(second, updates[0]) == 200, "Telegram sends a part again"

    await cluster.wait_answered(user, 1)
    await cluster.wait_settled(user)
    (asked,) = [last_user_text(r) for r in cluster.llm.requests[start:]]
    assert "alpha" in asked, asked
    assert "beta" in asked, asked
    assert asked.endswith("compare them"), asked
    assert await cluster.count("SELECT count(*) FROM album_parts") == 0
    questions = "SELECT count(*) FROM messages WHERE user_id = $1 AND role = 'user'"
    assert await cluster.count(questions, user) == 1
    cluster.assert_clean_logs()


async def test_sigterm_during_a_slow_turn_delivers_the_answer_and_exits_0(
    cluster: Cluster,
) -> None:
    # Last in the file: it stops the second process (starting a third costs seconds).
    survivor, bot = cluster.bots[:2]
    start = len(cluster.llm.requests)
    cluster.llm.stall_next(1.5, after_chunks=1)
    assert await cluster.post(bot, cluster.update(SIGTERM_USER, "slow one")) == 200
    await cluster.llm.wait_for(
        lambda: any(last_user_text(r) == "slow one" for r in cluster.llm.requests[start:]),
        15,
        "the slow request",
    )
    assert await bot.stop(signal.SIGTERM) == 0, bot.log()[-3000:]
    assert cluster.tg.texts(SIGTERM_USER) == ["Echo: slow one"]
    log = bot.log()
    assert "Traceback" not in log, log[-3000:]
    assert "slow one" not in log, "message text logged at INFO"
    rows = await cluster.rows(
        "SELECT role, status FROM messages WHERE user_id = $1 ORDER BY seq", SIGTERM_USER
    )
    assert [(r["role"], r["status"]) for r in rows] == [("user", "answered"), ("assistant", None)]

    # The other instance goes on serving the same user.
    assert await cluster.post(survivor, cluster.update(SIGTERM_USER, "still there?")) == 200
    await cluster.tg.wait_for(
        texts_are(cluster.tg, SIGTERM_USER, ["Echo: slow one", "Echo: still there?"]), 15
    )

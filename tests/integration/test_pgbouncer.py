"""Two bot instances through pgbouncer in transaction pooling mode (Debian's 1.18, no
prepared statements): every question is answered exactly once, in order, and migrations
go over a direct URL (MIGRATION_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.llm.client import LLMClient
from ai_tg_bot.turns.service import TurnService
from tests.dbs import in_ci
from tests.fakes.llm import FakeLLM
from tests.integration.test_quotas import RecordingPresenter
from tests.ports import free_port
from tests.seeding import SeedingStorage

USER = 6161
QUESTIONS = 12


@pytest.fixture
def pgbouncer(pg_url: str) -> Iterator[str]:
    """pgbouncer (transaction pooling) in front of the test database; its URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        message = "pgbouncer is not installed (apt-get install pgbouncer)"
        if in_ci():
            pytest.fail(message + "; CI=true requires it", pytrace=False)
        pytest.skip(message)
    direct = make_url(pg_url)
    port = free_port()
    # pgbouncer will not run as root: as postgres then, which must read its files.
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text(f'"{direct.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={direct.host} port={direct.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 10\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    command = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]
        shutil.chown(folder, "postgres")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):  # up to 10 s for the port to open
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None:
                raise AssertionError(process.stdout.read().decode() if process.stdout else "")
            subprocess.run(["sleep", "0.1"], check=True)
        yield direct.set(port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(chunk_size=5) as fake:
        yield fake


async def test_two_instances_through_pgbouncer_answer_each_question_once(
    pgbouncer: str, pg_url: str, llm: FakeLLM
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=pgbouncer,
        db_pgbouncer=True,
        migration_database_url=pg_url,
        openai_base_url=llm.base_url,
        llm_model="fake-model",
        llm_max_retries=0,
        rate_limit_per_minute=0,
    )
    databases = [Database(pgbouncer, pool_size=3, pgbouncer=True) for _ in range(2)]
    chats = [
        TurnService(SeedingStorage(database, settings), LLMClient(settings))
        for database in databases
    ]
    shown = RecordingPresenter()
    before = len(llm.requests)
    try:
        # Questions of one user arriving at both instances at once, as webhook updates do.
        await asyncio.gather(
            *(chats[n % 2].turn(USER, f"question {n}", shown) for n in range(QUESTIONS))
        )
        async with databases[0].connection(read_only=True) as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT role, content, status FROM messages "
                        "WHERE user_id = :u AND deleted_at IS NULL ORDER BY seq"
                    ),
                    {"u": USER},
                )
            ).all()
    finally:
        for chat in chats:
            await chat.close()
            await chat.llm.close()
        for database in databases:
            await database.close()
        async with Database(pg_url).session() as session:
            await session.execute(text("DELETE FROM users WHERE id = :u"), {"u": USER})
    asked = [content for role, content, _ in rows if role == "user"]
    answers = [content for role, content, _ in rows if role == "assistant"]
    assert sorted(asked) == sorted(f"question {n}" for n in range(QUESTIONS))
    assert len(answers) == QUESTIONS, "each question answered exactly once"
    assert [role for role, _, _ in rows] == ["user", "assistant"] * QUESTIONS, "in order"
    assert all(status == "answered" for role, _, status in rows if role == "user")
    assert len(llm.requests) - before == QUESTIONS, "one LLM call per question"


def test_migrations_go_over_the_direct_url() -> None:
    settings = Settings(
        _env_file=None,
        database_url="postgresql+asyncpg://u@pooler:6432/db",
        migration_database_url="postgresql+asyncpg://u@primary:5432/db",
    )
    assert settings.migration_url == "postgresql+asyncpg://u@primary:5432/db"
    assert Settings(_env_file=None, migration_database_url="").migration_url == (
        Settings(_env_file=None).database_url
    )

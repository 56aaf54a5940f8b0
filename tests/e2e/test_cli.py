"""The `ai-tg-bot` console script as a user runs it: help, version, migrate and rollback,
one-line start-up failures with documented exit codes, the LLM probe, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import sqlite3
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ai_tg_bot.bot.startup import check_llm
from ai_tg_bot.config.settings import Settings
from ai_tg_bot.llm.client import LLMClient
from ai_tg_bot.observability.logs import JsonFormatter
from ai_tg_bot.process.schema import head
from tests.dbs import ROOT
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_process import bot_env
from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

SCRIPT = Path(sys.executable).with_name("ai-tg-bot")
TOKEN = "123456:ABCdef"


async def cli(cwd: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """Run `ai-tg-bot args...`: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        cwd=cwd,
        env=bot_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def one_line(stderr: str) -> str:
    """The single ai-tg-bot line a failed start prints (log lines of the start aside)."""
    ours = [line for line in stderr.splitlines() if line.startswith("ai-tg-bot: ")]
    assert len(ours) == 1, stderr
    assert "Traceback" not in stderr
    return ours[0]


async def test_help_and_version(tmp_path: Path) -> None:
    code, out, _ = await cli(tmp_path, "--help")
    assert code == 0
    for command in ("run", "migrate", "rollback", "purge", "Exit codes"):
        assert command in out
    code, out, _ = await cli(tmp_path, "--version")
    assert code == 0
    assert out.startswith("ai-tg-bot ")
    code, _, err = await cli(tmp_path, "no-such-command")
    assert code == 2
    assert "invalid choice" in err


async def test_migrate_and_rollback_use_the_packaged_migrations(tmp_path: Path) -> None:
    """Run from an empty folder: no alembic.ini or source tree is needed."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    code, out, _ = await cli(tmp_path, "migrate", DATABASE_URL=url)
    assert (code, out.strip()) == (0, "ai-tg-bot: migrate done")

    def revision() -> str:
        with sqlite3.connect(tmp_path / "bot.db") as connection:
            return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])

    assert revision() == head()
    code, _, _ = await cli(tmp_path, "rollback", DATABASE_URL=url)
    assert code == 0
    assert revision() != head()
    code, _, _ = await cli(tmp_path, "migrate", DATABASE_URL=url)
    assert code == 0
    assert revision() == head()
    bad = "postgresql+asyncpg://nobody@127.0.0.1:9/none"
    code, _, err = await cli(tmp_path, "migrate", DATABASE_URL=bad)
    assert code == 2
    assert "could not migrate DATABASE_URL" in one_line(err)


async def test_a_token_telegram_rejects_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with FakeTelegram() as tg:
        tg.revoked_tokens.add(TOKEN)
        code, _, err = await cli(
            tmp_path,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=tg.base_url,
            OPENAI_API_KEY="sk-test",
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        )
    assert code == 2
    line = one_line(err)
    assert "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)" in line
    assert TOKEN.split(":")[1] not in err, "the token's secret half never shows"


async def test_an_unreachable_telegram_is_one_line_and_exit_1(tmp_path: Path) -> None:
    code, _, err = await cli(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL="http://127.0.0.1:9",  # nothing listens on the discard port
        OPENAI_API_KEY="sk-test",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
    )
    assert code == 1
    assert "could not reach Telegram at 127.0.0.1:9 after 3 attempts" in one_line(err)


@pytest.fixture
async def keyed_llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(api_key="sk-right") as llm:
        yield llm


@pytest.mark.parametrize(
    ("base", "key", "model", "expected"),
    [
        ("root", "sk-right", "fake-model", "does OPENAI_BASE_URL end with /v1?"),
        ("v1", "sk-wrong", "fake-model", "rejected OPENAI_API_KEY (401 Unauthorized)"),
        ("v1", "sk-right", "gpt-7", "LLM_MODEL gpt-7 is not among the models"),
        ("v1", "sk-right", "fake-model", None),
    ],
)
async def test_the_llm_probe_names_the_likely_misconfiguration(
    keyed_llm: FakeLLM,
    caplog: pytest.LogCaptureFixture,
    base: str,
    key: str,
    model: str,
    expected: str | None,
) -> None:
    url = keyed_llm.base_url if base == "v1" else keyed_llm.base_url.removesuffix("/v1")
    settings = Settings(_env_file=None, openai_base_url=url, openai_api_key=key, llm_model=model)
    llm = LLMClient(settings)
    try:
        with caplog.at_level(logging.WARNING):
            problem = await check_llm(llm, settings)
    finally:
        await llm.close()
    if expected is None:
        assert problem is None
        return
    assert problem is not None
    assert expected in problem
    assert key not in caplog.text


def test_json_logs_are_one_object_a_line_with_real_fields() -> None:
    """Fields come from `extra=`, never from the message: a value with spaces is whole,
    and text in the message cannot make a field."""
    record = logging.LogRecord(
        "ai_tg_bot.answering", logging.INFO, __file__, 1, "turn said outcome=forged", (), None
    )
    record.__dict__.update({"user_id": 7, "outcome": "ok", "model": "a model with spaces"})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "ai_tg_bot.answering"
    assert entry["message"] == "turn said outcome=forged"
    assert (entry["user_id"], entry["outcome"], entry["model"]) == (7, "ok", "a model with spaces")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(failed))
    assert "ValueError: boom" in entry["exception"]


def uv() -> list[str]:
    """uv as `make install` provides it: on PATH, or as a module of the system Python."""
    found = shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


async def run(*command: str, cwd: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, output.decode()[-3000:]


async def test_a_built_wheel_installs_migrates_and_answers_without_the_source_tree(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    """`pip install .` as a user would: a wheel into a fresh venv, run from an empty
    folder: its migrations (inside the package) make the SQLite database, and it polls
    the loopback Telegram and answers."""
    tg, llm = fakes
    await run(*uv(), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), cwd=ROOT)
    (wheel,) = (tmp_path / "dist").glob("ai_tg_bot-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    static = ROOT / "src" / "ai_tg_bot" / "bot" / "webapp" / "static"
    assert {f"ai_tg_bot/bot/webapp/static/{f.name}" for f in static.iterdir()} <= shipped
    venv = tmp_path / "venv"
    await run(*uv(), "venv", "--quiet", str(venv), cwd=tmp_path)
    await run(*uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
              str(wheel), cwd=tmp_path)  # fmt: skip
    home = tmp_path / "home"
    home.mkdir()
    process = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "ai-tg-bot"),
        cwd=home,
        env=bot_env(
            TELEGRAM_BOT_TOKEN="123456:WHEEL-test",
            TELEGRAM_API_URL=tg.base_url,
            OPENAI_API_KEY="test-key",
            OPENAI_BASE_URL=llm.base_url,
            LLM_MODEL="fake-model",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), 120, "polling")
        assert (home / "data" / "bot.db").exists()
        tg.push_text(7, "hello from a wheel")
        await tg.wait_for(lambda: tg.texts(7) == ["Echo: hello from a wheel"], 30)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()[-2000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_second_instance_polling_stops_with_one_line_and_exit_1(
    make_bot: HarnessFactory, tmp_path: Path
) -> None:
    """The commonest mistake after a bad token: the bot started twice. Telegram answers
    409 Conflict to one poller of two; the instance that just started leaves, with one
    line, and the one that has served for a while goes on."""
    serving = await make_bot()
    assert serving.app is not None
    serving.app.conflicts.window = 0  # it has served past its start-up minute
    code, _, err = await cli(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=serving.tg.base_url,
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=serving.llm.base_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
    )
    assert code == 1
    assert "another instance is polling with this TELEGRAM_BOT_TOKEN (409" in one_line(err)
    assert await serving.say(8, "still here?") == ["Echo: still here?"]


async def test_a_running_bot_logs_json_one_object_a_line(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    tg, llm = fakes
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        cwd=tmp_path,
        env=bot_env(
            TELEGRAM_BOT_TOKEN="123456:JSON-logs",
            TELEGRAM_API_URL=tg.base_url,
            OPENAI_API_KEY="test-key",
            OPENAI_BASE_URL=llm.base_url,
            LLM_MODEL="fake-model",
            LOG_FORMAT="json",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), 60, "polling")
        tg.push_text(9, "log me as json")
        await tg.wait_for(lambda: tg.texts(9) == ["Echo: log me as json"], 30)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    entries = [json.loads(line) for line in stderr.decode().splitlines() if line.strip()]
    turns = [e for e in entries if e["message"] == "turn"]
    assert len(turns) == 1, entries
    assert (turns[0]["outcome"], turns[0]["user_id"], turns[0]["level"]) == ("ok", 9, "INFO")
    assert "log me as json" not in stderr.decode(), "message text logged at INFO"


# What the light commands must not load: each costs seconds of CPU and tens of MB.
HEAVY = ("aiogram", "openai", "mcp", "pypdf", "docx", "sqlalchemy", "pydantic_settings")


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["health"], ["settings"]])
async def test_the_light_commands_import_nothing_heavy(tmp_path: Path, argv: list[str]) -> None:
    """Docker's healthcheck runs `health` every 30 s: it must not load the bot."""
    probe = (
        "import sys\n"
        "from ai_tg_bot.process import cli\n"
        "try:\n"
        f"    code = cli.main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, cwd=tmp_path, env=bot_env(HEALTH_PORT="1"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert "HEAVY []" in stderr.decode(), stderr.decode()


async def test_health_reads_its_port_from_env_and_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HEALTH_PORT=\nWEBHOOK_URL=\n")
    code, _out, err = await cli(tmp_path, "health")
    assert code == 2
    assert "set HEALTH_PORT" in one_line(err), "an empty value is unset, as in Settings"
    (tmp_path / ".env").write_text("health_port=1\n")
    code, _out, err = await cli(tmp_path, "health")
    assert code == 1
    assert "/healthz on port 1 did not answer" in one_line(err)


def test_env_example_sets_only_what_a_new_user_must() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    live = [line for line in lines if line and not line.startswith("#")]
    assert len(live) <= 6, live
    empty = [line.split("=")[0] for line in live if line.endswith("=")]
    assert empty == ["TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY"], empty


async def test_settings_lists_every_setting_with_its_default(tmp_path: Path) -> None:
    code, out, _err = await cli(tmp_path, "settings")
    assert code == 0
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in out, name
    assert "# LLM_TIMEOUT_SECONDS=120" in out

"""`python -m ai_tg_bot` as a user runs it: start-up checks, migrations, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.fakes.llm import FakeLLM
from tests.fakes.telegram import FakeTelegram

USER = 777
MCP_SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "fakes" / "mcp_server.py"


def bot_env(**values: str) -> dict[str, str]:
    """The environment minus any bot setting inherited from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "OPENAI_"))}
    env.pop("DATABASE_URL", None)
    return env | values


def stand_ins_env(tg: FakeTelegram, llm: FakeLLM, **values: str) -> dict[str, str]:
    """The settings of a bot talking to the stand-ins, and `values`."""
    return bot_env(
        TELEGRAM_BOT_TOKEN="123456:PROCESS-test",
        TELEGRAM_API_URL=tg.base_url,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=llm.base_url,
        LLM_MODEL="fake-model",
        LLM_MAX_RETRIES="0",
        **values,
    )


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


async def read_until(stream: asyncio.StreamReader, wanted: bytes) -> bytes:
    """Read a process's output line by line until one holds `wanted`; what was read (the
    rest stays for `communicate`)."""
    read = b""
    while True:
        line = await stream.readline()
        read += line
        if not line:
            raise AssertionError(f"the output ended without {wanted!r}: {read[-2000:]!r}")
        if wanted in line:
            return read


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


async def test_a_taken_health_port_stops_start_up_with_one_line(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = stand_ins_env(
            *fakes,
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            HEALTH_PORT=str(port),
            WEBHOOK_LISTEN_HOST="127.0.0.1",
        )
        process = await run_bot(tmp_path, env)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2, stderr.decode()[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in stderr.decode()
    assert "Traceback" not in stderr.decode() + stdout.decode()


async def test_the_process_migrates_answers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    tg, llm = fakes
    env = stand_ins_env(tg, llm, SHUTDOWN_GRACE_SECONDS="20")
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


async def test_the_process_reads_documents_draws_speaks_and_calls_tools(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]
) -> None:
    """Issue 20 as an operator turns it on: settings in the environment, a real MCP server
    process named in MCP_SERVERS by its path, the bot run as `python -m ai_tg_bot`."""
    tg, llm = fakes
    server = MCP_SERVER_SCRIPT
    env = stand_ins_env(
        tg,
        llm,
        ADMIN_USER_IDS=str(USER),
        RATE_LIMIT_PER_MINUTE="0",
        IMAGE_MODEL="img-model",
        TTS_MODEL="tts-model",
        MCP_SERVERS=f"calc={sys.executable} {server}",
    )
    process = await run_bot(tmp_path, env)
    try:
        await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")), 60, "polling")
        default = json.dumps({"type": "default"}, sort_keys=True), ""
        await tg.wait_for(lambda: default in tg.localized_commands, 30, "the menu")
        assert {"image", "voice", "tools"} <= {c["command"] for c in tg.localized_commands[default]}

        # A document: its text reaches the model, the caption is the question.
        tg.add_file("doc-1", b"Line one of the notes.\nThe answer is 42.", "docs/n.txt")
        document = {"file_id": "doc-1", "file_unique_id": "udoc-1", "file_name": "notes.txt",
                    "mime_type": "text/plain", "file_size": 40}  # fmt: skip
        tg.push_update(
            {"message": tg.make_message(USER, document=document, caption="What is the answer?")}
        )
        await tg.wait_for(lambda: any("What is the answer?" in t for t in tg.texts(USER)), 30)
        sent = llm.last_request["messages"][-1]["content"]
        assert "notes.txt" in sent
        assert "The answer is 42." in sent

        # /image: a photo.
        tg.push_text(USER, "/image a red square")
        await tg.wait_for(lambda: len(tg.photos) == 1, 30, "the photo")

        # /voice on: the next answer comes as a voice message too.
        tg.push_text(USER, "/voice on")
        await tg.wait_for(lambda: any("/voice off" in t for t in tg.texts(USER)), 30)
        tg.push_text(USER, "say something")
        await tg.wait_for(lambda: len(tg.voices) == 1, 30, "the voice message")
        tg.push_text(USER, "/voice off")
        await tg.wait_for(lambda: any("/voice on" in t for t in tg.texts(USER)[-1:]), 30)

        # A tool call through the MCP server process, once the bot says it is connected.
        assert process.stderr is not None
        head = await asyncio.wait_for(read_until(process.stderr, b"MCP server calc: connected"), 60)
        llm.queue_tool_call("calc__add", {"a": 2, "b": 3})
        tg.push_text(USER, "what is 2 + 3?")
        await tg.wait_for(lambda: "🔧 calc: add\n\nTool said: 5" in tg.texts(USER), 30)

        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 30)
        stderr = (head + rest).decode()
        assert process.returncode == 0, stderr[-2000:]
        assert "Traceback" not in stderr
        assert "The answer is 42." not in stderr, "a document's text logged"
        assert "2 + 3" not in stderr, "a question logged"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

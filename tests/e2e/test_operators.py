"""Issue 28: what an operator meets. Models the server does not serve, pgbouncer
without DB_PGBOUNCER."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import asyncpg

from ai_tg_bot.bot.startup import check_llm
from ai_tg_bot.storage import database_hint
from tests.e2e.conftest import HarnessFactory
from tests.e2e.test_cli import cli, one_line

ALICE = 28_001


async def test_models_the_server_does_not_list_are_warned_and_refused(
    make_bot: HarnessFactory,
) -> None:
    bot = await make_bot(llm_models=["fake-model", "gpt-4o-mini", "ghost-model"])
    assert bot.app is not None
    warning = await check_llm(bot.app.deps.llm, bot.settings)
    assert warning is not None
    assert "LLM_MODELS" in warning
    assert "ghost-model" in warning
    (listing,) = await bot.say(ALICE, "/model")
    assert "ghost-model" not in listing, "not offered"
    (refused,) = await bot.say(ALICE, "/model ghost-model")
    assert refused.startswith("Unknown model"), refused
    assert await bot.say(ALICE, "/model gpt-4o-mini") == ["Model switched to gpt-4o-mini."]
    assert await bot.say(ALICE, "hello") == ["Echo: hello"]


def test_pgbouncers_broken_prepared_statements_name_the_setting() -> None:
    error = asyncpg.exceptions.DuplicatePreparedStatementError(
        'prepared statement "__asyncpg_stmt_a__" already exists'
    )
    hint = database_hint(error, pgbouncer=False)
    assert hint is not None
    assert "DB_PGBOUNCER=true" in hint
    assert database_hint(error, pgbouncer=True) is None, "a known setup: nothing to say"
    assert database_hint(ValueError("unrelated"), pgbouncer=False) is None


async def test_every_invalid_setting_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:abc\nOPENAI_API_KEY=k\nLLM_TIMEOUT_SECONDS=soon\nDB_POOL_SIZE=0\n"
    )
    code, _out, err = await cli(tmp_path, "run")
    assert code == 2
    assert "2 invalid settings" in err
    assert "LLM_TIMEOUT_SECONDS" in err
    assert "DB_POOL_SIZE" in err


async def test_an_unreachable_database_names_where_and_the_fix(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    url = f"postgresql+asyncpg://bot:secret@127.0.0.1:{unused_tcp_port}/bot"
    (tmp_path / ".env").write_text(
        f"TELEGRAM_BOT_TOKEN=123:abc\nOPENAI_API_KEY=k\nDATABASE_URL={url}\n"
    )
    code, _out, err = await cli(tmp_path, "run")
    assert code == 2
    line = one_line(err)
    assert f"127.0.0.1:{unused_tcp_port}" in line
    assert "leave DATABASE_URL unset" in line
    assert "secret" not in err


async def test_with_json_logs_a_start_up_failure_is_json_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_FORMAT=json\nDB_POOL_SIZE=0\n")
    code, _out, err = await cli(tmp_path, "run")
    assert code == 2
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert entries, err
    assert "DB_POOL_SIZE" in entries[-1]["message"]
    assert entries[-1]["level"] == "ERROR"


async def test_the_bot_does_not_load_mcp_without_mcp_servers() -> None:
    probe = "import sys, ai_tg_bot.bot.app\nprint('mcp' in sys.modules)"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert out.decode().strip() == "False"

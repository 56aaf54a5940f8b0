"""What the figures were measured on, and the process's memory."""

from __future__ import annotations

import asyncio
import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import asyncpg

from bench.dbs import asyncpg_dsn
from tests.dbs import test_database_url

ROOT = Path(__file__).resolve().parents[1]


def _proc_field(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return ""


def reset_peak_rss() -> bool:
    """Make VmHWM start again from the current RSS (Linux >= 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=False, timeout=5,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return found.stdout.strip()


async def describe() -> dict[str, str]:
    """CPU, cores, RAM, versions, date and commit."""
    try:
        connection = await asyncpg.connect(asyncpg_dsn(test_database_url()), timeout=5)
        try:
            postgres = str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()
    except (OSError, asyncpg.PostgresError, TimeoutError):
        postgres = "unreachable"
    commit = await asyncio.to_thread(_commit)
    memory = _proc_field("/proc/meminfo", "MemTotal")
    packages = ("sqlalchemy", "asyncpg", "aiosqlite", "aiogram", "openai")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": str(os.cpu_count()),
        "ram": f"{int(memory.split()[0]) / 1024 / 1024:.1f} GiB" if memory else "",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{name} {version(name)}" for name in packages),
        "commit": commit,
    }


STOP_SECONDS = 10.0  # a stand-in's time to finish after its stdin closes


async def stop_child(process: asyncio.subprocess.Process) -> None:
    """Close a stand-in's stdin (its signal to stop) and wait for it; kill it if it hangs."""
    assert process.stdin is not None
    process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()

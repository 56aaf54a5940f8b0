"""Benchmark 3: the per-turn cost is flat in the number of stored messages.

One database per size, bulk-loaded with SQL: a handful of measured users whose own
history grows with the size (1% of it each, all but the newest 50 soft-deleted) and
background users with 1,000 messages each (950 soft-deleted) making up the rest. The
sizes are measured in turn, repeat by repeat, so drift hits them all alike.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.db.database import Database
from ai_tg_bot.storage import DialogueStore
from bench.dbs import analyze, asyncpg_dsn, bench_database, bench_settings, seed
from bench.floor import PgFloor, SqliteFloor
from bench.stats import Result, RunStats, Target, drive, median
from bench.storage_cost import project_turn

MEASURED_FIRST_USER = 1
BACKGROUND_FIRST_USER = 1_000_000
BACKGROUND_MESSAGES = 1_000
ACTIVE = 50


@dataclass(frozen=True, slots=True)
class Config:
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    measured_users: int = 5
    turns_per_run: int = 100
    repeats: int = 5


def layout(size: int, measured_users: int) -> dict[str, int]:
    """How `size` messages are split between measured and background users."""
    per_measured = max(ACTIVE + 10, size // 100)
    rest = max(size - measured_users * per_measured, 0)
    background = -(-rest // BACKGROUND_MESSAGES)
    return {"size": size, "measured_users": measured_users, "per_measured": per_measured,
            "background_users": background, "background_messages": BACKGROUND_MESSAGES}  # fmt: skip


_PLAN_LINE = re.compile(r"(Index|Seq|Bitmap)[\w ]*Scan|Execution Time", re.I)


async def explain(url: str, user_id: int, settings: Settings) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of DialogueStore's history, trim and quota statements for one user
    (inside a transaction that is rolled back)."""
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sql = PgFloor(settings, []).sql
    connection = await asyncpg.connect(asyncpg_dsn(url))
    plans: dict[str, list[str]] = {}
    try:
        conversation_id = await connection.fetchval(
            "SELECT current_conversation_id FROM users WHERE id = $1", user_id
        )
        limit = settings.default_max_history_messages
        statements = {
            "history": (sql["history"], (user_id, conversation_id, settings.max_context_chars)),
            "trim": (sql["trim"], (now, user_id, conversation_id, limit - 1)),
            "quota": (sql["quota"], (today, now - timedelta(minutes=1), user_id, today)),
        }
        for name, (statement, args) in statements.items():
            transaction = connection.transaction()
            await transaction.start()
            try:
                rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *args)
            finally:
                await transaction.rollback()
            plans[name] = [str(r[0]) for r in rows]
    finally:
        await connection.close()
    return plans


def key_lines(plan: list[str]) -> list[str]:
    """The scan nodes and the execution time: what says "an index does the work"."""
    return [line.strip() for line in plan if _PLAN_LINE.search(line)]


async def measure(backend: str, config: Config) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[int, str] = {}
        for size in config.sizes:
            url = await stack.enter_async_context(bench_database(backend))
            shape = layout(size, config.measured_users)
            await seed(url, MEASURED_FIRST_USER, config.measured_users,
                       messages_per_user=shape["per_measured"], active=ACTIVE,
                       content_chars=100)  # fmt: skip
            await seed(url, BACKGROUND_FIRST_USER, shape["background_users"],
                       messages_per_user=BACKGROUND_MESSAGES, active=ACTIVE,
                       content_chars=100)  # fmt: skip
            await analyze(url)
            urls[size] = url
        databases = {size: Database(url) for size, url in urls.items()}
        stack.push_async_callback(_close_all, list(databases.values()))
        turns = {size: project_turn(DialogueStore(db, bench_settings(urls[size])))
                 for size, db in databases.items()}  # fmt: skip
        users = range(MEASURED_FIRST_USER, MEASURED_FIRST_USER + config.measured_users)
        per_user = max(1, config.turns_per_run // config.measured_users)
        for turn in turns.values():
            await drive(turn, users, 1)
        runs: dict[int, list[RunStats]] = {size: [] for size in config.sizes}
        for _ in range(config.repeats):
            for size, turn in turns.items():
                # One user at a time: the per-turn latency is the cost.
                for user_id in users:
                    runs[size].append(await drive(turn, [user_id], per_user))
        largest = max(config.sizes)
        settings = bench_settings(urls[largest])
        if backend == "postgresql":
            plans = await explain(urls[largest], MEASURED_FIRST_USER, settings)
        else:
            plans = await _sqlite_plans(databases[largest], settings)
    smallest = min(config.sizes)
    per_repeat = len(users)
    rows = []
    for size in config.sizes:
        p50s = [r.p50_ms for r in runs[size]]
        ratios = [
            median(p50s[i : i + per_repeat]) / median(
                [r.p50_ms for r in runs[smallest]][i : i + per_repeat])
            for i in range(0, len(p50s), per_repeat)
        ]  # fmt: skip
        rows.append({**layout(size, config.measured_users), "p50_ms": median(p50s),
                     "p99_ms": median([r.p99_ms for r in runs[size]]),
                     "turns": sum(r.turns for r in runs[size]),
                     "ratio_to_smallest": median(ratios)})  # fmt: skip
    return {"rows": rows, "plans": plans}


async def _close_all(databases: list[Database]) -> None:
    for database in databases:
        await database.close()


async def _sqlite_plans(database: Database, settings: Settings) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of the same statements on SQLite."""
    sql = SqliteFloor(settings, []).sql
    named = {f"p{n}": 1 for n in range(1, 13)}
    plans: dict[str, list[str]] = {}
    async with database.engine.connect() as connection:
        for name in ("history", "trim", "quota"):
            result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql[name]}", named)
            plans[name] = [str(row[-1]) for row in result]
    return plans


async def run(config: Config, backends: tuple[str, ...]) -> Result:
    """Benchmark 3 on each backend."""
    result = Result(
        name="history",
        title="Per-turn cost by stored messages (benchmark 3)",
        columns=["backend", "messages", "users", "measured user's messages", "p50 ms",
                 "p99 ms", "p50 / smallest"],
        params={"sizes": list(config.sizes), "measured_users": config.measured_users,
                "turns_per_run": config.turns_per_run, "repeats": config.repeats},
    )  # fmt: skip
    for backend in backends:
        found = await measure(backend, config)
        result.raw[backend] = found
        for row in found["rows"]:
            users = row["measured_users"] + row["background_users"]
            result.rows.append([
                backend, row["size"], users, row["per_measured"], row["p50_ms"], row["p99_ms"],
                row["ratio_to_smallest"],
            ])  # fmt: skip
        largest, smallest = found["rows"][-1], found["rows"][0]
        result.targets.append(Target(
            f"{backend}: per-turn p50 at {largest['size']:,} / at {smallest['size']:,} messages",
            largest["ratio_to_smallest"], 1.2,
        ))  # fmt: skip
        for name, plan in found["plans"].items():
            lines = key_lines(plan) if backend == "postgresql" else plan
            result.notes.append(f"{backend} {name} plan at {largest['size']:,}: "
                                + " | ".join(lines))  # fmt: skip
    result.notes.insert(0, (
        "Each size is its own database: the measured users hold 1% of the messages each "
        "(all but 50 soft-deleted), background users 1,000 each (950 soft-deleted); "
        "VACUUM ANALYZE / ANALYZE after loading. Turns run one user at a time."
    ))  # fmt: skip
    return result

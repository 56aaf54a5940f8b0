"""Benchmarks 1 and 2: one turn's storage work through DialogueStore and through the bare driver.

A turn is what the bot does with the database: `DialogueStore.ask` (stores the question under
the user's limits, trims, takes the turn lease and reads the context, one transaction)
and `DialogueStore.complete` (stores the answer and gives the lease back, one transaction).
Users start with a full history, so both also trim.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from ai_tg_bot.db.database import Database
from ai_tg_bot.storage import DialogueStore, NewQuestion, TokenUsage
from bench.dbs import active_counts, bench_database, bench_settings, seed
from bench.floor import FLOOR_ROUND_TRIPS, Floor, open_floor
from bench.stats import Result, RunStats, Target, Turn, drive, median

PROJECT_FIRST_USER = 1_000_001
FLOOR_FIRST_USER = 2_000_001
QUESTION = "What is the capital of France, and why did it become the capital? " * 3
ANSWER = "Paris. It grew around the Île de la Cité and the kings settled there. " * 3
USAGE = TokenUsage("fake-model", 120, 40)
OWNER = "bench"
LEASE_SECONDS = 20.0
# Each backend's floor (bench/floor.py) and the most a turn's storage may cost against it.
FLOORS = {"postgresql": ("asyncpg", 2.0), "sqlite": ("sqlite3-on-the-loop", 1.5)}


@dataclass(frozen=True, slots=True)
class Config:
    concurrency: tuple[int, ...] = (1, 10, 50)
    turns_per_run: int = 400  # split among the users of a run
    repeats: int = 5
    history_limit: int = 50


def project_turn(storage: DialogueStore) -> Turn:
    """One turn's storage work, as the bot's turn does it (no question queued behind)."""

    async def turn(user_id: int) -> None:
        stored = await storage.ask(
            NewQuestion(user_id, QUESTION), owner=OWNER, lease_seconds=LEASE_SECONDS
        )
        if stored.handoff is None:
            raise RuntimeError(f"user {user_id}'s turn lease was held: turns overlapped")
        await storage.complete(
            user_id,
            stored.handoff.question,
            ANSWER,
            USAGE,
            owner=OWNER,
            lease_seconds=LEASE_SECONDS,
        )

    return turn


def floor_turn(floor: Floor) -> Turn:
    """The same turn on the floor."""
    usage = (USAGE.model, USAGE.prompt_tokens, USAGE.completion_tokens)

    async def turn(user_id: int) -> None:
        conversation_id = await floor.add_message(user_id, "user", QUESTION, quota=True)
        await floor.load_context(user_id, conversation_id)
        await floor.add_message(user_id, "assistant", ANSWER, usage=usage,
                                conversation_id=conversation_id)  # fmt: skip

    return turn


async def count_round_trips(database: Database, turn: Turn, user_id: int) -> dict[str, int]:
    """What one turn sends: SQL statements, transactions, connection checkouts (each of
    which pings first on PostgreSQL: pool_pre_ping)."""
    seen: Counter[str] = Counter()
    engine = database.engine.sync_engine
    listeners = {
        "before_cursor_execute": lambda *_: seen.update(["statements"]),
        "commit": lambda *_: seen.update(["commits"]),
        "checkout": lambda *_: seen.update(["checkouts"]),
    }
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        await turn(user_id)
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)
    counts = dict(seen)
    if not database.is_sqlite:  # asyncpg: BEGIN and COMMIT are a round trip each
        counts["round_trips"] = counts.get("statements", 0) + 2 * counts.get("commits", 0)
        counts["round_trips"] += counts.get("checkouts", 0)
    return counts


def _row(backend: str, users: int, impl: str, runs: list[RunStats]) -> dict[str, Any]:
    return {
        "backend": backend,
        "users": users,
        "impl": impl,
        "turns": sum(r.turns for r in runs),
        "p50_ms": median([r.p50_ms for r in runs]),
        "p99_ms": median([r.p99_ms for r in runs]),
        "turns_per_second": median([r.turns_per_second for r in runs]),
        "cost_ms": median([r.cost_ms for r in runs]),
    }


async def measure(backend: str, config: Config) -> list[dict[str, Any]]:
    """Project and floor, interleaved run by run, at each concurrency level."""
    most = max(config.concurrency)
    async with bench_database(backend) as url:
        for first in (PROJECT_FIRST_USER, FLOOR_FIRST_USER):
            await seed(url, first, most, messages_per_user=config.history_limit + 10,
                       active=config.history_limit, limit=config.history_limit)  # fmt: skip
        settings = bench_settings(url, default_max_history_messages=config.history_limit)
        database = Database(url, pool_size=settings.db_pool_size,
                            max_overflow=settings.db_max_overflow)  # fmt: skip
        connections = settings.db_pool_size + settings.db_max_overflow  # SQLite: one
        try:
            async with open_floor(url, settings, connections) as floor:
                turns = {"project": project_turn(DialogueStore(database, settings)),
                         "floor": floor_turn(floor)}  # fmt: skip
                firsts = {"project": PROJECT_FIRST_USER, "floor": FLOOR_FIRST_USER}
                users = {name: range(first, first + most) for name, first in firsts.items()}
                for name in turns:  # warm-up: connections opened, statements prepared
                    await drive(turns[name], users[name], 1)
                runs: dict[tuple[int, str], list[RunStats]] = {}
                for repeat in range(config.repeats):
                    for level in config.concurrency:
                        order = ("project", "floor") if repeat % 2 == 0 else ("floor", "project")
                        per_user = max(1, config.turns_per_run // level)
                        for name in order:
                            run = await drive(turns[name], users[name][:level], per_user)
                            runs.setdefault((level, name), []).append(run)
                trips = await count_round_trips(database, turns["project"], PROJECT_FIRST_USER)
            counts = {name: await active_counts(url, first, most) for name, first in firsts.items()}
        finally:
            await database.close()
    rows = []
    for level in config.concurrency:
        project, floor_runs = runs[level, "project"], runs[level, "floor"]
        row = _row(backend, level, "project", project) | {
            "floor": _row(backend, level, "floor", floor_runs),
            "cost_ratio": median([p.cost_ms / f.cost_ms for p, f in zip(project, floor_runs,
                                                                          strict=True)]),
            "p50_ratio": median([p.p50_ms / f.p50_ms for p, f in zip(project, floor_runs,
                                                                        strict=True)]),
        }  # fmt: skip
        rows.append(row)
    rows[0]["project_round_trips"] = trips
    rows[0]["floor_round_trips"] = FLOOR_ROUND_TRIPS
    rows[0]["history_ok"] = all(
        all(n == config.history_limit for n in found.values()) and len(found) == most
        for found in counts.values()
    )
    return rows


async def run(config: Config, backends: tuple[str, ...]) -> Result:
    """Benchmarks 1 and 2 on each backend."""
    result = Result(
        name="storage",
        title="DialogueStore cost per turn, project vs floor (benchmarks 1 and 2)",
        columns=["backend", "users", "project p50 ms", "p99 ms", "turns/s",
                 "floor p50 ms", "p99 ms", "turns/s", "cost ratio", "p50 ratio"],
        params={"concurrency": list(config.concurrency), "turns_per_run": config.turns_per_run,
                "repeats": config.repeats, "history_limit": config.history_limit},
    )  # fmt: skip
    for backend in backends:
        rows = await measure(backend, config)
        result.raw[backend] = rows
        for row in rows:
            floor = row["floor"]
            result.rows.append([
                backend, row["users"], row["p50_ms"], row["p99_ms"], row["turns_per_second"],
                floor["p50_ms"], floor["p99_ms"], floor["turns_per_second"],
                row["cost_ratio"], row["p50_ratio"],
            ])  # fmt: skip
        at_ten = next((r for r in rows if r["users"] == 10), rows[-1])
        floor, limit = FLOORS[backend]
        result.targets.append(Target(
            f"{backend}: per-turn cost / {floor} floor at {at_ten['users']} users",
            at_ten["cost_ratio"], limit,
        ))  # fmt: skip
    result.notes.append(
        "A turn = DialogueStore.ask (question under the limits + trim + lease + context) and "
        "DialogueStore.complete (answer + trim + lease given back), two transactions, as the "
        "bot's turn stores it; the floor does the same rows in three transactions and "
        "takes no lease. Every user starts with a full history, so both writes trim. "
        "The floor is raw asyncpg on PostgreSQL and, on SQLite, the standard library's "
        "sqlite3 called on the loop as the bot's driver does (ADR 0017). "
        "cost ratio = (wall time per turn, project) / (same, floor), paired run by run; "
        "figures are medians over the repeats."
    )
    return result

"""Small statistics and the result shapes every benchmark returns."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Turn = Callable[[int], Awaitable[None]]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float:
    """The median (0 for no values)."""
    return statistics.median(values) if values else 0.0


@dataclass(frozen=True, slots=True)
class RunStats:
    """One timed run: how many turns, how long, and the latency of each turn."""

    turns: int
    wall_seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cost_ms(self) -> float:
        """Wall time per turn: the inverse of throughput."""
        return 1000 * self.wall_seconds / self.turns if self.turns else 0.0


async def drive(turn: Turn, users: Sequence[int], turns_per_user: int) -> RunStats:
    """Every user does `turns_per_user` turns in a loop, all users at once."""
    latencies: list[float] = []

    async def user_loop(user_id: int) -> None:
        for _ in range(turns_per_user):
            started = time.perf_counter()
            await turn(user_id)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(user_loop(user_id) for user_id in users))
    wall = time.perf_counter() - started
    return RunStats(
        turns=len(latencies),
        wall_seconds=wall,
        p50_ms=1000 * percentile(latencies, 0.50),
        p99_ms=1000 * percentile(latencies, 0.99),
    )


@dataclass(slots=True)
class Target:
    """A figure the issue sets a limit on, and whether this run met it."""

    name: str
    value: float
    limit: float
    higher_is_better: bool = False
    met: bool = field(init=False)

    def __post_init__(self) -> None:
        self.met = self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def describe(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.limit:g}"


@dataclass(slots=True)
class Result:
    """What one benchmark reports: a table, its targets, notes, and raw figures."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

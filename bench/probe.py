"""How busy a process is, sampled from inside it: the event loop's lag, CPU time, RSS.

No imports beyond the standard library: bench/load_bot.py uses it in the bot's process,
whose memory is one of the figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

LAG_PERIOD = 0.01  # seconds between the loop lag probes
SAMPLE_PERIOD = 0.5  # seconds between CPU and RSS samples


def rss_mb(key: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS), or its peak (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0]) / 1024
    return 0.0


class Probe:
    """The event loop's lag (how late a 10 ms sleep wakes), CPU seconds and RSS over time,
    each stamped with time.monotonic()."""

    def __init__(self) -> None:
        self.lags: list[tuple[float, float]] = []  # (at, lag in ms)
        self.usage: list[tuple[float, float, float]] = []  # (at, CPU seconds, RSS MB)

    async def run(self) -> None:
        next_sample = 0.0
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_PERIOD)
            now = time.monotonic()
            self.lags.append((round(now, 4), round(1000 * (now - before - LAG_PERIOD), 2)))
            if now >= next_sample:
                self.usage.append((round(now, 3), round(time.process_time(), 3), rss_mb()))
                next_sample = now + SAMPLE_PERIOD


def lags_between(lags: Sequence[Sequence[float]], start: float, end: float) -> list[float]:
    """The lags (ms) measured in [start, end)."""
    return [lag for at, lag in lags if start <= at < end]


def cpu_share(usage: Sequence[Sequence[float]], start: float, end: float) -> float:
    """The share of one core this process used in [start, end) (0 without two samples)."""
    inside = [(at, cpu) for at, cpu, _ in usage if start <= at < end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return 0.0
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

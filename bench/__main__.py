"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print the table, and
write docs/benchmarks.md and docs/benchmarks.json."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import (
    end_to_end,
    history_size,
    slow_llm,
    startup,
    storage_cost,
    telegram_load,
    workers,
)
from bench.dbs import BACKENDS
from bench.machine import ROOT, describe
from bench.report import print_results, write
from bench.stats import Result

Runner = Callable[[tuple[str, ...]], Awaitable[Result]]

# Sized for about twenty minutes on a quiet 2-core machine.
FULL: dict[str, Runner] = {
    # First, while the process is fresh: its peak RSS is one of the figures. 1,000 turns a
    # run give percentiles over many samples; one run per backend, for time.
    "slow_llm": lambda b: slow_llm.run(slow_llm.Config(repeats=1), b),
    "storage": lambda b: storage_cost.run(storage_cost.Config(turns_per_run=120, repeats=3), b),
    "history": lambda b: history_size.run(history_size.Config(turns_per_run=50, repeats=3), b),
    # About 30 s per backend: 5 repeats of 3 bursts of 100 turns per bot, alternating.
    "end_to_end": lambda b: end_to_end.run(end_to_end.Config(repeats=5, bursts=3), b),
    # About 2 minutes a run: a ramp of one answer (33 s), the 45 s window at 30 new turns
    # a second with ~1,000 users mid-answer, then the drain. Per mode, one run of the
    # no-history baseline, then one of the real bot per backend: 6 runs for both.
    "telegram_load": lambda b: telegram_load.run(telegram_load.Config(), b),
    # About a minute per backend: 1 then 2 webhook worker processes, 5 bursts of 400 turns.
    "workers": lambda b: workers.run(workers.Config(), b),
    # Process starts to the first getUpdates: the real bot against bare aiogram.
    "startup": lambda b: startup.run(startup.Config(repeats=5), b),
}
QUICK: dict[str, Runner] = {
    "slow_llm": lambda b: slow_llm.run(
        slow_llm.Config(users=200, delay_seconds=1.0, turns_per_user=1, repeats=1), b
    ),
    "storage": lambda b: storage_cost.run(
        storage_cost.Config(concurrency=(1, 10), turns_per_run=100, repeats=2), b
    ),
    "history": lambda b: history_size.run(
        history_size.Config(sizes=(10_000, 100_000), turns_per_run=50, repeats=2), b
    ),
    "end_to_end": lambda b: end_to_end.run(
        end_to_end.Config(users=10, messages_per_user=3, repeats=3, bursts=2), b
    ),
    "telegram_load": lambda b: telegram_load.run(
        telegram_load.Config(rate=10, window_seconds=5, answer_seconds=5), b
    ),
    "workers": lambda b: workers.run(workers.Config(users=20, messages_per_user=10, repeats=3), b),
    "startup": lambda b: startup.run(startup.Config(repeats=2), b),
}


async def main(args: argparse.Namespace) -> None:
    plan = QUICK if args.quick else FULL
    names = args.only or list(plan)
    backends = tuple(args.backend or BACKENDS)
    started = time.perf_counter()
    machine = await describe()
    results = []
    for name in names:
        print(f"\nrunning {name} on {', '.join(backends)} ...", flush=True)
        begun = time.perf_counter()
        try:
            result = await plan[name](backends)
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            logging.exception("benchmark %s failed", name)
            result = Result(name, f"{name}: FAILED", ["error"], [[f"{type(exc).__name__}: {exc}"]])
        result.params["seconds"] = round(time.perf_counter() - begun, 1)
        results.append(result)
        print_results([result], targets=False)
    print_results(results)
    meta: dict[str, Any] = {"mode": "quick" if args.quick else "full", "only": names,
                            "seconds": time.perf_counter() - started}  # fmt: skip
    if not args.no_write:
        write(results, machine, meta, args.out)
        print(f"\nwrote {args.out / 'benchmarks.md'} and benchmarks.json")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", action="append", choices=list(FULL), help="repeatable")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="repeatable")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="default: docs/")
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parse()))

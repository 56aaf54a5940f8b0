"""The real bot under load, in a process of its own (bench/telegram_load.py starts it):
`python -m bench.load_bot '<json spec>'` (its settings: bench.dbs.bench_settings's, as JSON).

`Application.create(settings)`, then `run_polling` or `run_webhook` until stdin closes;
then one JSON line on stdout: peak RSS (VmHWM: this process only), and samples of the
event loop's lag, CPU time and RSS, each stamped with `time.monotonic()` so the bench can
keep those of its measured window. With `profile` set, cProfile's stats go to that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import logging
import sys
from typing import Any

from ai_tg_bot.bot.app import Application
from ai_tg_bot.config.settings import Settings
from ai_tg_bot.process.runtime import settle_heap
from bench.probe import Probe, rss_mb


async def serve(spec: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(_env_file=None, **spec["settings"])
    app = Application.create(settings)
    settle_heap()  # as `ai-tg-bot run` does before serving
    probe = Probe()
    probing = asyncio.create_task(probe.run())
    if spec["mode"] == "webhook":
        running = asyncio.create_task(app.run_webhook(handle_signals=False))
    else:
        running = asyncio.create_task(app.run_polling(handle_signals=False, polling_timeout=10))
    print("started", flush=True)
    stdin = asyncio.create_task(asyncio.to_thread(sys.stdin.read))
    await asyncio.wait({running, stdin}, return_when=asyncio.FIRST_COMPLETED)
    await app.stop()
    await running  # raises if the bot failed: the bench sees no report
    probing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probing
    return {"rss_peak_mb": rss_mb("VmHWM"), "lags": probe.lags, "usage": probe.usage}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(sys.argv[1])
    profiler = cProfile.Profile() if spec.get("profile") else None
    if profiler is not None:
        profiler.enable()
    report = asyncio.run(serve(spec))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()

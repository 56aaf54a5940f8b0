"""A bot under load, in a process of its own (bench/telegram_load.py starts it):
`python -m bench.load_bot '<json spec>'` (its settings: bench.dbs.bench_settings's, as JSON).

The real bot, `Application.create(settings)`, then `run_polling` or `run_webhook`; or,
with `baseline` in the spec, the no-history bot (bench/baseline.py), polling or serving
its webhook, with nothing of the real bot imported. Either serves until stdin closes;
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
from collections.abc import Awaitable, Callable
from typing import Any

from ai_tg_bot.config.settings import Settings
from ai_tg_bot.process.runtime import settle_heap
from bench.probe import Probe, rss_mb

Stop = Callable[[], Awaitable[None]]


def start_real(settings: Settings, webhook: bool) -> tuple[asyncio.Task[None], Stop]:
    """The real bot serving (as a task), and how to stop it."""
    from ai_tg_bot.bot.app import Application  # only here: the baseline's memory is its own

    app = Application.create(settings)
    if webhook:
        running = asyncio.create_task(app.run_webhook(handle_signals=False))
    else:
        running = asyncio.create_task(app.run_polling(handle_signals=False, polling_timeout=10))

    async def stop() -> None:
        await app.stop()
        await running  # raises if the bot failed: the bench sees no report

    return running, stop


def start_baseline(settings: Settings, webhook: bool) -> tuple[asyncio.Task[None], Stop]:
    """The no-history bot serving (as a task), and how to stop it."""
    from bench.baseline import NoHistoryBot

    baseline = NoHistoryBot(settings)
    if not webhook:
        polling = asyncio.create_task(baseline.run_polling(polling_timeout=10))

        async def stop_polling() -> None:
            await baseline.dispatcher.stop_polling()
            await polling  # closes the sessions; raises if the bot failed

        return polling, stop_polling

    async def serve_webhook() -> None:
        await baseline.start_webhook()
        await asyncio.Event().wait()  # until cancelled

    serving = asyncio.create_task(serve_webhook())

    async def stop_serving() -> None:
        serving.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await serving  # raises if the bot failed: the bench sees no report
        finally:
            await baseline.close()

    return serving, stop_serving


async def serve(spec: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(_env_file=None, **spec["settings"])
    start = start_baseline if spec.get("baseline") else start_real
    running, stop = start(settings, spec["mode"] == "webhook")
    settle_heap()  # as `ai-tg-bot run` does before serving (both bots alike)
    probe = Probe()
    probing = asyncio.create_task(probe.run())
    print("started", flush=True)
    stdin = asyncio.create_task(asyncio.to_thread(sys.stdin.read))
    await asyncio.wait({running, stdin}, return_when=asyncio.FIRST_COMPLETED)
    await stop()
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

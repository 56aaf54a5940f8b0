"""WEBHOOK_WORKERS > 1: `ai-tg-bot run` supervises that many webhook processes on one port.

The parent migrates once (cli.run), then starts the workers: fresh interpreters
(multiprocessing, spawn) handed the parent's Settings, each serving the webhook on
WEBHOOK_LISTEN_HOST:WEBHOOK_LISTEN_PORT with SO_REUSEPORT, so the kernel spreads incoming
connections across them. Worker 0 registers the webhook and the command menus (and purges,
with RETENTION_DAYS); every worker sweeps stranded questions. A worker's log lines carry
its index, and its /healthz names it (index and pid).

The parent, the supervisor:
- on SIGTERM or SIGINT sends SIGTERM to every worker and waits while each drains (its own
  graceful shutdown); exit 0 when all stopped cleanly. One still running
  2 x SHUTDOWN_GRACE_SECONDS + 15 s later is killed, and the exit code is 1;
- restarts a worker that dies (a crash, the OOM killer, kill -9), with a log line, after
  0.5 s, then 1, 2, 4 s... (at most 30 s) while it keeps dying within 60 s of its start;
  one that lived 60 s starts afresh. The fifth such death in a row makes it give up: the
  others are stopped as above, exit code 1;
- does not restart a worker that exits with 2 (a configuration problem, e.g. a token
  Telegram rejects: it would fail again): the others are stopped, exit code 2.
A worker whose supervisor is gone (killed with SIGKILL) drains and exits by itself, so no
orphan keeps serving the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_sentinels
from multiprocessing.process import BaseProcess
from typing import Any

from ai_tg_bot.config import Settings
from ai_tg_bot.process.quick import EXIT_CONFIG_ERROR
from ai_tg_bot.process.quick import EXIT_UNEXPECTED as EXIT_FAILED

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Beyond the workers' own drain (SHUTDOWN_GRACE_SECONDS, twice): closing connections.
STOP_MARGIN_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When a dead worker is started again, and when the supervisor gives up."""

    first_delay: float = 0.5
    max_delay: float = 30.0
    # A worker that lived this long before it died starts its count of deaths afresh.
    stable_seconds: float = 60.0
    # Deaths in a row (of one worker, each within stable_seconds of its start): give up.
    max_quick_deaths: int = 5

    def delay(self, deaths: int) -> float:
        """The wait before the restart that follows the `deaths`-th death in a row."""
        return float(min(self.first_delay * 2 ** max(deaths - 1, 0), self.max_delay))


@dataclass(slots=True)
class Slot:
    """One worker's place: its process now, and its record of deaths."""

    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    deaths: int = 0
    restart_at: float | None = None


def describe_exit(code: int | None) -> str:
    """'exited with 1', 'was killed by SIGKILL'."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with {code}"


class Supervisor:
    """Runs `target(payload, index)` in `count` processes until a signal; see the module."""

    def __init__(
        self,
        target: Callable[[Any, int], object],
        payload: Any,
        count: int,
        *,
        stop_timeout: float,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target, self.payload = target, payload
        self.slots = [Slot(index) for index in range(count)]
        self.stop_timeout = stop_timeout
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._context = multiprocessing.get_context("spawn")
        self._changed = asyncio.Event()
        self._stop_signal: int | None = None
        self._outcome: int | None = None  # set when giving up: the exit code
        self._stopping = False
        self._unclean = False  # a worker did not stop cleanly when asked

    async def run(self) -> int:
        """Start the workers, keep them running until a signal (or giving up), stop
        them; the exit code."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            for slot in self.slots:
                self._start(slot)
            return await self._stop_all(await self._supervise())
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            for slot in self.slots:  # only after an error above: nothing is left behind
                if slot.process is not None:
                    loop.remove_reader(slot.process.sentinel)
                    slot.process.kill()
                    slot.process.join()

    def _on_signal(self, sig: int) -> None:
        if self._stop_signal is None:
            log.info("%s: stopping the workers", signal.Signals(sig).name)
            self._stop_signal = sig
        self._changed.set()

    def _start(self, slot: Slot) -> None:
        process = self._context.Process(
            target=self.target,
            args=(self.payload, slot.index),
            name=f"ai-tg-bot worker {slot.index}",
            daemon=True,  # should the supervisor itself fail, its workers end with it
        )
        process.start()
        slot.process, slot.started_at, slot.restart_at = process, self._clock(), None
        # The sentinel becomes readable when the process ends.
        asyncio.get_running_loop().add_reader(process.sentinel, self._reap, slot, process)
        log.info("worker %d started pid=%s", slot.index, process.pid)

    def _reap(self, slot: Slot, process: BaseProcess) -> None:
        """A worker ended: note it, and decide what follows."""
        asyncio.get_running_loop().remove_reader(process.sentinel)
        process.join()
        slot.process = None
        self._changed.set()
        code, lived = process.exitcode, self._clock() - slot.started_at
        ended = f"worker {slot.index} pid={process.pid} {describe_exit(code)}"
        if self._stopping:
            if code not in (0, -signal.SIGTERM):  # SIGTERM's default: it had not started
                log.warning("%s while stopping", ended)
                self._unclean = True
            return
        if code == EXIT_CONFIG_ERROR:
            log.error("%s (a configuration problem, see above): stopping", ended)
            self._outcome = self._outcome or EXIT_CONFIG_ERROR
            return
        slot.deaths = slot.deaths + 1 if lived < self.policy.stable_seconds else 1
        if slot.deaths >= self.policy.max_quick_deaths:
            log.error(
                "%s after %.1fs: %d deaths in a row, each within %.0fs of its start: giving up",
                ended, lived, slot.deaths, self.policy.stable_seconds,
            )  # fmt: skip
            self._outcome = self._outcome or EXIT_FAILED
            return
        delay = self.policy.delay(slot.deaths)
        slot.restart_at = self._clock() + delay
        log.warning("%s after %.1fs; restarting it in %.1fs", ended, lived, delay)

    async def _supervise(self) -> int:
        """Restart dead workers when due, until a signal (0) or giving up (its code)."""
        while True:
            if self._outcome is not None:
                return self._outcome
            if self._stop_signal is not None:
                return 0
            now, due = self._clock(), []
            for slot in self.slots:
                if slot.process is None and slot.restart_at is not None:
                    if slot.restart_at <= now:
                        self._start(slot)
                    else:
                        due.append(slot.restart_at - now)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(due) if due else None)

    async def _stop_all(self, code: int) -> int:
        """SIGTERM to every worker, wait while they drain; the exit code."""
        self._stopping = True
        for slot in self.slots:
            slot.restart_at = None
            if slot.process is not None:
                slot.process.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout
        while any(slot.process is not None for slot in self.slots):
            left = deadline - loop.time()
            if left <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        for slot in self.slots:
            if (process := slot.process) is not None:
                log.error(
                    "worker %d pid=%s still running %.0fs after SIGTERM: killing it",
                    slot.index, process.pid, self.stop_timeout,
                )  # fmt: skip
                process.kill()
                self._reap(slot, process)
        if self._unclean and code == 0:
            code = EXIT_FAILED
        log.info("workers stopped (exit code %d)", code)
        return code


def supervise(settings: Settings) -> int:
    """`ai-tg-bot run` with WEBHOOK_WORKERS > 1 (migrations done): the exit code."""
    count = settings.webhook_workers
    log.info("starting %d webhook workers on port %s", count, settings.webhook_listen_port)
    stop_timeout = 2 * settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS
    supervisor = Supervisor(serve_worker, settings, count, stop_timeout=stop_timeout)
    try:
        return asyncio.run(supervisor.run())
    except Exception:
        log.exception("the worker supervisor stopped on an unexpected error")
        return EXIT_FAILED


def serve_worker(settings: Settings, index: int) -> None:
    """A worker process: its logging, a watch on its supervisor, then the bot; exits with
    the code `ai-tg-bot run` would (serve.serve_until_stopped)."""
    # Ctrl+C reaches every process of the terminal's group: the supervisor passes it on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ai_tg_bot.observability import configure_logging, install_redaction
    from ai_tg_bot.process.serve import serve_until_stopped

    install_redaction(settings)
    configure_logging(settings, worker=index)
    watch_supervisor()
    sys.exit(serve_until_stopped(settings, index))


def watch_supervisor() -> None:
    """SIGTERM to this worker once its supervisor is gone: it drains and exits."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait_for_sentinels([parent.sentinel])
        log.warning("the supervisor (pid %s) is gone: stopping", parent.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()

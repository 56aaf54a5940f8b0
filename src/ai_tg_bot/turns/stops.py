"""Stopping an answer being written: Telegram's Stop button on a draft, or /stop.

The turn that answers a question holds a stop signal while it does (`StopSignals`); the
model's stream runs under `until_stopped`, which cancels it the moment the signal is set,
closing the HTTP stream so the provider stops generating. A stop that reaches another
instance than the one streaming is written to the user's row (`users.stop_requested_seq`);
`Stops` reads those for the answers running here, once a second, while any runs.
See ADR 0013.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterator

from ai_tg_bot.storage import STORAGE_ERRORS, DialogueStore

log = logging.getLogger(__name__)
# How often an instance looks for stops requested through other instances.
STOP_POLL_SECONDS = 1.0


class StopSignals:
    """Answers in progress in this process that their user may stop, one per user.

    The answering turn opens a signal while it answers a question; `/stop` and
    Telegram's Stop button (`stopped_message_generation`) set it here, or, when another
    instance streams the answer, through the database (`StopWatcher`).
    """

    def __init__(self) -> None:
        self._running: dict[int, tuple[int, asyncio.Event]] = {}
        self.opened = asyncio.Event()  # set whenever a signal is open (wakes the watcher)

    @contextlib.contextmanager
    def open(self, user_id: int, seq: int) -> Iterator[asyncio.Event]:
        """A signal for the user's answer to question `seq`, closed when it ends."""
        event = asyncio.Event()
        self._running[user_id] = (seq, event)
        self.opened.set()
        try:
            yield event
        finally:
            if self._running.get(user_id, (0, None))[1] is event:
                del self._running[user_id]
            if not self._running:
                self.opened.clear()

    def running(self) -> dict[int, int]:
        """The users whose answers run here, and the question each answers."""
        return {user_id: seq for user_id, (seq, _event) in self._running.items()}

    def stop(self, user_id: int, seq: int | None = None) -> bool:
        """Stop the user's answer in progress (only the answer to `seq`, if given: a late
        press on an earlier answer's Stop button stops nothing); False if none was."""
        running = self._running.get(user_id)
        if running is None or (seq is not None and running[0] != seq):
            return False
        running[1].set()
        return True


async def until_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run `work` to its end, or cancel it as soon as `stop` is set; True if stopped.

    Cancelling the work closes the model's HTTP stream (llm.stream's `finally`), so the
    provider stops generating at once. An error of the work is raised as it is.
    """
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the turn itself was cancelled (shutdown)
        waiter.cancel()
        task.cancel()
        await asyncio.wait({task})  # the stream closed before going on up
        raise
    waiter.cancel()
    if task.done():
        task.result()  # the work's own error, if it failed
        return False
    task.cancel()
    # Waiting this way passes a cancellation of the turn itself on (shutdown); whatever
    # the cancelled stream raised on its way out is moot: stopped wins.
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved, so never reported as unhandled
    return True


class Stops:
    """Stop requests for this process: its own answers at once, the others' through the
    database, and a watch (while answers run here) for requests meant for its own."""

    def __init__(self, storage: DialogueStore) -> None:
        self.storage = storage
        self.signals = StopSignals()
        self._task: asyncio.Task[None] | None = None

    async def stop(self, user_id: int, seq: int | None = None) -> bool:
        """Stop the user's answer (to question `seq`, if given), here or through the
        instance writing it; False if no answer of theirs is being written."""
        if self.signals.stop(user_id, seq):
            return True
        return await self.storage.request_stop(user_id, seq)

    def start(self) -> None:
        """Watch while this process runs (idle, without a query, while nothing runs)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def check(self) -> int:
        """Stop the answers here whose stop was requested elsewhere; how many."""
        running = self.signals.running()
        if not running:
            return 0
        stopped = 0
        for user_id, seq in (await self.storage.stop_requests(list(running))).items():
            if self.signals.stop(user_id, seq):
                stopped += 1
            elif seq >= running[user_id]:
                continue  # for a question after the one running here: it will be checked
            await self.storage.clear_stop(user_id, seq)
        return stopped

    async def _watch(self) -> None:
        while True:
            await self.signals.opened.wait()
            await asyncio.sleep(STOP_POLL_SECONDS)
            try:
                await self.check()
            except STORAGE_ERRORS as exc:
                log.warning("could not read stop requests (%s)", type(exc).__name__)
            except Exception:
                # The watch must outlive any one failure: it is how stops cross instances.
                log.exception("reading stop requests failed")

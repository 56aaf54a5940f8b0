"""Readiness: the database is asked at most once per second, by one check shared by all."""

from __future__ import annotations

import asyncio

from ai_tg_bot.bot.health import Readiness


class Database:
    """A ping that counts its calls and answers when the test says so."""

    def __init__(self) -> None:
        self.pings = 0
        self.up = True
        self.answer = asyncio.Event()
        self.answer.set()

    async def ping(self) -> bool:
        self.pings += 1
        await self.answer.wait()
        return self.up


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_probes_share_one_check() -> None:
    database, clock = Database(), Clock()
    # No reuse of finished results here: only sharing the running check can save pings.
    readiness = Readiness(database.ping, clock=clock, max_age=0)
    database.answer.clear()
    probes = [asyncio.create_task(readiness.check()) for _ in range(50)]
    await asyncio.sleep(0)  # one turn of the loop: every probe is now waiting on the check
    database.answer.set()
    assert await asyncio.gather(*probes) == [True] * 50
    assert database.pings == 1


async def test_a_result_is_reused_for_a_second_then_checked_again() -> None:
    database, clock = Database(), Clock()
    readiness = Readiness(database.ping, clock=clock)
    assert await readiness.check() is True
    database.up = False
    clock.now += 0.99
    assert await readiness.check() is True, "younger than a second: from memory"
    assert database.pings == 1
    clock.now += 0.01
    assert await readiness.check() is False
    assert database.pings == 2
    database.up = True
    clock.now += 1
    assert await readiness.check() is True
    assert database.pings == 3


async def test_a_probe_that_hangs_up_does_not_cancel_the_shared_check() -> None:
    database, clock = Database(), Clock()
    readiness = Readiness(database.ping, clock=clock, max_age=0)
    database.answer.clear()
    impatient = asyncio.create_task(readiness.check())
    patient = asyncio.create_task(readiness.check())
    await asyncio.sleep(0)
    impatient.cancel()
    database.answer.set()
    assert await patient is True
    assert database.pings == 1


async def test_a_database_that_never_answers_is_not_ready() -> None:
    database, clock = Database(), Clock()
    database.answer.clear()  # never set: the ping hangs
    readiness = Readiness(database.ping, clock=clock, timeout=0.01)
    assert await readiness.check() is False


async def test_a_failing_check_is_not_ready_rather_than_an_error() -> None:
    async def broken() -> bool:
        raise OSError("connection refused")

    assert await Readiness(broken, clock=Clock()).check() is False

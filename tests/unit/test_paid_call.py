"""The one rule every paid output is settled by (media.PaidCall): a timed-out request is
counted, any other failure or a cancellation is given back, a made one is the caller's."""

from __future__ import annotations

import asyncio

import pytest

from ai_tg_bot.llm import LLMError, LLMErrorKind
from ai_tg_bot.media import PaidCall


class Ledger:
    def __init__(self) -> None:
        self.finished = 0
        self.given_back = 0

    async def finish(self) -> None:
        self.finished += 1

    async def give_back(self) -> None:
        self.given_back += 1

    def call(self) -> PaidCall:
        return PaidCall("image", finish=self.finish, give_back=self.give_back)


async def test_a_made_output_is_returned_and_left_to_the_caller() -> None:
    ledger = Ledger()

    async def draw() -> bytes:
        return b"png"

    assert await ledger.call().run(draw) == b"png"
    assert (ledger.finished, ledger.given_back) == (0, 0)


@pytest.mark.parametrize(
    ("kind", "finished", "given_back"),
    [
        (LLMErrorKind.TIMEOUT, 1, 0),  # the request left: it may be made and billed
        (LLMErrorKind.SERVER_ERROR, 0, 1),
        (LLMErrorKind.RATE_LIMITED, 0, 1),
        (LLMErrorKind.UNAVAILABLE, 0, 1),
    ],
)
async def test_a_failed_call_is_settled_by_how_it_ended(
    kind: LLMErrorKind, finished: int, given_back: int
) -> None:
    ledger = Ledger()

    async def fail() -> bytes:
        raise LLMError(kind, "boom")

    with pytest.raises(LLMError):
        await ledger.call().run(fail)
    assert (ledger.finished, ledger.given_back) == (finished, given_back)


async def test_a_cancelled_call_is_given_back_and_the_cancellation_goes_on() -> None:
    ledger = Ledger()
    started = asyncio.Event()

    async def hang() -> bytes:
        started.set()
        await asyncio.Event().wait()
        return b""

    task = asyncio.create_task(ledger.call().run(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (ledger.finished, ledger.given_back) == (0, 1)

"""Streaming an answer costs linear work in its length: structural checks, no timings.

`text += piece` copied the whole answer for every piece (120k pieces: ~9 s of CPU on the
event loop), and a preview cut at Telegram's limit was rebuilt for every piece. Here
pieces refuse to be concatenated, and a controlled clock counts preview rebuilds. The
real aiogram Bot talks to the loopback Telegram over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from ai_tg_bot.bot import reply
from ai_tg_bot.bot.formatting import TELEGRAM_MESSAGE_LIMIT, utf16_length
from ai_tg_bot.bot.reply import StreamingReply
from tests.fakes.telegram import FakeTelegram

CHAT = 555


class Piece(str):
    """A streamed piece that fails the test if anything concatenates onto or with it."""

    __slots__ = ()

    def __add__(self, other: str) -> str:
        raise AssertionError("a streamed piece was concatenated (quadratic accumulation)")

    def __radd__(self, other: str) -> str:
        raise AssertionError("the answer was grown piece by piece with + (quadratic)")


class Clock:
    """Stands in for `time` inside reply.py: the test decides when time passes."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(reply, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
async def tg_bot() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    async with FakeTelegram() as tg:
        tg.start_private_chat(CHAT)  # the user has talked to the bot before
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        bot = Bot("123456:STREAM-test", session=session)
        try:
            yield tg, bot
        finally:
            await bot.session.close()


async def test_pieces_are_never_concatenated_one_by_one(
    clock: Clock, tg_bot: tuple[FakeTelegram, Bot]
) -> None:
    tg, bot = tg_bot
    pieces = [Piece(f"w{n} ") for n in range(20_000)]
    async with StreamingReply(bot, CHAT, edit_interval=1.0) as view:
        for number, piece in enumerate(pieces):
            if number % 5_000 == 0:
                clock.now += 2  # now and then a preview is due, as in a real stream
            await view.feed(piece)
        answer = "".join(pieces)
        assert view.text == answer
        await view.finish()
    assert "".join(tg.texts(CHAT)).replace(" ", "") == answer.replace(" ", "")


async def test_a_preview_cut_at_the_limit_is_not_rebuilt_for_every_piece(
    clock: Clock, tg_bot: tuple[FakeTelegram, Bot], monkeypatch: pytest.MonkeyPatch
) -> None:
    tg, bot = tg_bot
    measured: list[int] = []

    def counting(text: str) -> int:
        measured.append(len(text))
        return utf16_length(text)

    monkeypatch.setattr("ai_tg_bot.bot.reply.utf16_length", counting)
    async with StreamingReply(bot, CHAT, edit_interval=1.0) as view:
        clock.now += 2
        await view.feed("x" * (TELEGRAM_MESSAGE_LIMIT + 100))  # previewed, cut at the limit
        clock.now += 2  # one more preview is due; it cannot differ from the first
        for _ in range(2_000):
            await view.feed("more ")
        # Two previews were built (the second found nothing new to show), not 2,001.
        assert len(measured) == 2, len(measured)
        assert len(tg.sent) == 1
        assert tg.sent[0].edits == []
        assert tg.sent[0].text.endswith("…")

"""Honour Telegram's flood control: wait `retry_after` and send again, never drop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from ai_tg_bot.observability import TELEGRAM_ERRORS

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)
_retrying: ContextVar[bool] = ContextVar("ai_tg_bot_telegram_retrying", default=True)


@contextmanager
def best_effort() -> Iterator[None]:
    """Calls made inside fail fast instead of waiting (streaming previews, chat actions).

    A preview edit that hits flood control is simply skipped: the next one, or the final
    text, carries the same content, and waiting would stall the whole answer.
    """
    token = _retrying.set(False)
    try:
        yield
    finally:
        _retrying.reset(token)


class RetryMiddleware(BaseRequestMiddleware):
    """Retry 429 after the advised wait, and 5xx or network errors with backoff, bounded."""

    def __init__(
        self, *, attempts: int = 5, max_retry_after: float = 300.0, backoff: float = 1.0
    ) -> None:
        self.attempts = attempts
        self.max_retry_after = max_retry_after
        self.backoff = backoff

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if not _retrying.get():
            return await _counted(make_request, bot, method)
        for attempt in range(1, self.attempts + 1):
            try:
                return await _counted(make_request, bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_retry_after:
                    raise
                wait = float(exc.retry_after)
            except (TelegramServerError, TelegramNetworkError):
                if attempt == self.attempts:
                    raise
                wait = self.backoff * 2 ** (attempt - 1)
            log.warning(
                "telegram %s failed (attempt %d/%d); retrying in %.1fs",
                type(method).__name__,
                attempt,
                self.attempts,
                wait,
            )
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


async def _counted(
    make_request: NextRequestMiddlewareType[TelegramType],
    bot: Bot,
    method: TelegramMethod[TelegramType],
) -> Response[TelegramType]:
    """One attempt; a failure is counted by kind (ai_tg_bot_telegram_errors_total)."""
    try:
        return await make_request(bot, method)
    except TelegramRetryAfter:
        TELEGRAM_ERRORS.labels("429").inc()
        raise
    except TelegramServerError:
        TELEGRAM_ERRORS.labels("5xx").inc()
        raise
    except TelegramNetworkError:
        TELEGRAM_ERRORS.labels("network").inc()
        raise
    except TelegramAPIError:
        TELEGRAM_ERRORS.labels("4xx").inc()
        raise

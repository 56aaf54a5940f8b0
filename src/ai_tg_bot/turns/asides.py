"""Short requests made beside an answer, once it is shown: a title (TITLE_MODEL), a
summary (SUMMARY_MODEL), follow-up questions (FOLLOWUPS).

Each runs outside any transaction, bounded in time (and, if asked, in length: the stream
is closed once enough arrived, which stops the model), metered whatever its ending (the
client counts into `usage`); a failure is logged and gives nothing, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any, cast

from ai_tg_bot.llm import LLMClient, LLMError, StreamReport

log = logging.getLogger(__name__)


def exchange(prompt: str, question: str, answer: str, chars: int) -> list[dict[str, Any]]:
    """A request about one exchange: `prompt`, then the question and the answer (each
    cut to `chars`)."""
    text = f"{question[:chars]}\n\n---\n\n{answer[:chars]}"
    return [{"role": "system", "content": prompt}, {"role": "user", "content": text}]


async def aside(
    llm: LLMClient,
    model: str,
    messages: list[dict[str, Any]],
    usage: StreamReport,
    *,
    timeout: float,  # noqa: ASYNC109
    what: str,
    max_chars: int | None = None,
) -> str | None:
    """The model's text (at least `max_chars` of it stops the stream); None when it gives
    none in time or fails (logged as "`what` not made")."""
    pieces: list[str] = []
    received = 0
    try:
        async with asyncio.timeout(timeout):
            # An async generator: closing it closes the HTTP stream (llm.LLMClient.stream).
            stream = cast(AsyncGenerator[str], llm.stream(messages, model=model, usage=usage))
            async with contextlib.aclosing(stream):
                async for piece in stream:
                    pieces.append(piece)
                    received += len(piece)
                    if max_chars is not None and received >= max_chars:
                        break  # long enough: closing the stream stops the model
    except (LLMError, TimeoutError) as exc:
        log.warning("%s not made: %s", what, type(exc).__name__)
        return None
    return "".join(pieces)

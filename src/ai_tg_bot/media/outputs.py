"""One use case for every paid output (a picture, speech, whatever kind comes next):
reserved under the user's lock first (the output's store), the model called with no
database session open, then finished (counted) or given back (not counted).

`PaidCall.run` is the rule in one place: a request that timed out had left, so the server
may have made (and billed) it: counted; any other failure made nothing: given back; an
exception that is not the model's (a cancelled turn) gives it back too and goes on. Each
ending is counted in OUTPUTS under the output's kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ai_tg_bot.llm import LLMError, LLMErrorKind
from ai_tg_bot.observability import OUTPUTS

T = TypeVar("T")


async def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class PaidCall:
    """How one reserved output is settled: `finish` counts it, `give_back` does not."""

    kind: str  # the OUTPUTS label: "image", "speech"
    finish: Callable[[], Awaitable[None]]
    give_back: Callable[[], Awaitable[None]] = _nothing

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """The model call, settled by how it ended (re-raised after settling)."""
        try:
            return await call()
        except LLMError as exc:
            OUTPUTS.labels(self.kind, exc.kind.value).inc()
            await (self.finish() if exc.kind is LLMErrorKind.TIMEOUT else self.give_back())
            raise
        except BaseException:
            await self.give_back()
            raise

    def made(self) -> None:
        """Count a made output in OUTPUTS (the caller finishes it once delivered)."""
        OUTPUTS.labels(self.kind, "ok").inc()

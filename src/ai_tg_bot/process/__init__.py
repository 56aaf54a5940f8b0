"""The process: the `ai-tg-bot` command (run, migrate, rollback, purge, health,
settings), the quick commands that need only the standard library, the webhook worker
processes, the packaged migrations (schema) and the start-up heap (runtime).
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.process.cli import main as main
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "main": ".cli",
        },
    )

__all__ = [
    "main",
]

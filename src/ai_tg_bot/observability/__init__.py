"""What the operator sees: logs (JSON or text), the redacting filter that keeps
secrets out of every record, and the Prometheus metrics.
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.observability.logs import configure_logging as configure_logging
    from ai_tg_bot.observability.metrics import FIRST_TOKEN as FIRST_TOKEN
    from ai_tg_bot.observability.metrics import LLM_ERRORS as LLM_ERRORS
    from ai_tg_bot.observability.metrics import OUTPUTS as OUTPUTS
    from ai_tg_bot.observability.metrics import PENDING as PENDING
    from ai_tg_bot.observability.metrics import TELEGRAM_ERRORS as TELEGRAM_ERRORS
    from ai_tg_bot.observability.metrics import TOKENS as TOKENS
    from ai_tg_bot.observability.metrics import TOOL_CALLS as TOOL_CALLS
    from ai_tg_bot.observability.metrics import TURN_SECONDS as TURN_SECONDS
    from ai_tg_bot.observability.metrics import TURNS as TURNS
    from ai_tg_bot.observability.metrics import add_metrics as add_metrics
    from ai_tg_bot.observability.metrics import watch_pool as watch_pool
    from ai_tg_bot.observability.redaction import install_redaction as install_redaction
    from ai_tg_bot.observability.redaction import redact as redact
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "FIRST_TOKEN": ".metrics",
            "LLM_ERRORS": ".metrics",
            "OUTPUTS": ".metrics",
            "PENDING": ".metrics",
            "TELEGRAM_ERRORS": ".metrics",
            "TOKENS": ".metrics",
            "TOOL_CALLS": ".metrics",
            "TURNS": ".metrics",
            "TURN_SECONDS": ".metrics",
            "add_metrics": ".metrics",
            "configure_logging": ".logs",
            "install_redaction": ".redaction",
            "redact": ".redaction",
            "watch_pool": ".metrics",
        },
    )

__all__ = [
    "FIRST_TOKEN",
    "LLM_ERRORS",
    "OUTPUTS",
    "PENDING",
    "TELEGRAM_ERRORS",
    "TOKENS",
    "TOOL_CALLS",
    "TURNS",
    "TURN_SECONDS",
    "add_metrics",
    "configure_logging",
    "install_redaction",
    "redact",
    "watch_pool",
]

"""The Telegram adapter, and the only wing that knows aiogram: the application and its
wiring, polling, the webhook, probes, handlers (one Router per feature), middlewares,
and the display of answers (drafts, rich messages, entity messages).
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.bot.app import Application as Application
    from ai_tg_bot.bot.polling import PollingConflictError as PollingConflictError
    from ai_tg_bot.bot.polling import WebhookRegisteredError as WebhookRegisteredError
    from ai_tg_bot.bot.startup import TelegramStartupError as TelegramStartupError
    from ai_tg_bot.bot.startup import check_llm as check_llm
    from ai_tg_bot.bot.startup import check_telegram as check_telegram
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "Application": ".app",
            "PollingConflictError": ".polling",
            "TelegramStartupError": ".startup",
            "WebhookRegisteredError": ".polling",
            "check_llm": ".startup",
            "check_telegram": ".startup",
        },
    )

__all__ = [
    "Application",
    "PollingConflictError",
    "TelegramStartupError",
    "WebhookRegisteredError",
    "check_llm",
    "check_telegram",
]

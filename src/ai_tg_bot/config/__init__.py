"""Settings: every setting typed and validated at start-up (all invalid ones at once),
the list and map values, and MCP server definitions.
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.config.settings import MAX_HISTORY_LIMIT as MAX_HISTORY_LIMIT
    from ai_tg_bot.config.settings import Settings as Settings
    from ai_tg_bot.config.settings import SettingsError as SettingsError
    from ai_tg_bot.config.settings import load_settings as load_settings
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "MAX_HISTORY_LIMIT": ".settings",
            "Settings": ".settings",
            "SettingsError": ".settings",
            "load_settings": ".settings",
        },
    )

__all__ = [
    "MAX_HISTORY_LIMIT",
    "Settings",
    "SettingsError",
    "load_settings",
]

"""The user's data leaving or going: /export, and retention (purging what was
deleted long enough ago).
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.privacy.export import ExportFile as ExportFile
    from ai_tg_bot.privacy.export import write_export as write_export
    from ai_tg_bot.privacy.retention import purge_command as purge_command
    from ai_tg_bot.privacy.retention import purge_periodically as purge_periodically
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "purge_command": ".retention",
            "ExportFile": ".export",
            "purge_periodically": ".retention",
            "write_export": ".export",
        },
    )

__all__ = [
    "ExportFile",
    "purge_command",
    "purge_periodically",
    "write_export",
]

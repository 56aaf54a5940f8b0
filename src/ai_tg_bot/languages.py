"""The languages the bot speaks: which ship, and how a language code is read.

Kept apart from i18n.py (the catalogs and the current locale) so that settings and the
command line can read a language code without loading any catalog.
"""

from __future__ import annotations

# The languages with a complete catalog, and how each names itself (on its button).
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}
SHIPPED = tuple(LANGUAGE_NAMES)
FALLBACK = "en"


def normalize(code: str | None) -> str | None:
    """The shipped language a code names ("ru", "ru-RU", "RU_ru"), or None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in SHIPPED else None

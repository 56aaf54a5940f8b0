"""The user's language: the message catalogs, the current locale, numbers and dates.

Every user-visible string is an English msgid passed through `_` (or `ngettext` for a
count), translated from the compiled gettext catalogs under `locales/` that ship in the
package (`make i18n-extract` and `make i18n-compile` build them; nothing is compiled at
run time). The locale is a context variable: the access middleware sets it for each
update from the user's choice (`user_settings.language`), else their Telegram client's
`language_code`, else DEFAULT_LANGUAGE (ADR 0012).

Strings defined at import time (command lists) are marked with `N_` and translated
where they are shown.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from ai_tg_bot.languages import FALLBACK, LANGUAGE_NAMES, SHIPPED, normalize

__all__ = [
    "FALLBACK",
    "LANGUAGE_NAMES",
    "N_",
    "SHIPPED",
    "_",
    "current_language",
    "day",
    "language_name",
    "moment",
    "money",
    "ngettext",
    "normalize",
    "number",
    "pick_language",
    "set_default_language",
    "set_language",
    "use_language",
]  # fmt: skip

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"

# The standard library's gettext over the compiled catalogs; the current language is a
# context variable, so each update (and each task it starts) speaks its own.
_translations = {
    code: gettext.translation(DOMAIN, LOCALES_DIR, languages=[code], fallback=True)
    for code in SHIPPED
}
_locale: ContextVar[str] = ContextVar("ai_tg_bot_language", default=FALLBACK)
_babel_locales = {code: Locale.parse(code) for code in SHIPPED}
_default = [FALLBACK]  # the default set by set_default_language (DEFAULT_LANGUAGE)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for extraction only; translate it with `_` where it is shown."""
    return message


# Each language named inside a sentence of the current language ("русский", lower case).
_IN_A_SENTENCE = {"en": N_("English"), "ru": N_("Russian")}


def language_name(code: str) -> str:
    """The language `code` as a sentence in the current language names it."""
    return _(_IN_A_SENTENCE[code]) if code in _IN_A_SENTENCE else code


def _(message: str) -> str:
    """`message` (an English msgid) in the current language."""
    return _translations[_locale.get()].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted message that fits `n` in the current language (Russian has
    three: 1 сообщение, 2 сообщения, 5 сообщений)."""
    return _translations[_locale.get()].ngettext(singular, plural, n)


def current_language() -> str:
    """The language of the update (or task) being handled."""
    return _locale.get()


@contextmanager
def use_language(code: str) -> Iterator[None]:
    """Speak `code` (a shipped language) inside the block, in this task and its children."""
    token = _locale.set(code if code in SHIPPED else FALLBACK)
    try:
        yield
    finally:
        _locale.reset(token)


def set_default_language(code: str) -> None:
    """The language of tasks no update started (the stranded-question sweep).

    A context variable's default cannot change, so a new variable replaces it, and only
    when the default does change: values set by updates in flight stay where they are.
    """
    global _locale
    wanted = normalize(code) or FALLBACK
    if wanted != _default[0]:
        _locale = ContextVar("ai_tg_bot_language", default=wanted)
        _default[0] = wanted


def set_language(code: str) -> None:
    """Speak `code` for the rest of the current task (a middleware, around one update)."""
    _locale.set(code if code in SHIPPED else FALLBACK)


def pick_language(chosen: str | None, telegram: str | None, default: str) -> str:
    """The user's own choice, else their client's language if shipped, else `default`."""
    return normalize(chosen) or normalize(telegram) or default


def number(value: int | float) -> str:
    """A number as the current language writes it (1,234 / 1 234)."""
    return format_decimal(value, locale=_babel_locales[current_language()])


def day(value: datetime) -> str:
    """A UTC date as the current language writes it."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return format_date(value, "medium", locale=_babel_locales[current_language()])


def money(value: float) -> str:
    """An amount in US dollars as the current language writes it ($0.0123)."""
    return "$" + format_decimal(
        round(value, 4), "#,##0.00##", locale=_babel_locales[current_language()]
    )


def moment(value: datetime) -> str:
    """A UTC date and time as the current language writes it, marked UTC."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    locale = _babel_locales[current_language()]
    day = format_date(value, "medium", locale=locale)
    return f"{day} {format_time(value, 'short', tzinfo=UTC, locale=locale)} UTC"


def catalog_path(code: str) -> Path:
    """Where a language's source catalog (.po) lives."""
    return LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"

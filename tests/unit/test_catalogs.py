"""The message catalogs: complete, with the same placeholders, every plural form, and
compiled from the catalog that is committed (nothing is built at run time)."""

from __future__ import annotations

import gettext
import re
from io import BytesIO
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from ai_tg_bot.i18n import LOCALES_DIR, SHIPPED, catalog_path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "ai_tg_bot"
_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def _catalog(code: str) -> Catalog:
    with catalog_path(code).open("rb") as handle:
        return read_po(handle, locale=code)


def _placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


def _source_msgids() -> set[str]:
    """Every msgid the code marks (`_`, `ngettext`, `N_`), extracted as pybabel does."""
    keywords = {"_": None, "ngettext": (1, 2), "N_": None}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map=[("**.py", "python")], keywords=keywords
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("code", SHIPPED)
def test_every_message_is_translated_with_its_placeholders_and_plural_forms(code: str) -> None:
    catalog = _catalog(code)
    forms = Locale.parse(code).plural_form
    plurals = catalog.num_plurals
    assert plurals == (3 if code == "ru" else 2), f"{code}: Plural-Forms header"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        if isinstance(message.id, tuple | list):
            strings = [str(s) for s in message.string or ()]
            if len(strings) != plurals or not all(strings):
                problems.append(f"plural forms missing: {message.id[0]!r}")
            wanted = _placeholders(str(message.id[0]))
        else:
            strings = [str(message.string or "")]
            if not message.string:
                problems.append(f"untranslated: {message.id!r}")
            wanted = _placeholders(str(message.id))
        for string in strings:
            if string and _placeholders(string) != wanted:
                problems.append(f"placeholders differ: {message.id!r} -> {string!r}")
    assert not problems, "\n".join(problems)
    assert forms is not None


@pytest.mark.parametrize("code", SHIPPED)
def test_the_catalog_holds_every_message_of_the_code(code: str) -> None:
    """A string marked in the code but never extracted would stay English for everyone."""
    in_catalog = {m.id[0] if isinstance(m.id, tuple) else m.id for m in _catalog(code) if m.id}
    missing = _source_msgids() - in_catalog
    assert not missing, f"run `make i18n-extract` and translate: {sorted(missing)}"


@pytest.mark.parametrize("code", SHIPPED)
def test_the_shipped_mo_is_compiled_from_the_committed_po(code: str) -> None:
    compiled = BytesIO()
    write_mo(compiled, _catalog(code))
    compiled.seek(0)
    expected = gettext.GNUTranslations(compiled)
    mo_path = LOCALES_DIR / code / "LC_MESSAGES" / "messages.mo"
    with mo_path.open("rb") as handle:
        shipped = gettext.GNUTranslations(handle)
    assert shipped._catalog == expected._catalog, "run `make i18n-compile` and commit the .mo"  # type: ignore[attr-defined]


def test_russian_counts_take_three_forms() -> None:
    from ai_tg_bot.i18n import ngettext, number, use_language

    def messages(count: int) -> str:
        return ngettext("{count} message", "{count} messages", count).format(count=number(count))

    with use_language("ru"):
        assert [messages(n) for n in (1, 2, 5, 11, 21, 1234)] == [
            "1 сообщение",
            "2 сообщения",
            "5 сообщений",
            "11 сообщений",
            "21 сообщение",
            "1\xa0234 сообщения",
        ]
    with use_language("en"):
        assert [messages(n) for n in (1, 2, 1234)] == ["1 message", "2 messages", "1,234 messages"]

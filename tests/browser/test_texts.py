"""The page shows only catalog texts: every key its scripts ask for is in PAGE_TEXTS
(`bot.webapp.texts`, translated like the bot's replies), and every text there is used."""

from __future__ import annotations

import re
from pathlib import Path

from ai_tg_bot.bot.webapp.texts import PAGE_TEXTS, page_texts
from ai_tg_bot.i18n import use_language

STATIC = Path(__file__).resolve().parents[2] / "src" / "ai_tg_bot" / "bot" / "webapp" / "static"
SCRIPTS = "\n".join(path.read_text() for path in sorted(STATIC.glob("*.js")))


def test_every_text_the_scripts_ask_for_is_in_the_catalog_texts() -> None:
    asked = set(re.findall(r"\b(?:t|fill)\(\"([a-z_]+)\"", SCRIPTS))
    assert asked, "the scripts read their texts with t() and fill()"
    assert asked - PAGE_TEXTS.keys() == set()
    # Keys named in lists (tabs, table headings) or built (voice_<mode>) count as used.
    named = set(re.findall(r"\"([a-z_]+)\"", SCRIPTS)) | {
        f"voice_{m}" for m in ("off", "on", "auto")
    }
    assert [key for key in PAGE_TEXTS if key not in named] == []


def test_the_texts_come_in_the_users_language() -> None:
    with use_language("en"):
        english = page_texts()
    assert english == PAGE_TEXTS
    with use_language("ru"):
        russian = page_texts()
    assert russian.keys() == PAGE_TEXTS.keys()

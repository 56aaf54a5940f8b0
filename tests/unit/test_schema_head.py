"""The revision a start compares with (schema.HEAD) is the one Alembic calls head."""

from __future__ import annotations

from pathlib import Path

from ai_tg_bot.process import schema


def test_head_is_alembics_head() -> None:
    assert schema.head() == schema.HEAD, "set schema.HEAD to the new migration's revision"


def test_at_head_reads_a_migrated_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    assert not schema.at_head(url), "no file yet: Alembic decides"
    schema.upgrade(url)
    assert schema.at_head(url)
    schema.downgrade(url)
    assert not schema.at_head(url)

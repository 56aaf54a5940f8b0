"""The bot's migrations, shipped inside the package (`ai_tg_bot/migrations`): applied at
start and by `ai-tg-bot migrate`, undone by `ai-tg-bot rollback`, without the source tree
or alembic.ini (which developers still use for `make db-revision`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the packaged migrations, aimed at `url`, leaving logging be."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (safe with several instances: env.py locks)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    """Undo migrations down to `revision` (default: the latest one)."""
    command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision the package ships."""
    return str(ScriptDirectory.from_config(alembic_config("")).get_current_head())

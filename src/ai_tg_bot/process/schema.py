"""The bot's migrations, shipped inside the package (`ai_tg_bot/migrations`): applied at
start and by `ai-tg-bot migrate`, undone by `ai-tg-bot rollback`, without the source tree
or alembic.ini (which developers still use for `make db-revision`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The newest revision the package ships (a test keeps it equal to Alembic's head): a
# restart whose database is at it skips loading Alembic and the migration environment,
# about two seconds of a start (bench/startup.py).
HEAD = "39bc898e590b"


def at_head(url: str) -> bool:
    """Whether the database at `url` is at HEAD already (False when that cannot be told
    cheaply: Alembic then decides, as always)."""
    from ai_tg_bot.db import stored_revisions

    try:
        return stored_revisions(url) == [HEAD]
    except Exception:  # no table yet, unreachable, unreadable: let Alembic see
        return False


def alembic_config(url: str) -> Config:
    """An Alembic config for the packaged migrations, aimed at `url`, leaving logging be."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (safe with several instances: env.py locks)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    """Undo migrations down to `revision` (default: the latest one)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision the package ships, as Alembic reads the migrations."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config("")).get_current_head())

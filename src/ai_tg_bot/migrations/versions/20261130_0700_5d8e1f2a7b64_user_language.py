"""user_settings.language: the interface language a user chose with /language.

NULL (every existing user) keeps following the language of their Telegram app.

Revision ID: 5d8e1f2a7b64
Revises: c7e2a4d1f9b3
Create Date: 2026-11-30 07:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d8e1f2a7b64"
down_revision: str | Sequence[str] | None = "c7e2a4d1f9b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a nullable column needs no table rebuild on SQLite.
    op.add_column("user_settings", sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_settings") as batch:
        batch.drop_column("language")

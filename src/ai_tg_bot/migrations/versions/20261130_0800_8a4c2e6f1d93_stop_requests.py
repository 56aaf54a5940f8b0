"""users.stop_requested_seq: a Stop asked through another instance than the one writing.

NULL for everyone: no stop is pending.

Revision ID: 8a4c2e6f1d93
Revises: 5d8e1f2a7b64
Create Date: 2026-11-30 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a4c2e6f1d93"
down_revision: str | Sequence[str] | None = "5d8e1f2a7b64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: no table rebuild on SQLite.
    op.add_column("users", sa.Column("stop_requested_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("stop_requested_seq")

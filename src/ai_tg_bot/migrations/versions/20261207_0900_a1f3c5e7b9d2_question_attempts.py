"""question attempts: how many times a turn took a question up to answer it.

`messages.attempts` (NOT NULL, 0 for every stored row): a question handed to an answerer
more than three times (its answerer keeps crashing or failing) is failed instead of
being sent to the LLM again (issue 34). Adding a column with a constant default needs no
table rebuild on either backend.

Revision ID: a1f3c5e7b9d2
Revises: c5e2a8f4d1b7
Create Date: 2026-12-07 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1f3c5e7b9d2"
down_revision: str | Sequence[str] | None = "c5e2a8f4d1b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("attempts")

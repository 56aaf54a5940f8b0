"""The pending-question index (stranded-question sweep) and usage_events (exports).

Every instance looks for questions left pending under a lapsed turn lease at start-up
and every few seconds; the partial index keeps that a look at the few waiting rows.
`usage_events` records exports, which the per-minute guard counts and which run one at
a time per user.

Revision ID: c7e2a4d1f9b3
Revises: 9b21fc3c0674
Create Date: 2026-11-30 05:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7e2a4d1f9b3"
down_revision: str | Sequence[str] | None = "9b21fc3c0674"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending' AND deleted_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_messages_pending",
        "messages",
        ["user_id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.create_table(
        "usage_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_usage_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    op.create_index("ix_usage_events_user_id_created_at", "usage_events", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_usage_events_user_id_created_at", table_name="usage_events")
    op.drop_table("usage_events")
    op.drop_index("ix_messages_pending", table_name="messages")

"""subscriptions: Telegram Stars subscriptions (issue 33).

`subscriptions`: one row per subscription invoice link paid (its payload unique), with
the plan (stars, tokens per period), the first and the latest period's charge ids, its
status and the end of the period paid for. Each period's payment stays a `payments`
row. A new table: no table rebuild.

Revision ID: 39bc898e590b
Revises: 0817d45292b1
Create Date: 2026-12-07 15:58:23.389123+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "39bc898e590b"
down_revision: str | Sequence[str] | None = "0817d45292b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("invoice_payload", sa.String(length=128), nullable=False),
        sa.Column("first_charge_id", sa.String(length=255), nullable=False),
        sa.Column("last_charge_id", sa.String(length=255), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled', 'expired')",
            name=op.f("ck_subscriptions_status_valid"),
        ),
        sa.CheckConstraint("stars > 0", name=op.f("ck_subscriptions_stars_positive")),
        sa.CheckConstraint("tokens > 0", name=op.f("ck_subscriptions_tokens_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("invoice_payload", name=op.f("uq_subscriptions_invoice_payload")),
    )
    op.create_index(op.f("ix_subscriptions_user_id"), "subscriptions", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_subscriptions_user_id"), table_name="subscriptions")
    op.drop_table("subscriptions")

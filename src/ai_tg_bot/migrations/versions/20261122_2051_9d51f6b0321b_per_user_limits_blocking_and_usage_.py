"""Per-user limits, blocking and usage accounting.

NULL in a user_settings limit now means "the default from Settings"; existing rows keep
the value they have.

Revision ID: 9d51f6b0321b
Revises: 3c3a21387289
Create Date: 2026-11-22 20:51:10.000108+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d51f6b0321b"
down_revision: str | Sequence[str] | None = "3c3a21387289"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("prompt_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("completion_tokens", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_messages_user_id_created_at", ["user_id", "created_at"], unique=False
        )

    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_message_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_context_chars", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=True))
        batch_op.alter_column(
            "max_history_messages",
            existing_type=sa.INTEGER(),
            nullable=True,
            server_default=None,
        )
        batch_op.create_check_constraint(
            "daily_message_limit_non_negative", "daily_message_limit >= 0"
        )
        batch_op.create_check_constraint("max_context_chars_non_negative", "max_context_chars >= 0")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_blocked", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_blocked")

    op.execute(
        "UPDATE user_settings SET max_history_messages = 50 WHERE max_history_messages IS NULL"
    )
    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_user_settings_max_context_chars_non_negative"), type_="check"
        )
        batch_op.drop_constraint(
            op.f("ck_user_settings_daily_message_limit_non_negative"), type_="check"
        )
        batch_op.alter_column(
            "max_history_messages",
            existing_type=sa.INTEGER(),
            nullable=False,
            server_default=sa.text("50"),
        )
        batch_op.drop_column("model")
        batch_op.drop_column("max_context_chars")
        batch_op.drop_column("daily_message_limit")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_user_id_created_at")
        batch_op.drop_column("completion_tokens")
        batch_op.drop_column("prompt_tokens")
        batch_op.drop_column("model")

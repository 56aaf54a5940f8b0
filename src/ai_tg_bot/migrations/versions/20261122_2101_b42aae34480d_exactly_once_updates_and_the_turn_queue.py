"""Exactly-once updates and the turn queue.

Messages remember their Telegram chat and message id (a redelivered update is found by
them), user messages get a status (pending, answered, failed), users get a turn lease,
and "one message per (user, seq)" now holds among active rows only, so a retried answer
can reuse its slot. Existing user messages are marked answered.

Downgrading fails if a retry has left two rows on one (user, seq) slot.

Revision ID: b42aae34480d
Revises: 9d51f6b0321b
Create Date: 2026-11-22 21:01:52.589870+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b42aae34480d"
down_revision: str | Sequence[str] | None = "9d51f6b0321b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("telegram_message_id", sa.BigInteger(), nullable=True))
        batch_op.drop_index(
            batch_op.f("ix_messages_active_user_seq"), sqlite_where=sa.text("deleted_at IS NULL")
        )
        batch_op.drop_constraint(batch_op.f("uq_messages_user_id_seq"), type_="unique")
        batch_op.create_index(
            "uq_messages_active_user_seq",
            ["user_id", "seq"],
            unique=True,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_messages_telegram_chat_id_telegram_message_id"),
            ["telegram_chat_id", "telegram_message_id"],
        )
        batch_op.create_check_constraint(
            "status_valid", "status IS NULL OR status IN ('pending', 'answered', 'failed')"
        )
    op.execute("UPDATE messages SET status = 'answered' WHERE role = 'user'")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("turn_lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("turn_lease_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("turn_lease_until")
        batch_op.drop_column("turn_lease_owner")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_messages_status_valid"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("uq_messages_telegram_chat_id_telegram_message_id"), type_="unique"
        )
        batch_op.drop_index(
            "uq_messages_active_user_seq",
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_messages_user_id_seq"), ["user_id", "seq"])
        batch_op.create_index(
            batch_op.f("ix_messages_active_user_seq"),
            ["user_id", "seq"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_column("telegram_message_id")
        batch_op.drop_column("telegram_chat_id")
        batch_op.drop_column("status")

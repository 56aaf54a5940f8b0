"""group conversations: the member who asked, on a group's messages.

A group (or a forum topic of a supergroup) has its own conversation, owned by the
group's chat id as its `users` row; `messages.author_id` names the member who asked (on
the question and its answer): who is counted and charged, and whose rows /forget deletes.
NULL in a user's own conversations. Adding a nullable column needs no table rebuild; the
partial index keeps /forget's lookup off a scan.

Revision ID: b2d4f6a8c0e1
Revises: a1f3c5e7b9d2
Create Date: 2026-12-07 10:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2d4f6a8c0e1"
down_revision: str | Sequence[str] | None = "a1f3c5e7b9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("author_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_messages_author_id",
        "messages",
        ["author_id"],
        postgresql_where=sa.text("author_id IS NOT NULL"),
        sqlite_where=sa.text("author_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_author_id", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("author_id")

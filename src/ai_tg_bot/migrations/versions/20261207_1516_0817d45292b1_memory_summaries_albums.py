"""memory, summaries, albums and /voice auto (issue 31).

`memory_facts`: short facts about a user given to the model in their private
conversations (/remember, the `remember` tool); `user_settings.memory_enabled` (/memory
off) and `voice_auto` (/voice auto); `conversations.summary` and `summary_seq`: the
rolling summary of what trimming took out of the window (SUMMARY_MODEL); `album_parts`:
the parts of a media group waiting to become one question. Nullable columns and new
tables: no table rebuild.

Revision ID: 0817d45292b1
Revises: b2d4f6a8c0e1
Create Date: 2026-12-07 15:16:15.046565+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0817d45292b1"
down_revision: str | Sequence[str] | None = "b2d4f6a8c0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "memory_facts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_memory_facts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_facts")),
    )
    op.create_index(op.f("ix_memory_facts_user_id"), "memory_facts", ["user_id"])
    op.create_table(
        "album_parts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("media_group_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_album_parts")),
        sa.UniqueConstraint(
            "chat_id", "message_id", name=op.f("uq_album_parts_chat_id_message_id")
        ),
    )
    op.create_index(op.f("ix_album_parts_media_group_id"), "album_parts", ["media_group_id"])
    op.add_column("conversations", sa.Column("summary", sa.Text(), nullable=True))
    op.add_column("conversations", sa.Column("summary_seq", sa.BigInteger(), nullable=True))
    op.add_column("user_settings", sa.Column("voice_auto", sa.Boolean(), nullable=True))
    op.add_column("user_settings", sa.Column("memory_enabled", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_settings") as batch:
        batch.drop_column("memory_enabled")
        batch.drop_column("voice_auto")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("summary_seq")
        batch.drop_column("summary")
    op.drop_index(op.f("ix_album_parts_media_group_id"), table_name="album_parts")
    op.drop_table("album_parts")
    op.drop_index(op.f("ix_memory_facts_user_id"), table_name="memory_facts")
    op.drop_table("memory_facts")

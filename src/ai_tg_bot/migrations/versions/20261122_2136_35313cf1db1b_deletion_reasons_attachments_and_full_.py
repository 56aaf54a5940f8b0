"""Deletion reasons, message kinds and attachments, and full-text search.

Soft-deleted messages record why (existing ones are taken as trimmed: the only reason
the bot had for deleting without the user asking, and the one that keeps them findable).
PostgreSQL gets a GIN index over to_tsvector('simple', content); SQLite gets an FTS5
table over messages kept in sync by triggers.

SQLite caveat for later migrations: a batch operation that recreates `messages` drops
these triggers; recreate them with `create_sqlite_fts()` and rebuild.

Revision ID: 35313cf1db1b
Revises: b42aae34480d
Create Date: 2026-11-22 21:36:58.371621+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "35313cf1db1b"
down_revision: str | Sequence[str] | None = "b42aae34480d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def create_sqlite_fts() -> None:
    """The FTS5 index over messages.content and the triggers that keep it in sync."""
    op.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', "
        "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
        "INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END"
    )
    op.execute(
        "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
        "INSERT INTO messages_fts(messages_fts, rowid, content) "
        "VALUES ('delete', old.rowid, old.content); END"
    )
    op.execute(
        "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN "
        "INSERT INTO messages_fts(messages_fts, rowid, content) "
        "VALUES ('delete', old.rowid, old.content); "
        "INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END"
    )
    op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "attachments",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.create_check_constraint(
            "deleted_reason_valid",
            "deleted_reason IS NULL OR deleted_reason IN "
            "('trimmed', 'reset', 'role', 'retry', 'expired')",
        )
    op.execute("UPDATE messages SET deleted_reason = 'trimmed' WHERE deleted_at IS NOT NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_messages_content_fts",
            "messages",
            [sa.text("to_tsvector('simple', content)")],
            postgresql_using="gin",
        )
    else:
        create_sqlite_fts()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_messages_content_fts", table_name="messages")
    else:
        for trigger in ("messages_fts_insert", "messages_fts_delete", "messages_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_messages_deleted_reason_valid"), type_="check")
        batch_op.drop_column("attachments")
        batch_op.drop_column("kind")
        batch_op.drop_column("deleted_reason")

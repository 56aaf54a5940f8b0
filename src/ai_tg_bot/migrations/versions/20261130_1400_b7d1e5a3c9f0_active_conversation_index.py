"""active conversation index: a conversation's active messages by seq.

The context and the trim read one conversation's newest active messages. With only
`ix_messages_conversation_id_seq` (every message, deleted ones included) PostgreSQL
combined it with `uq_messages_active_user_seq` in a bitmap AND that visited all of a
conversation's messages: 10,000 for a long-lived user, about 1 ms per statement
(benchmark 3's 1M/10k ratio went from 0.99 to 3.4). A partial index on the active
messages by user, conversation and seq makes it 50 entries again: an index scan alone
(history 1.2 ms -> 0.2 ms, trim 0.7 ms -> 0.1 ms at 1M messages; with the user left out
of the index PostgreSQL still ANDed it with the user's quota index).

Revision ID: b7d1e5a3c9f0
Revises: f4c8d2a9b6e1
Create Date: 2026-11-30 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d1e5a3c9f0"
down_revision: str | None = "f4c8d2a9b6e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_active_conversation_seq",
        "messages",
        ["user_id", "conversation_id", "seq"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_active_conversation_seq", table_name="messages")

"""conversations: several dialogues per user; existing messages move into one per user.

A user's messages now belong to a conversation (ADR 0014): a topic of their private
chat, or the current one (`users.current_conversation_id`) outside topics. Context,
trimming and /role become per conversation.

Every user who has messages gets one conversation holding all of them (soft-deleted ones
too: `messages.conversation_id` is NOT NULL), and it becomes their current one, with the
role they had set (`user_settings.system_prompt` moves onto it: the user's default is
then the bot's). It is
titled by their first question they still own (not one they cleared): one line, cut
to 60 characters (the bot's own titles are also cut at a word boundary; these are plain
cuts). Its times span their messages. Users
without messages get none: their first message opens one. All of it is set-based, one
statement per step on both backends.

SQLite: making the column NOT NULL with a foreign key rebuilds `messages` (batch mode),
which drops the FTS5 triggers of 35313cf1db1b and gives the rows new rowids. Both
directions recreate the triggers and rebuild the full-text index afterwards.

Revision ID: e3b9c1d7a5f2
Revises: 8a4c2e6f1d93
Create Date: 2026-11-30 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3b9c1d7a5f2"
down_revision: str | Sequence[str] | None = "8a4c2e6f1d93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_THREAD_SET = sa.text("telegram_thread_id IS NOT NULL")
TITLE_CHARS = 60
# The FTS5 triggers exactly as 35313cf1db1b made them; messages_fts itself survives.
_FTS_TRIGGERS = (
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
)
# A question as a one-line title: line breaks and tabs become spaces (the literals hold
# the characters themselves: no escape syntax is common to both backends), then a cut.
_ONE_LINE = "replace(replace(replace(f.content, '\n', ' '), '\r', ' '), '\t', ' ')"
_TITLE = f"NULLIF(trim(substr(trim({_ONE_LINE}), 1, {TITLE_CHARS})), '')"

BACKFILL_CONVERSATIONS = f"""
INSERT INTO conversations (user_id, title, created_at, last_active_at)
SELECT m.user_id,
       (SELECT {_TITLE} FROM messages f
        WHERE f.user_id = m.user_id AND f.role = 'user'
          AND (f.deleted_at IS NULL OR f.deleted_reason = 'trimmed')
        ORDER BY f.seq, f.created_at LIMIT 1),
       min(m.created_at),
       max(m.created_at)
FROM messages m
GROUP BY m.user_id
"""
BACKFILL_MESSAGES = """
UPDATE messages SET conversation_id =
    (SELECT c.id FROM conversations c WHERE c.user_id = messages.user_id)
"""
# The role a user set with /role (user_settings.system_prompt, written by /role until now)
# becomes their conversation's own: /role is per conversation from here on, and
# `/role default` there must reach DEFAULT_SYSTEM_PROMPT, not the old role.
MOVE_ROLES = """
UPDATE conversations SET system_prompt =
    (SELECT s.system_prompt FROM user_settings s WHERE s.user_id = conversations.user_id)
"""
CLEAR_MOVED_ROLES = """
UPDATE user_settings SET system_prompt = NULL
WHERE user_id IN (SELECT c.user_id FROM conversations c)
"""
# Downgrade: the current conversation's own role becomes the user's one role again.
RESTORE_ROLES = """
UPDATE user_settings SET system_prompt =
    (SELECT c.system_prompt FROM conversations c JOIN users u
       ON u.current_conversation_id = c.id WHERE u.id = user_settings.user_id)
WHERE system_prompt IS NULL AND user_id IN
    (SELECT u.id FROM users u JOIN conversations c ON c.id = u.current_conversation_id
     WHERE c.system_prompt IS NOT NULL)
"""
BACKFILL_USERS = """
UPDATE users SET current_conversation_id =
    (SELECT c.id FROM conversations c WHERE c.user_id = users.id)
WHERE users.id IN (SELECT c.user_id FROM conversations c)
"""


def sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def restore_sqlite_fts() -> None:
    """After a batch copy of `messages`: its FTS5 triggers back, and the index rebuilt.

    The copy dropped the triggers with the old table, and its INSERT ... SELECT numbered
    the rows anew, so the index (keyed by rowid) would point at the wrong messages.
    """
    for trigger in ("messages_fts_insert", "messages_fts_delete", "messages_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in _FTS_TRIGGERS:
        op.execute(statement)
    op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("telegram_thread_id", sa.BigInteger(), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "last_active_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    op.create_index(
        "uq_conversations_user_thread",
        "conversations",
        ["user_id", "telegram_thread_id"],
        unique=True,
        postgresql_where=_THREAD_SET,
        sqlite_where=_THREAD_SET,
    )
    # Before the backfill: its lookups by user_id use this index.
    op.create_index(
        "ix_conversations_user_id_last_active_at", "conversations", ["user_id", "last_active_at"]
    )
    # Nullable columns: no table rebuild on SQLite (yet).
    op.add_column("users", sa.Column("current_conversation_id", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("conversation_id", sa.BigInteger(), nullable=True))

    op.execute(BACKFILL_CONVERSATIONS)
    op.execute(BACKFILL_MESSAGES)
    op.execute(BACKFILL_USERS)
    op.execute(MOVE_ROLES)
    op.execute(CLEAR_MOVED_ROLES)

    with op.batch_alter_table("messages") as batch:
        batch.alter_column("conversation_id", existing_type=sa.BigInteger(), nullable=False)
        batch.create_foreign_key(
            op.f("fk_messages_conversation_id_conversations"),
            "conversations",
            ["conversation_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_messages_conversation_id_seq", ["conversation_id", "seq"])
    if sqlite():
        restore_sqlite_fts()


def downgrade() -> None:
    """Every message stays, and the current conversation's own role becomes the user's
    role again; which conversation each message was in, the titles and the other
    conversations' roles are lost."""
    op.execute(RESTORE_ROLES)
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_conversation_id_seq")
        batch.drop_constraint(op.f("fk_messages_conversation_id_conversations"), type_="foreignkey")
        batch.drop_column("conversation_id")
    if sqlite():
        restore_sqlite_fts()
    with op.batch_alter_table("users") as batch:
        batch.drop_column("current_conversation_id")
    op.drop_index("ix_conversations_user_id_last_active_at", table_name="conversations")
    op.drop_index("uq_conversations_user_thread", table_name="conversations")
    op.drop_table("conversations")

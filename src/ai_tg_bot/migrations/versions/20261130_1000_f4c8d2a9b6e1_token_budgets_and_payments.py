"""token budgets and payments: tokens counted per day and model, limits, Stars credit.

Answers' tokens are counted in `token_usage` (per user, UTC day and model; ADR 0015),
which budgets read and which outlives the messages (/forget and the retention purge
refund no budget). `user_settings` gets daily and monthly token limits (NULL: the
default from Settings), `users` a credit of bought tokens (0 for everyone), and
`payments` records each Telegram Stars payment once.

`token_usage` is backfilled from the answers stored so far: one row per user, UTC day
and model (NULL as ''), summing every answer that has a token count, soft-deleted ones
too (their tokens were spent). Set-based, one statement.

SQLite: a CHECK constraint needs a table rebuild (batch mode) of `users` and
`user_settings`. `users` is the parent of every other table's foreign key; the rebuild
drops it and renames a copy in its place, which is safe only with foreign keys off
(env.py never turns them on; this migration checks): with them on, dropping `users`
would first delete its rows and cascade to every message. The copy keeps the ids, so
the references stay valid. `messages` is not rebuilt, so its FTS5 triggers stay.

Revision ID: f4c8d2a9b6e1
Revises: e3b9c1d7a5f2
Create Date: 2026-11-30 10:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f4c8d2a9b6e1"
down_revision: str | Sequence[str] | None = "e3b9c1d7a5f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The UTC day of a message: timestamptz on PostgreSQL; naive UTC text on SQLite.
_UTC_DAY = {
    "postgresql": "CAST(m.created_at AT TIME ZONE 'UTC' AS date)",
    "sqlite": "date(m.created_at)",
}
BACKFILL_TOKEN_USAGE = """
INSERT INTO token_usage (user_id, day, model, prompt_tokens, completion_tokens)
SELECT a.user_id, a.day, a.model, sum(a.prompt_tokens), sum(a.completion_tokens)
FROM (
    SELECT m.user_id,
           {day} AS day,
           coalesce(m.model, '') AS model,
           coalesce(m.prompt_tokens, 0) AS prompt_tokens,
           coalesce(m.completion_tokens, 0) AS completion_tokens
    FROM messages m
    WHERE m.role = 'assistant'
      AND (m.prompt_tokens IS NOT NULL OR m.completion_tokens IS NOT NULL)
) a
GROUP BY a.user_id, a.day, a.model
"""


def sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def require_sqlite_foreign_keys_off() -> None:
    """Refuse to rebuild `users` with SQLite's foreign keys on.

    Dropping a parent table with them on deletes its rows first, and ON DELETE CASCADE
    would take every message, conversation and setting with them. The pragma cannot be
    changed inside the migration's transaction, so stop instead.
    """
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "PRAGMA foreign_keys is ON: rebuilding the users table would cascade-delete "
            "its children; run the migration with foreign keys off (as alembic/env.py does)"
        )


def upgrade() -> None:
    if sqlite():
        require_sqlite_foreign_keys_off()
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_credit", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch.create_check_constraint(
            op.f("ck_users_token_credit_non_negative"), "token_credit >= 0"
        )
    with op.batch_alter_table("user_settings") as batch:
        batch.add_column(sa.Column("daily_token_limit", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("monthly_token_limit", sa.BigInteger(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_user_settings_daily_token_limit_non_negative"), "daily_token_limit >= 0"
        )
        batch.create_check_constraint(
            op.f("ck_user_settings_monthly_token_limit_non_negative"), "monthly_token_limit >= 0"
        )

    op.create_table(
        "token_usage",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "completion_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_token_usage_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", "model", name=op.f("pk_token_usage")),
    )
    op.create_table(
        "payments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_payment_charge_id", sa.String(length=255), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_tokens", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("stars > 0", name=op.f("ck_payments_stars_positive")),
        sa.CheckConstraint("tokens > 0", name=op.f("ck_payments_tokens_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_payments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "telegram_payment_charge_id", name=op.f("uq_payments_telegram_payment_charge_id")
        ),
    )
    op.create_index("ix_payments_user_id_created_at", "payments", ["user_id", "created_at"])

    dialect = op.get_bind().dialect.name
    op.execute(BACKFILL_TOKEN_USAGE.format(day=_UTC_DAY[dialect]))


def downgrade() -> None:
    """The token counts, limits, credit and payments are lost; the messages keep their
    own token counts."""
    op.drop_index("ix_payments_user_id_created_at", table_name="payments")
    op.drop_table("payments")
    op.drop_table("token_usage")
    with op.batch_alter_table("user_settings") as batch:
        batch.drop_constraint(
            op.f("ck_user_settings_monthly_token_limit_non_negative"), type_="check"
        )
        batch.drop_constraint(
            op.f("ck_user_settings_daily_token_limit_non_negative"), type_="check"
        )
        batch.drop_column("monthly_token_limit")
        batch.drop_column("daily_token_limit")
    if sqlite():
        require_sqlite_foreign_keys_off()
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_token_credit_non_negative"), type_="check")
        batch.drop_column("token_credit")

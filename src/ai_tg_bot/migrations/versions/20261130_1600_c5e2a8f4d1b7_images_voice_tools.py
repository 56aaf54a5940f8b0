"""images, voice replies and tools: three per-user settings.

`user_settings` gets `daily_image_limit` (images a UTC day; NULL: DAILY_IMAGE_LIMIT),
`voice_replies` (/voice on; NULL: off) and `allowed_tools` (the MCP tools the user may
use; NULL: MCP_TOOLS_FOR decides). Images made are counted as `usage_events` rows of
kind `image`, which needs no change.

SQLite: the CHECK constraint needs a rebuild (batch mode) of `user_settings`, which no
table refers to.

Revision ID: c5e2a8f4d1b7
Revises: b7d1e5a3c9f0
Create Date: 2026-11-30 16:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c5e2a8f4d1b7"
down_revision: str | Sequence[str] | None = "b7d1e5a3c9f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_settings") as batch:
        batch.add_column(sa.Column("daily_image_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("voice_replies", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column(
                "allowed_tools",
                sa.JSON(none_as_null=True).with_variant(
                    postgresql.JSONB(none_as_null=True), "postgresql"
                ),
                nullable=True,
            )
        )
        batch.create_check_constraint(
            op.f("ck_user_settings_daily_image_limit_non_negative"), "daily_image_limit >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("user_settings") as batch:
        batch.drop_constraint(
            op.f("ck_user_settings_daily_image_limit_non_negative"), type_="check"
        )
        batch.drop_column("allowed_tools")
        batch.drop_column("voice_replies")
        batch.drop_column("daily_image_limit")

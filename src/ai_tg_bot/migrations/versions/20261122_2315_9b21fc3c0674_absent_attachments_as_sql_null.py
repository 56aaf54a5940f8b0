"""Absent attachments as SQL NULL, not JSON 'null'.

Messages without attachments were stored with the JSON value null, which every history
read then decoded (measured: a few percent of a turn's CPU). The column now stores SQL
NULL for them (`none_as_null`); this turns the existing JSON nulls into SQL NULLs. Both
read back as None, so downgrading leaves the data as it is.

Revision ID: 9b21fc3c0674
Revises: 35313cf1db1b
Create Date: 2026-11-22 23:15:28.790814+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9b21fc3c0674"
down_revision: str | Sequence[str] | None = "35313cf1db1b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE messages SET attachments = NULL WHERE jsonb_typeof(attachments) = 'null'"
        )
    else:
        op.execute("UPDATE messages SET attachments = NULL WHERE attachments = 'null'")


def downgrade() -> None:
    """Nothing to undo: SQL NULL and JSON null both mean "no attachments" to the bot."""

"""The declarative base (with a naming convention, so constraint names are predictable),
the timestamp columns and the value sets the schema checks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Integer,
    MetaData,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ai_tg_bot.db.types import UTCDateTime, utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
MESSAGE_ROLES = ("system", "user", "assistant")
MESSAGE_STATUSES = ("pending", "answered", "failed")
DELETED_REASONS = ("trimmed", "reset", "role", "retry", "expired")
# What the user cleared themselves; search and export leave these out.
CLEARED_REASONS = ("reset", "role", "retry")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
AutoIncrementId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so constraint names are predictable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """`created_at` and `updated_at`, set by the application and defaulted by the server."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, onupdate=utc_now, server_default=func.now()
    )

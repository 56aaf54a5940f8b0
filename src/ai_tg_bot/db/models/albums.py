"""The parts of a media group (an album) waiting to be asked as one question (issue 31)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ai_tg_bot.db.models.base import AutoIncrementId, Base
from ai_tg_bot.db.types import UTCDateTime, utc_now


class AlbumPart(Base):
    """One part of a media group (an album) waiting for the rest: the parts become one
    question once none has arrived for a moment (bot.albums). Kept until then, so an
    album survives a restart in the middle."""

    __tablename__ = "album_parts"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    media_group_id: Mapped[str] = mapped_column(String(64), index=True)
    # Who sent it, and where (the question goes where the album was sent).
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    # The part as the bot read it: its kind, caption, attachment, and the update itself.
    details: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )

    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

"""What the model is told about a user across conversations (issue 31)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ai_tg_bot.db.models.base import AutoIncrementId, Base
from ai_tg_bot.db.types import UTCDateTime, utc_now


class MemoryFact(Base):
    """A short fact about a user the model is given in each of their private
    conversations (/remember, or the model's `remember` tool with MEMORY_TOOL)."""

    __tablename__ = "memory_facts"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    # "command" (/remember) or "tool" (the model's `remember` tool).
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now()
    )

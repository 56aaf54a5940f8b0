"""Database layer: the schema (models) and the engine with its transactions (database)."""

from ai_tg_bot.db.database import Database
from ai_tg_bot.db.models import Base, Message, User, UserSettings

__all__ = ["Base", "Database", "Message", "User", "UserSettings"]

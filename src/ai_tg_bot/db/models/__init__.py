"""The schema, every table: importing this package registers them all in `Base.metadata`
(Alembic's autogenerate and the migrations environment read it)."""

from ai_tg_bot.db.models.albums import AlbumPart
from ai_tg_bot.db.models.base import (
    CLEARED_REASONS,
    DELETED_REASONS,
    MESSAGE_ROLES,
    MESSAGE_STATUSES,
    NAMING_CONVENTION,
    AutoIncrementId,
    Base,
    TimestampMixin,
)
from ai_tg_bot.db.models.dialogue import Conversation, Message, User, UserSettings
from ai_tg_bot.db.models.ledger import Payment, TokenUsage, UsageEvent
from ai_tg_bot.db.models.memory import MemoryFact
from ai_tg_bot.db.models.subscriptions import SUBSCRIPTION_STATUSES, Subscription

__all__ = [
    "CLEARED_REASONS",
    "DELETED_REASONS",
    "MESSAGE_ROLES",
    "MESSAGE_STATUSES",
    "NAMING_CONVENTION",
    "SUBSCRIPTION_STATUSES",
    "AlbumPart",
    "AutoIncrementId",
    "Base",
    "Conversation",
    "MemoryFact",
    "Message",
    "Payment",
    "Subscription",
    "TimestampMixin",
    "TokenUsage",
    "UsageEvent",
    "User",
    "UserSettings",
]

"""Database layer: the engine and its transactions, SQLite's driver on the event loop,
the schema (models) and UTC time.
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.db.database import SQLITE_BUSY_TIMEOUT_MS as SQLITE_BUSY_TIMEOUT_MS
    from ai_tg_bot.db.database import Database as Database
    from ai_tg_bot.db.database import ensure_sqlite_directory as ensure_sqlite_directory
    from ai_tg_bot.db.direct import run as run
    from ai_tg_bot.db.models import AlbumPart as AlbumPart
    from ai_tg_bot.db.models import Base as Base
    from ai_tg_bot.db.models import Conversation as Conversation
    from ai_tg_bot.db.models import MemoryFact as MemoryFact
    from ai_tg_bot.db.models import Message as Message
    from ai_tg_bot.db.models import Payment as Payment
    from ai_tg_bot.db.models import Subscription as Subscription
    from ai_tg_bot.db.models import TokenUsage as TokenUsage
    from ai_tg_bot.db.models import UsageEvent as UsageEvent
    from ai_tg_bot.db.models import User as User
    from ai_tg_bot.db.models import UserSettings as UserSettings
    from ai_tg_bot.db.outages import STORAGE_ERRORS as STORAGE_ERRORS
    from ai_tg_bot.db.outages import database_hint as database_hint
    from ai_tg_bot.db.outages import is_outage as is_outage
    from ai_tg_bot.db.outages import ride_out as ride_out
    from ai_tg_bot.db.revision import stored_revisions as stored_revisions
    from ai_tg_bot.db.types import UTCDateTime as UTCDateTime
    from ai_tg_bot.db.types import utc_now as utc_now
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "stored_revisions": ".revision",
            "Base": ".models",
            "AlbumPart": ".models",
            "Conversation": ".models",
            "MemoryFact": ".models",
            "Database": ".database",
            "Message": ".models",
            "Payment": ".models",
            "Subscription": ".models",
            "SQLITE_BUSY_TIMEOUT_MS": ".database",
            "STORAGE_ERRORS": ".outages",
            "database_hint": ".outages",
            "is_outage": ".outages",
            "ride_out": ".outages",
            "run": ".direct",
            "TokenUsage": ".models",
            "UTCDateTime": ".types",
            "UsageEvent": ".models",
            "User": ".models",
            "UserSettings": ".models",
            "ensure_sqlite_directory": ".database",
            "utc_now": ".types",
        },
    )

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "STORAGE_ERRORS",
    "AlbumPart",
    "Base",
    "Conversation",
    "Database",
    "MemoryFact",
    "Message",
    "Payment",
    "Subscription",
    "TokenUsage",
    "UTCDateTime",
    "UsageEvent",
    "User",
    "UserSettings",
    "database_hint",
    "ensure_sqlite_directory",
    "is_outage",
    "ride_out",
    "run",
    "stored_revisions",
    "utc_now",
]

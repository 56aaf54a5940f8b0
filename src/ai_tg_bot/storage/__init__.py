"""Storage: every SQL statement of the bot. The dialogue (store.py: `Storage`), its turn queue
(turns.py), accounts (accounts.py), privacy, search; and, for the layers above, what
they need to know of the database: its outage errors and its clock."""

from ai_tg_bot.db.database import STORAGE_ERRORS, database_hint, is_outage, ride_out
from ai_tg_bot.db.types import utc_now
from ai_tg_bot.storage.records import (
    AskedElsewhereError,
    Context,
    DialogInfo,
    DuplicateMessageError,
    HistoryMessage,
    NewQuestion,
    Question,
    StoredMessage,
    TokenUsage,
    TurnHandoff,
    clean_text,
)
from ai_tg_bot.storage.store import Storage

__all__ = [
    "STORAGE_ERRORS",
    "AskedElsewhereError",
    "Context",
    "DialogInfo",
    "DuplicateMessageError",
    "HistoryMessage",
    "NewQuestion",
    "Question",
    "Storage",
    "StoredMessage",
    "TokenUsage",
    "TurnHandoff",
    "clean_text",
    "database_hint",
    "is_outage",
    "ride_out",
    "utc_now",
]

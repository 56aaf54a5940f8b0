"""Storage: the dialogue API over Database (dialogue.py), its turn queue (turns.py)."""

from ai_tg_bot.storage.base import insert_user, lock_user
from ai_tg_bot.storage.dialogue import Storage
from ai_tg_bot.storage.records import (
    AskedElsewhereError,
    Context,
    DialogInfo,
    DuplicateMessageError,
    HistoryMessage,
    Question,
    StoredMessage,
    TokenUsage,
    clean_text,
)

__all__ = [
    "AskedElsewhereError",
    "Context",
    "DialogInfo",
    "DuplicateMessageError",
    "HistoryMessage",
    "Question",
    "Storage",
    "StoredMessage",
    "TokenUsage",
    "clean_text",
    "insert_user",
    "lock_user",
]

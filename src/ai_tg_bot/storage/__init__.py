"""Storage: every SQL statement of the bot, in stores named for what they keep, each a
`StorageBase` with one short transaction per method: `DialogueStore` (questions, answers,
the turn queue, conversations; assembled from its parts), `AccountsStore`,
`PaymentsStore`, `SubscriptionsStore`, `OutputsStore`, `PrivacyStore`, `SearchStore`,
`AlbumsStore`, `UsageStore`. For the
layers above, also what they need to know of the database: its outage errors and its clock.
"""

from typing import TYPE_CHECKING

from ai_tg_bot.surface import lazy_surface

if TYPE_CHECKING:
    from ai_tg_bot.db import STORAGE_ERRORS as STORAGE_ERRORS
    from ai_tg_bot.db import database_hint as database_hint
    from ai_tg_bot.db import is_outage as is_outage
    from ai_tg_bot.db import ride_out as ride_out
    from ai_tg_bot.db import utc_now as utc_now
    from ai_tg_bot.storage.accounts import AccountsStore as AccountsStore
    from ai_tg_bot.storage.albums import AlbumsStore as AlbumsStore
    from ai_tg_bot.storage.albums import AlbumTake as AlbumTake
    from ai_tg_bot.storage.albums import StoredPart as StoredPart
    from ai_tg_bot.storage.answers import NewestAnswer as NewestAnswer
    from ai_tg_bot.storage.budgets import Spent as Spent
    from ai_tg_bot.storage.conversations import ConversationView as ConversationView
    from ai_tg_bot.storage.memory import FACT_MAX_CHARS as FACT_MAX_CHARS
    from ai_tg_bot.storage.memory import Fact as Fact
    from ai_tg_bot.storage.memory import MemoryStore as MemoryStore
    from ai_tg_bot.storage.memory import Remembered as Remembered
    from ai_tg_bot.storage.outputs import ImageMade as ImageMade
    from ai_tg_bot.storage.outputs import InlineAsk as InlineAsk
    from ai_tg_bot.storage.outputs import OutputsStore as OutputsStore
    from ai_tg_bot.storage.payments import PaymentRecord as PaymentRecord
    from ai_tg_bot.storage.payments import PaymentsStore as PaymentsStore
    from ai_tg_bot.storage.payments import Refund as Refund
    from ai_tg_bot.storage.placement import ConversationSummary as ConversationSummary
    from ai_tg_bot.storage.privacy import ExportBusyError as ExportBusyError
    from ai_tg_bot.storage.privacy import ExportedMessage as ExportedMessage
    from ai_tg_bot.storage.privacy import HistoryExport as HistoryExport
    from ai_tg_bot.storage.privacy import PrivacyStore as PrivacyStore
    from ai_tg_bot.storage.records import AskedElsewhereError as AskedElsewhereError
    from ai_tg_bot.storage.records import Attachment as Attachment
    from ai_tg_bot.storage.records import Context as Context
    from ai_tg_bot.storage.records import DialogInfo as DialogInfo
    from ai_tg_bot.storage.records import DuplicateMessageError as DuplicateMessageError
    from ai_tg_bot.storage.records import EmptyTextError as EmptyTextError
    from ai_tg_bot.storage.records import HistoryMessage as HistoryMessage
    from ai_tg_bot.storage.records import NewQuestion as NewQuestion
    from ai_tg_bot.storage.records import Question as Question
    from ai_tg_bot.storage.records import StoredMessage as StoredMessage
    from ai_tg_bot.storage.records import TokenUsage as TokenUsage
    from ai_tg_bot.storage.records import TurnHandoff as TurnHandoff
    from ai_tg_bot.storage.records import clean_text as clean_text
    from ai_tg_bot.storage.records import without_nul as without_nul
    from ai_tg_bot.storage.search import SearchPage as SearchPage
    from ai_tg_bot.storage.search import SearchStore as SearchStore
    from ai_tg_bot.storage.search import search_words as search_words
    from ai_tg_bot.storage.store import DialogueStore as DialogueStore
    from ai_tg_bot.storage.subscriptions import SubscriptionPeriod as SubscriptionPeriod
    from ai_tg_bot.storage.subscriptions import SubscriptionRecord as SubscriptionRecord
    from ai_tg_bot.storage.subscriptions import SubscriptionsStore as SubscriptionsStore
    from ai_tg_bot.storage.summaries import SummaryDue as SummaryDue
    from ai_tg_bot.storage.usage import ModelDay as ModelDay
    from ai_tg_bot.storage.usage import UsageStore as UsageStore
    from ai_tg_bot.storage.usage import UserOverview as UserOverview
else:
    __getattr__ = lazy_surface(
        __name__,
        {
            "AccountsStore": ".accounts",
            "AlbumTake": ".albums",
            "AlbumsStore": ".albums",
            "AskedElsewhereError": ".records",
            "Attachment": ".records",
            "Context": ".records",
            "ConversationSummary": ".placement",
            "ConversationView": ".conversations",
            "DialogInfo": ".records",
            "DuplicateMessageError": ".records",
            "EmptyTextError": ".records",
            "ExportBusyError": ".privacy",
            "ExportedMessage": ".privacy",
            "HistoryExport": ".privacy",
            "HistoryMessage": ".records",
            "FACT_MAX_CHARS": ".memory",
            "Fact": ".memory",
            "ImageMade": ".outputs",
            "InlineAsk": ".outputs",
            "MemoryStore": ".memory",
            "ModelDay": ".usage",
            "Remembered": ".memory",
            "SearchStore": ".search",
            "NewQuestion": ".records",
            "NewestAnswer": ".answers",
            "OutputsStore": ".outputs",
            "PaymentRecord": ".payments",
            "PaymentsStore": ".payments",
            "PrivacyStore": ".privacy",
            "Question": ".records",
            "Refund": ".payments",
            "STORAGE_ERRORS": "ai_tg_bot.db",
            "SearchPage": ".search",
            "Spent": ".budgets",
            "DialogueStore": ".store",
            "StoredMessage": ".records",
            "StoredPart": ".albums",
            "SubscriptionPeriod": ".subscriptions",
            "SubscriptionRecord": ".subscriptions",
            "SubscriptionsStore": ".subscriptions",
            "SummaryDue": ".summaries",
            "TokenUsage": ".records",
            "TurnHandoff": ".records",
            "UsageStore": ".usage",
            "UserOverview": ".usage",
            "clean_text": ".records",
            "database_hint": "ai_tg_bot.db",
            "is_outage": "ai_tg_bot.db",
            "ride_out": "ai_tg_bot.db",
            "search_words": ".search",
            "utc_now": "ai_tg_bot.db",
            "without_nul": ".records",
        },
    )

__all__ = [
    "FACT_MAX_CHARS",
    "STORAGE_ERRORS",
    "AccountsStore",
    "AlbumTake",
    "AlbumsStore",
    "AskedElsewhereError",
    "Attachment",
    "Context",
    "ConversationSummary",
    "ConversationView",
    "DialogInfo",
    "DialogueStore",
    "DuplicateMessageError",
    "EmptyTextError",
    "ExportBusyError",
    "ExportedMessage",
    "Fact",
    "HistoryExport",
    "HistoryMessage",
    "ImageMade",
    "InlineAsk",
    "MemoryStore",
    "ModelDay",
    "NewQuestion",
    "NewestAnswer",
    "OutputsStore",
    "PaymentRecord",
    "PaymentsStore",
    "PrivacyStore",
    "Question",
    "Refund",
    "Remembered",
    "SearchPage",
    "SearchStore",
    "Spent",
    "StoredMessage",
    "StoredPart",
    "SubscriptionPeriod",
    "SubscriptionRecord",
    "SubscriptionsStore",
    "SummaryDue",
    "TokenUsage",
    "TurnHandoff",
    "UsageStore",
    "UserOverview",
    "clean_text",
    "database_hint",
    "is_outage",
    "ride_out",
    "search_words",
    "utc_now",
    "without_nul",
]

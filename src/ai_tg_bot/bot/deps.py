"""What handlers are given: one typed object (`Deps`) in the Dispatcher's data.

A handler asks for `deps: Deps` and reads `deps.storage`, `deps.turns`, ...; a misspelt
dependency is a type error (mypy) instead of a keyword aiogram silently leaves out.
Per-update values (`user_id` from filters, `on_stored`, `redeliverable`) stay keywords.
`build_deps` wires every component from Settings (nothing connects yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot

from ai_tg_bot.bot.albums import AlbumCollector
from ai_tg_bot.bot.capabilities import Capabilities
from ai_tg_bot.bot.files import TelegramFiles
from ai_tg_bot.bot.group_admins import GroupAdmins
from ai_tg_bot.bot.money import MoneyDesk
from ai_tg_bot.bot.speaking import VoiceReplies, voice_replies
from ai_tg_bot.config import Settings
from ai_tg_bot.db import Database
from ai_tg_bot.llm import LLMClient
from ai_tg_bot.media import MediaPolicy
from ai_tg_bot.storage import (
    AccountsStore,
    AlbumsStore,
    DialogueStore,
    MemoryStore,
    OutputsStore,
    PaymentsStore,
    PrivacyStore,
    SearchStore,
    SubscriptionsStore,
)
from ai_tg_bot.turns import InlineAnswers, TurnService

if TYPE_CHECKING:  # mcp (about 0.8 s to import) only with MCP_SERVERS
    from ai_tg_bot.tools import MemoryTool, Toolbox


@dataclass(frozen=True, slots=True)
class Deps:
    """The components a handler may use, one process's worth."""

    settings: Settings
    storage: DialogueStore
    accounts: AccountsStore
    payments: PaymentsStore
    # Telegram Stars subscriptions (SUBSCRIPTION_PLANS: /subscribe).
    subscriptions: SubscriptionsStore
    privacy: PrivacyStore
    search: SearchStore
    outputs: OutputsStore
    # The user's memory facts (/remember, /memory).
    memory: MemoryStore
    llm: LLMClient
    turns: TurnService
    media: MediaPolicy
    # What the Bot API server and each chat accept (drafts, rich messages), learned.
    capabilities: Capabilities
    # Who may /reset and /role a group's conversation (getChatMember, cached).
    group_admins: GroupAdmins
    # Payments and refunds kept on disk until recorded (bot.money).
    money: MoneyDesk
    # The MCP tool servers (MCP_SERVERS), connected in the background; None: no tools.
    toolbox: Toolbox | None
    # Speaks answers for users who turned /voice on or auto (TTS_MODEL); None: no /voice.
    speaker: VoiceReplies | None
    # Albums being collected into one question each (bot.albums).
    albums: AlbumCollector
    # Inline mode's queries (`@bot question`): per user, the newest answered.
    inline: InlineAnswers


def build_deps(settings: Settings, database: Database, bot: Bot) -> Deps:
    """Every component, built from Settings around one database and one Bot."""
    storage = DialogueStore(database, settings)
    llm = LLMClient(settings)
    media = MediaPolicy.from_settings(settings)
    toolbox = None
    if settings.mcp_servers:
        from ai_tg_bot.tools import Toolbox

        toolbox = Toolbox.from_settings(settings)
    memory = MemoryStore(database, settings)
    turns = TurnService(
        storage,
        llm,
        media=media,
        # Photos and voice are fetched through the Bot API by whichever turn needs them.
        fetch_file=TelegramFiles(bot),
        lease_seconds=settings.turn_lease_seconds,
        title_model=settings.title_model,
        summary_model=settings.summary_model,
        toolbox=toolbox,
        memory=memory_tool(settings, memory),
    )
    outputs = OutputsStore(database, settings)
    payments = PaymentsStore(database, settings)
    return Deps(
        settings=settings,
        storage=storage,
        accounts=AccountsStore(database, settings),
        payments=payments,
        subscriptions=SubscriptionsStore(database, settings),
        privacy=PrivacyStore(database, settings),
        search=SearchStore(database, settings),
        outputs=outputs,
        memory=memory,
        llm=llm,
        turns=turns,
        media=media,
        capabilities=Capabilities(settings.rich_messages),
        group_admins=GroupAdmins(),
        money=MoneyDesk(payments, bot, settings.payments_spool),
        toolbox=toolbox,
        speaker=voice_replies(settings, llm, outputs),
        albums=AlbumCollector(AlbumsStore(database, settings)),
        inline=InlineAnswers(
            outputs,
            llm,
            debounce_seconds=settings.inline_debounce_ms / 1000,
            timeout_seconds=settings.llm_timeout_seconds,
        ),
    )


def memory_tool(settings: Settings, store: MemoryStore) -> MemoryTool | None:
    """The built-in `remember` tool, with MEMORY_TOOL=on; None otherwise."""
    if not settings.memory_tool:
        return None
    from ai_tg_bot.tools import MemoryTool

    rounds, deadline = settings.mcp_max_rounds, settings.mcp_deadline_seconds
    return MemoryTool(store, max_rounds=rounds, deadline_seconds=deadline)

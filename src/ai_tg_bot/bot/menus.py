"""The command menus, /help, /start's greeting and the bot's profile texts, in the user's
language: only what this bot's settings offer is listed (`Offered`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import BotCommand

from ai_tg_bot.config import Settings
from ai_tg_bot.i18n import N_, _
from ai_tg_bot.limits import LIMIT_NAMES

COMMANDS: list[tuple[str, str]] = [
    ("start", N_("Start and see what I can do")),
    ("help", N_("List the commands")),
    ("new", N_("Start a new conversation; this one is kept")),
    ("chats", N_("Your conversations: go back to one")),
    ("role", N_("Set this conversation's role: /role <text>, /role default")),
    ("reset", N_("Clear this conversation, keep its role")),
    ("status", N_("This conversation and your settings")),
    ("retry", N_("Answer your last message again")),
    ("stop", N_("Stop the answer being written")),
    ("model", N_("Show or switch your model: /model <name>")),
    ("limits", N_("Your limits and today's usage")),
    ("language", N_("Choose the language I speak: /language <code>")),
    ("search", N_("Find your messages: /search <words>")),
    ("remember", N_("Remember a fact about you: /remember <fact>")),
    ("memory", N_("What I remember about you: list, delete, on/off")),
    ("export", N_("Download your history (Markdown and JSON)")),
    ("forget", N_("Delete everything I store about you")),
]
# Listed only where their setting turns them on (IMAGE_MODEL, TTS_MODEL, MCP_SERVERS,
# WEBAPP_URL).
IMAGE_COMMAND = ("image", N_("Make a picture: /image <description>"))
VOICE_COMMAND = ("voice", N_("Also speak my answers: /voice on, /voice auto, /voice off"))
TOOLS_COMMAND = ("tools", N_("The tools I can use for you"))
APP_COMMAND = ("app", N_("Open the app: conversations, settings, usage"))
# The Mini App's menu button and /app's button (WEBAPP_URL).
APP_BUTTON = N_("App")
# Listed only where STARS_PACKS offers top-ups.
BUY_COMMAND = ("buy", N_("Buy tokens with Telegram Stars"))
# Listed only where SUBSCRIPTION_PLANS offers subscriptions.
SUBSCRIBE_COMMAND = ("subscribe", N_("Tokens every month for Telegram Stars"))
# Listed where either sells.
PAYMENT_COMMANDS: list[tuple[str, str]] = [
    ("paysupport", N_("Help with a payment")),
    ("terms", N_("Terms of sale")),
]
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("setlimit", N_("Set a user's limit: /setlimit <user_id> <{names}> <n>")),
    ("user", N_("A user's settings and usage: /user <user_id>")),
    ("stats", N_("Users, activity and tokens today")),
    ("block", N_("Block a user: /block <user_id>")),
    ("unblock", N_("Unblock a user: /unblock <user_id>")),
    ("refund", N_("Refund a Stars payment: /refund <charge_id>")),
]

# The bot's profile (setMyDescription: the empty chat; setMyShortDescription: its page).
DESCRIPTION = N_(
    "An AI assistant that remembers our conversation across restarts. Ask anything in "
    "text, send a photo or a document with a question, or a voice message. Your history "
    "is yours: /export it or /forget it at any time."
)
SHORT_DESCRIPTION = N_("An AI assistant that remembers our conversation.")


@dataclass(frozen=True, slots=True)
class Offered:
    """What this bot's settings turn on beyond chat: menus and /help list only that."""

    payments: bool = False
    subscriptions: bool = False
    images: bool = False
    voice: bool = False
    tools: bool = False
    app: bool = False

    @classmethod
    def by(cls, settings: Settings) -> Offered:
        """STARS_PACKS, SUBSCRIPTION_PLANS, IMAGE_MODEL, TTS_MODEL, MCP_SERVERS and
        WEBAPP_URL, each set or not."""
        return cls(
            payments=bool(settings.stars_packs),
            subscriptions=bool(settings.subscription_plans),
            images=settings.image_model is not None,
            voice=settings.tts_model is not None,
            tools=bool(settings.mcp_servers),
            app=settings.webapp_url is not None,
        )

    def commands(self) -> list[tuple[str, str]]:
        """Every command a user may send here, in menu order."""
        return (
            COMMANDS
            + ([IMAGE_COMMAND] if self.images else [])
            + ([VOICE_COMMAND] if self.voice else [])
            + ([TOOLS_COMMAND] if self.tools else [])
            + ([APP_COMMAND] if self.app else [])
            + ([BUY_COMMAND] if self.payments else [])
            + ([SUBSCRIBE_COMMAND] if self.subscriptions else [])
            + (PAYMENT_COMMANDS if self.payments or self.subscriptions else [])
        )


def bot_commands(offered: Offered = Offered(), *, admin: bool = False) -> list[BotCommand]:
    """The command menu in the current language: what is offered here (an admin's has
    their commands too)."""
    shown = offered.commands() + (ADMIN_COMMANDS if admin else [])
    names = "|".join(LIMIT_NAMES)
    return [
        BotCommand(command=name, description=_(text).format(names=names)) for name, text in shown
    ]


def help_text(offered: Offered = Offered()) -> str:
    """/help: every command offered here (images, voice, tools and top-ups when on)."""
    listing = "\n".join(f"/{name} — {_(text)}" for name, text in offered.commands())
    return (
        listing
        + "\n\n"
        + _(
            "Any other text is a message to the assistant, and so are photos and "
            "documents (PDF, DOCX, text, code; the caption is the question) and voice "
            "messages. I remember our conversations "
            "across restarts: /new starts another and keeps this one, /chats goes back. "
            "/role sets the role of the current conversation only; new conversations "
            "start with the default role. In a chat with topics, each topic is its own "
            "conversation."
        )
    )


def greeting(offered: Offered = Offered()) -> str:
    """/start: hello, and every command."""
    hello = _("Hello! I'm an AI assistant that remembers our conversation.")
    return hello + "\n\n" + help_text(offered)

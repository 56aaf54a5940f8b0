"""What the bot says: command descriptions and fixed replies, in one place."""

from __future__ import annotations

from aiogram.types import BotCommand

COMMANDS: list[tuple[str, str]] = [
    ("start", "Start and see what I can do"),
    ("help", "List the commands"),
    ("role", "Set my role (system prompt): /role <text>, /role default"),
    ("reset", "Forget our dialogue, keep the role"),
    ("status", "What I remember and your settings"),
    ("retry", "Answer your last message again"),
    ("model", "Show or switch your model: /model <name>"),
    ("limits", "Your limits and today's usage"),
    ("search", "Find your messages: /search <words>"),
]
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("setlimit", "Set a user's limit: /setlimit <user_id> <history|daily|context> <n>"),
    ("user", "A user's settings and usage: /user <user_id>"),
    ("stats", "Users, activity and tokens today"),
    ("block", "Block a user: /block <user_id>"),
    ("unblock", "Unblock a user: /unblock <user_id>"),
]
BOT_COMMANDS = [BotCommand(command=name, description=text) for name, text in COMMANDS]
ADMIN_BOT_COMMANDS = BOT_COMMANDS + [
    BotCommand(command=name, description=text) for name, text in ADMIN_COMMANDS
]

HELP = "\n".join(f"/{name} — {text}" for name, text in COMMANDS) + (
    "\n\nAny other text is a message to the assistant. I remember our dialogue "
    "across restarts; /reset starts a new one."
)
GREETING = "Hello! I'm an AI assistant that remembers our conversation.\n\n" + HELP
UNSUPPORTED = (
    "I understand text messages and commands (see /help). "
    "Stickers, voice messages, photos and files aren't supported yet."
)
UNKNOWN_COMMAND = "I don't know that command. /help lists the ones I understand."
EMPTY_MESSAGE = "That message has no text I can answer. Please send some text."
NOTHING_TO_RETRY = "There is nothing to retry yet: send me a message first."
STORAGE_DOWN = (
    "⚠️ My storage is temporarily unavailable, so I couldn't handle that. "
    "Please try again in a minute."
)
INTERNAL_ERROR = "⚠️ Something went wrong on my side. Please try again."
BLOCKED = "⛔ You have been blocked from using this bot."
ADMIN_ONLY = "⛔ This command is for the bot's administrators."
ROLE_TOO_LONG = (
    "That role is too long: {length:,} characters, the limit is {limit:,}. "
    "Your current role is unchanged."
)


def not_allowed(user_id: int) -> str:
    """The line for users outside ALLOWED_USER_IDS (with the id the operator needs)."""
    return (
        "⛔ This bot is private. Ask its operator for access "
        f"and give them your Telegram id: {user_id}."
    )


EDITED = (
    "✏️ I answer new messages only; editing one doesn't change our dialogue. "
    "Send the corrected text as a new message."
)

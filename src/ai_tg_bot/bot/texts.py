"""What the bot says: command descriptions and fixed replies, in one place."""

from __future__ import annotations

from aiogram.types import BotCommand

from ai_tg_bot.limits import LIMIT_NAMES, UserLimits

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
    ("export", "Download your history (Markdown and JSON)"),
    ("forget", "Delete everything I store about you"),
]
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("setlimit", f"Set a user's limit: /setlimit <user_id> <{'|'.join(LIMIT_NAMES)}> <n>"),
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
    "\n\nAny other text is a message to the assistant, and so are photos (with a "
    "question in the caption) and voice messages. I remember our dialogue "
    "across restarts; /reset starts a new one."
)
GREETING = "Hello! I'm an AI assistant that remembers our conversation.\n\n" + HELP
UNSUPPORTED = (
    "I understand text, photos, voice messages and commands (see /help). "
    "Stickers, files and other media aren't supported yet."
)
UNKNOWN_COMMAND = "I don't know that command. /help lists the ones I understand."
EMPTY_MESSAGE = "That message has no text I can answer. Please send some text."
RETRY_ELSEWHERE = (
    "Your last message was in another chat, so I won't answer it again here. "
    "Send /retry in that chat."
)
ANSWER_AT_LIMIT = (
    "✂️ The answer above reached the length limit and stops there. "
    "Ask me to continue if you need the rest."
)
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


def no_vision(model: str, vision_models: list[str]) -> str:
    """A photo for a model that cannot see images: which of the user's models can."""
    if vision_models:
        hint = "Switch to one that can with /model: " + ", ".join(vision_models) + "."
    else:
        hint = "None of the models here can, so please describe the picture in words."
    return f"🖼 Your model {model} can't see images, so I didn't send your photo. {hint}"


def _megabytes(limit_bytes: int) -> str:
    return f"{limit_bytes / (1024 * 1024):.3g} MB"


def image_too_large(limit_bytes: int) -> str:
    """A photo over MAX_IMAGE_BYTES."""
    return (
        f"🖼 That image is too large for me (the limit is {_megabytes(limit_bytes)}). "
        "Please send a smaller one."
    )


def voice_too_large(limit_bytes: int) -> str:
    """A voice message over MAX_VOICE_BYTES."""
    return (
        f"🎤 That voice message is too long for me (the limit is {_megabytes(limit_bytes)}). "
        "Please send a shorter one."
    )


TRANSCRIPTION_FAILED = (
    "⚠️ I couldn't transcribe your voice message. It is saved: send /retry to try again, "
    "or type your message."
)
NO_SPEECH = "🎤 I couldn't hear any words in that voice message."


def transcript(text: str) -> str:
    """What the user said in a voice message, shown before the answer."""
    return f"🎤 {text}"


# /export and /forget
EXPORT_RUNNING = "⏳ Your previous export is still being made; it will arrive in a moment."
NOTHING_TO_EXPORT = "There is nothing to export yet: your history is empty."
FORGET_CONFIRM = (
    "⚠️ This deletes what you told me, for good: every message (also those out of the "
    "context window), your role and your model choice. It cannot be undone. Only what "
    "holds none of your words stays: the limits the administrator set, and how many "
    "messages you sent today (so your daily limit still counts them). "
    "Use /export first if you want a copy.\n\nDelete everything?"
)
FORGET_CANCELLED = "Cancelled. Nothing was deleted."
FORGET_NOT_YOURS = "Only the person who asked can answer this."
FORGET_EXPIRED = "This confirmation has expired. Send /forget again if you still want it."


def forgotten(messages: int) -> str:
    """After /forget: what went."""
    return (
        f"🗑 Done: I deleted your messages ({messages:,} "
        f"message{'' if messages == 1 else 's'}), your role and your model choice. "
        "If you write again, we start from scratch."
    )


def export_too_large(what: str, size: int, limit: int) -> str:
    """An export file over Telegram's upload limit for bots."""
    return (
        f"Your history as {what} is {size / 2**20:.0f} MB, more than the {limit / 2**20:.0f} MB "
        "Telegram lets me send. Ask the bot's operator for a copy."
    )


# Answers with a user's own data, asked for in a group (see bot/private.py)
SENT_PRIVATELY = "📬 I've sent it to you in a private chat."


def open_private_chat(link: str) -> str:
    """Asked in a group, but the bot may not write to the user privately yet."""
    return (
        "🔒 That answer is private, and I can't write to you privately yet. "
        f"Open {link}, press Start, then send the command again."
    )


# Inline buttons
BUTTON_NOT_YOURS = "Only the person who asked can use these buttons."
BUTTON_EXPIRED = "This button has expired."
SEARCH_EXPIRED = "This search has expired; run /search again."


def amount(value: int, unit: str) -> str:
    """`0` means unlimited for daily and context limits."""
    return "unlimited" if value == 0 else f"{value:,} {unit}"


def render_limits(limits: UserLimits, messages_today: int) -> str:
    """The /limits text (also the core of an admin's /user)."""
    daily = limits.daily_message_limit
    today = f"{messages_today:,}" + (f" of {daily:,}" if daily else "")
    return "\n".join(
        [
            f"History kept: {limits.max_history_messages} messages",
            f"Messages per day: {amount(daily, 'messages')} (today: {today})",
            f"Context sent to the model: {amount(limits.max_context_chars, 'characters')}",
            f"Messages per minute: {amount(limits.rate_limit_per_minute, 'messages')}",
            f"Model: {limits.model}",
        ]
    )
